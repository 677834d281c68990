"""The training loop of one phase: batches → sharded steps → summaries → checkpoints → eval.

Resumes automatically from the latest complete checkpoint in `run_dir/checkpoints`
(parameters, optimizer state, step, RNG and the data position), so a preempted or
crashed phase continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable, Mapping

import gin
import jax
import numpy as np
import seqio
from flax import nnx
from tqdm import tqdm

from xstilts_jax.data.batches import BatchSpec, host_batches, to_global
from xstilts_jax.data.task_heads import get_task_head, head_id
from xstilts_jax.errors import ConfigError
from xstilts_jax.models.model import Model
from xstilts_jax.partitioning import MeshConfig, check_batch_divisible, get_rules, make_mesh
from xstilts_jax.training.checkpoints import Checkpointer
from xstilts_jax.training.optimizer import OptimizerConfig, learning_rate_schedule, make_optimizer
from xstilts_jax.training.summaries import SummaryWriter
from xstilts_jax.training.train_state import TrainState, init_train_state, split_model, train_state_shardings
from xstilts_jax.training.train_step import Heads, jit_train_step, make_train_step

EvalFn = Callable[[Model, int], Mapping[str, float]]


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training phase: what to read and how long to train."""

    task: str = ""  # a seqio task or mixture name
    steps: int = 1000
    batch_size: int = 32
    length: int | None = None  # default: the task's registered max_length
    pack: bool = False
    max_segments: int = 8
    accumulate_steps: int = 1
    save_every: int = 500
    keep: int = 2
    eval_every: int = 0  # 0: evaluate only at the end
    best_metric: str | None = None  # e.g. "eval/xnli.en/accuracy"
    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.task:
            raise ConfigError("TrainConfig.task is empty; bind it in gin (e.g. TrainConfig.task = 'mnli').")
        for field in ("steps", "batch_size", "save_every", "log_every", "accumulate_steps"):
            if getattr(self, field) < 1:
                raise ConfigError(f"TrainConfig.{field} must be >= 1, got {getattr(self, field)}.")


def heads_of(task: str) -> Heads:
    """The head a task trains, or head name → head_id when a mixture spans several heads."""
    provider = seqio.get_mixture_or_task(task)
    names = [t.name for t in provider.tasks] if isinstance(provider, seqio.Mixture) else [provider.name]
    heads = sorted({get_task_head(n).head for n in names})
    return heads[0] if len(heads) == 1 else {h: head_id(h) for h in heads}


def train(
    model: Model,
    run_dir: str | Path,
    config: TrainConfig,
    mesh_config: MeshConfig,
    optimizer_config: OptimizerConfig,
    evaluate: EvalFn | None = None,
) -> Model:
    """Train `model` for `config.steps` steps (resuming if the run directory has a checkpoint)."""
    run_dir = Path(run_dir)
    mesh, rules = make_mesh(mesh_config), get_rules(mesh_config.rules)
    check_batch_divisible(config.batch_size, mesh, rules)
    heads = heads_of(config.task)
    length = config.length or get_task_head(_first_task_name(config.task)).max_length or 256

    graphdef, params = split_model(model)
    schedule = learning_rate_schedule(optimizer_config, config.steps)
    optimizer = make_optimizer(optimizer_config, config.steps)
    state = init_train_state(params, optimizer, config.seed)
    shardings = train_state_shardings(model, jax.eval_shape(lambda: state), mesh, rules)
    abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)

    writer = SummaryWriter(run_dir / "tensorboard", enabled=jax.process_index() == 0)
    with Checkpointer(
        run_dir / "checkpoints", save_every=config.save_every, keep=config.keep, best_metric=config.best_metric
    ) as checkpointer:
        restored = checkpointer.restore_latest_or_none(abstract)
        if restored is None:
            state, position = jax.device_put(state, shardings), {"batches": 0}
        else:
            state, position = restored
            print(f"resumed {run_dir} at step {int(state.step)}")
        start = int(state.step)
        spec = BatchSpec(
            task=config.task, split="train", length=length, batch_size=config.batch_size,
            pack=config.pack, max_segments=config.max_segments, seed=config.seed,
        )  # fmt: skip
        batches = host_batches(spec, model.config.pad_id, model.config.position_offset, skip_batches=position["batches"])
        step_fn = None
        tokens, window_start = 0, time.perf_counter()
        with tqdm(total=config.steps, initial=start, desc=f"train {config.task}", unit="step", mininterval=1.0) as bar:
            for step in range(start, config.steps):
                batch = to_global(next(batches), mesh, rules)
                if step_fn is None:
                    step_fn = jit_train_step(
                        make_train_step(graphdef, optimizer, heads, mesh, rules, True, config.accumulate_steps, schedule),
                        shardings, batch, mesh, rules,
                    )  # fmt: skip
                state, metrics = step_fn(state, batch)
                position = {"batches": position["batches"] + 1}
                done = step + 1
                tokens += int(metrics["tokens"])
                if done % config.log_every == 0 or done == config.steps:
                    elapsed = time.perf_counter() - window_start
                    values = {f"train/{k}": float(np.asarray(v)) for k, v in metrics.items()}
                    values["train/tokens_per_s"] = tokens / max(elapsed, 1e-9)
                    writer.scalars(done, values)
                    bar.set_postfix(loss=f"{values['train/loss']:.4f}")
                    tokens, window_start = 0, time.perf_counter()
                eval_metrics = None
                if evaluate is not None and config.eval_every and done % config.eval_every == 0 and done < config.steps:
                    eval_metrics = dict(evaluate(_merge(graphdef, state), done))
                    writer.scalars(done, eval_metrics)
                checkpointer.save(done, state, position, metrics=eval_metrics)
                bar.update()
        final_metrics = dict(evaluate(_merge(graphdef, state), config.steps)) if evaluate is not None else None
        if final_metrics:
            writer.scalars(config.steps, final_metrics)
        checkpointer.save(config.steps, state, position, metrics=final_metrics, force=True)
        checkpointer.wait_until_finished()
    writer.close()
    return _merge(graphdef, state)


def _first_task_name(task: str) -> str:
    provider = seqio.get_mixture_or_task(task)
    return provider.tasks[0].name if isinstance(provider, seqio.Mixture) else provider.name


def _merge(graphdef: nnx.GraphDef, state: TrainState) -> Model:
    return nnx.merge(graphdef, state.params)
