"""The training loop of one phase: batches → sharded steps → summaries → checkpoints → dev eval.

Resumes automatically from the latest complete checkpoint in `run_dir/checkpoints`
(parameters, optimizer state, step, RNG and the data position, with each host's data
iterator state: `data/iterator_state.py`), so a preempted or crashed phase continues where
it stopped without replaying its data. A mixture whose tasks have different batch
layouts is trained one layout group per step (`data/layouts.py`); the group of each step
is drawn from the seed and the step number, so a resumed run draws the same groups.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import gin
import jax
import numpy as np
from etils import epath
from flax import nnx

from xstilts_jax.data.batches import BatchSpec, count_examples, default_length, training_batches
from xstilts_jax.data.iterator_state import GroupBatches
from xstilts_jax.data.packing import FillMeter
from xstilts_jax.data.sampling import print_rate_table
from xstilts_jax.data.label_kinds import InputLengths
from xstilts_jax.data.layouts import LayoutGroup, layout_groups
from xstilts_jax.data.task_records import expand_tasks, get_task_record, head_id
from xstilts_jax.errors import ConfigError, DivergenceError, Preempted
from xstilts_jax.gin_utils import require_bound
from xstilts_jax.models.model import Model
from xstilts_jax.partitioning import MeshConfig, Partitioner
from xstilts_jax.progress import PhaseBar
from xstilts_jax.checkpoints.run import Checkpointer
from xstilts_jax.storage import as_path
from xstilts_jax.training.dev_eval import EvalFn, dev_evaluator
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.preemption import PreemptionWatch
from xstilts_jax.training.run_lock import RunLock
from xstilts_jax.training.step_builder import build_train_step
from xstilts_jax.training.summaries import SummaryWriter
from xstilts_jax.training.train_state import TrainState
from xstilts_jax.training.train_step import Heads


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training phase: what to read, how long to train, what to evaluate on the way.

    Length is `steps`, or `epochs` over the task's training examples when `steps` is None
    (`steps` wins when both are bound, so a command-line `--gin.TrainConfig.steps=` overrides
    a run file's epochs). `best_metric` (e.g. "eval/udpos.en/f1", or "eval/mean/accuracy" over
    several eval tasks) selects the checkpoint the next phase loads; without it the last is used.
    `batch_tokens` counts the global batch in tokens (pretraining: about 1M): it needs `length` and
    sets `batch_size = batch_tokens / length` (it wins over a bound `batch_size`, as `steps` over `epochs`).
    """

    task: str = ""  # a seqio task or mixture name
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 32
    batch_tokens: int | None = None
    length: int | None = None  # default: the task's own, else its label kind's in `input_lengths`
    pack: bool = False
    max_segments: int = 8
    accumulate_steps: int = 1
    save_every: int = 500
    keep: int = 2
    eval_tasks: Sequence[str] = ()  # dev evaluation during training (tasks or mixtures)
    eval_every: int = 0  # 0: evaluate only at the end
    eval_batch_size: int | None = None  # default: batch_size
    eval_length: int | None = None  # default: length
    best_metric: str | None = None
    best_mode: str = "max"
    log_every: int = 10
    seed: int = 0
    data_shards: int | None = None  # seqio shards per global batch; fixed, batches do not depend on the host count
    input_lengths: InputLengths = dataclasses.field(default_factory=InputLengths)  # gin `default_max_length.*`

    def __post_init__(self) -> None:
        require_bound(self.task, "TrainConfig.task (TASK in gin/runs/*.gin)", "--gin.TASK=\"'mnli'\"")
        if self.batch_tokens is not None:
            if self.length is None or self.batch_tokens % self.length or self.batch_tokens < self.length:
                raise ConfigError(
                    f"TrainConfig for {self.task!r}: batch_tokens={self.batch_tokens} must be a positive multiple of "
                    f"TrainConfig.length (bound: {self.length}); bind length, e.g. 512 with batch_tokens=1048576."
                )
            object.__setattr__(self, "batch_size", self.batch_tokens // self.length)  # frozen: derived once
        if self.steps is None and self.epochs is None:
            raise ConfigError(f"TrainConfig for {self.task!r}: bind TrainConfig.steps or TrainConfig.epochs in gin.")
        if self.epochs is not None and self.epochs <= 0:
            raise ConfigError(f"TrainConfig.epochs must be > 0, got {self.epochs}.")
        for field in ("batch_size", "save_every", "log_every", "accumulate_steps", "keep"):
            if getattr(self, field) < 1:
                raise ConfigError(f"TrainConfig.{field} must be >= 1, got {getattr(self, field)}.")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"TrainConfig.steps must be >= 1, got {self.steps}.")
        if self.best_metric is not None and not self.eval_tasks:
            raise ConfigError(
                f"TrainConfig.best_metric={self.best_metric!r} needs TrainConfig.eval_tasks to produce it."
            )


@dataclasses.dataclass(frozen=True)
class PhaseResult:
    """What a finished phase hands to the next one and to the end-of-phase table."""

    model: Model
    steps: int
    train_loss: float | None
    eval_metrics: Mapping[str, float]
    best_step: int | None
    checkpoint: str  # the step directory the next phase loads (the best, else the last)
    seconds: float


def resolve_steps(config: TrainConfig, length: int) -> int:
    """`config.steps`, or `epochs` × training examples at input `length` / batch size (rounded up)."""
    if config.steps is not None:
        return config.steps
    examples = count_examples(config.task, "train", length)
    return max(1, math.ceil(config.epochs * examples / config.batch_size))  # type: ignore[operator]


def heads_of(task: str) -> Heads:
    """The head a task trains, or head name → head_id when a mixture spans several heads."""
    heads = sorted({get_task_record(n).head for n in expand_tasks([task])})
    return heads[0] if len(heads) == 1 else {h: head_id(h) for h in heads}


def _group_of_step(groups: Sequence[LayoutGroup], seed: int, step: int) -> int:
    """Which layout group trains at `step`: a draw from (seed, step), the same on every host and after a resume."""
    if len(groups) == 1:
        return 0
    weights = np.array([g.weight for g in groups])
    return int(np.random.default_rng([seed, step]).choice(len(groups), p=weights / weights.sum()))


def _check_finite(values: Mapping[str, float], step: int, checkpointer: Checkpointer) -> None:
    bad = {k: v for k, v in values.items() if k in ("train/loss", "train/grad_norm") and not math.isfinite(v)}
    if bad:
        kept = checkpointer.latest_step()
        raise DivergenceError(
            f"training diverged at step {step} ({', '.join(f'{k}={v}' for k, v in bad.items())}); nothing was saved "
            f"after it; the last good checkpoint is step {kept} in {checkpointer.directory}. Lower the learning rate, "
            "raise warmup or clip gradients, then rerun (it resumes from that checkpoint)."
        )


def train(
    model: Model,
    run_dir: str | Path,
    config: TrainConfig,
    mesh_config: MeshConfig,
    optimizer_config: OptimizerConfig,
    evaluate: EvalFn | None = None,
) -> PhaseResult:
    """Train `model` (resuming if the run directory has a checkpoint); dev-evaluate with `evaluate`,
    or with `config.eval_tasks` when `evaluate` is None.

    `model`'s parameters become the train state (donated when they are already on the mesh, freed
    when a checkpoint is resumed): use `PhaseResult.model` afterwards. Build it with `build_sharded_model` (`model_init.py`) so a
    large model is created on the mesh; on one host a model built whole is moved there first.

    The run directory is locked while training (`run_lock.py`). A preemption notice (SIGTERM to any host) saves every host's state at one agreed step and
    raises `Preempted` once the save is on disk; rerunning resumes from that step.
    """
    started = time.perf_counter()
    run_dir = epath.Path(run_dir)  # a local directory or gs://
    run_dir.mkdir(parents=True, exist_ok=True)  # an unwritable path fails here, naming it, before any work
    partitioner = Partitioner.from_config(mesh_config)
    partitioner.check_batch_divisible(config.batch_size, config.accumulate_steps)
    if evaluate is None:
        eval_batch_size, eval_length = config.eval_batch_size or config.batch_size, config.eval_length or config.length
        evaluate = dev_evaluator(
            config.eval_tasks, eval_batch_size, eval_length, partitioner, config.input_lengths
        )
    length = config.length or default_length(config.task, config.input_lengths)
    steps = resolve_steps(config, length)
    groups = layout_groups(config.task)
    print_rate_table(config.task)  # a mixture's sampling rates (language sampling), at the phase's start

    train_step = build_train_step(
        model, optimizer_config, partitioner, steps, seed=config.seed, accumulate_steps=config.accumulate_steps
    )
    graphdef = train_step.graphdef

    writer = SummaryWriter(run_dir / "tensorboard", enabled=jax.process_index() == 0)
    train_loss: float | None = None
    eval_metrics: dict[str, float] = {}
    preempted_at: int | None = None
    with RunLock(run_dir), PreemptionWatch() as preemption, Checkpointer(
        str(run_dir / "checkpoints"), save_every=config.save_every, keep=config.keep,
        best_metric=config.best_metric, best_mode=config.best_mode,  # type: ignore[arg-type]
    ) as checkpointer:
        restored = checkpointer.restore_latest_or_none(train_step.abstract_state)
        if restored is None:
            state, position = train_step.init_state(), {g.name: 0 for g in groups}
        else:
            state, position = restored
            _free(train_step.params)
        start = int(state.step)

        def open_group(name: str):
            spec = BatchSpec(
                task=name, split="train", length=length, batch_size=config.batch_size, pack=config.pack,
                max_segments=config.max_segments, seed=config.seed, data_shards=config.data_shards,
            )
            return training_batches(spec, model.config.pad_id, model.config.position_offset)

        data = GroupBatches(open_group, position)
        if restored is not None:
            data.resume(checkpointer.data_iterators(start), start)
            print(f"resumed {run_dir} at step {start}")
        streams: dict[str, Iterator[dict[str, np.ndarray]]] = {}
        step_fns: dict[str, Any] = {}

        def next_batch(group: LayoutGroup) -> dict[str, Any]:
            if group.name not in streams:
                streams[group.name] = fill.watch(data.batches(group.name))
            return partitioner.to_global(next(streams[group.name]))

        tokens, window_start, fill = 0, time.perf_counter(), FillMeter(model.config.pad_id)
        with PhaseBar(total=steps, initial=start, desc=f"train {config.task}", unit="step") as bar:
            for step in range(start, steps):
                group = groups[_group_of_step(groups, config.seed, step)]
                batch = next_batch(group)
                if group.name not in step_fns:
                    step_fns[group.name] = train_step.jit(heads_of(group.name))
                state, metrics = step_fns[group.name](state, batch)
                done = step + 1
                tokens += int(metrics["tokens"])
                will_save = done % config.save_every == 0 or done == steps
                if done % config.log_every == 0 or will_save:
                    elapsed = time.perf_counter() - window_start
                    values = {f"train/{k}": float(np.asarray(v)) for k, v in metrics.items()}
                    _check_finite(values, done, checkpointer)
                    values["train/tokens_per_s"] = tokens / max(elapsed, 1e-9)
                    values["train/fill"] = fill.take()  # share of real tokens in this host's batches
                    writer.scalars(done, values)
                    train_loss = values["train/loss"]
                    bar.set_postfix(loss=f"{train_loss:.4f}")
                    tokens, window_start = 0, time.perf_counter()
                if done < steps and preemption.reached(done):  # every host, every step: the sync protocol counts them
                    checkpointer.save(done, state, data.position(), force=True, data_iterators=data.save)
                    preempted_at = done
                    break
                step_eval = None
                if evaluate is not None and (done == steps or (config.eval_every and done % config.eval_every == 0)):
                    step_eval = dict(evaluate(_merge(graphdef, state), done))
                    writer.scalars(done, step_eval)
                    eval_metrics = step_eval
                # an evaluated step is always saved, so the best checkpoint by best_metric is kept on disk
                checkpointer.save(
                    done, state, data.position(), metrics=step_eval, force=step_eval is not None or done == steps,
                    data_iterators=data.save,
                )
                bar.update()
        if start >= steps and checkpointer.latest_step() is not None:
            stored = checkpointer.metrics(checkpointer.latest_step())
            eval_metrics = dict(stored or {})
        checkpointer.wait_until_finished()
        if preempted_at is not None:
            writer.close()
            raise Preempted(preempted_at, str(as_path(checkpointer.directory) / str(preempted_at)))
        best = checkpointer.best_step()
        chosen = best if best is not None else checkpointer.latest_step()
        checkpoint = str(as_path(checkpointer.directory) / str(chosen))
    writer.close()
    return PhaseResult(
        model=_merge(graphdef, state), steps=steps, train_loss=train_loss, eval_metrics=eval_metrics, best_step=best,
        checkpoint=checkpoint, seconds=time.perf_counter() - started,
    )


def _free(params: dict[str, Any]) -> None:
    """Release the model's initial parameters when a checkpoint replaces them (resume)."""
    for x in jax.tree.leaves(params):
        if isinstance(x, jax.Array) and not x.is_deleted():
            x.delete()


def _merge(graphdef: nnx.GraphDef, state: TrainState) -> Model:
    return nnx.merge(graphdef, state.params)
