"""The X-STILTs recipe as one run: (intermediate) → target → zero-shot evaluation.

Run directory (everything about a run lives under it):

    <root>/<model>/seed<k>/intermediate/<task>/     checkpoints/, tensorboard/, DONE
    <root>/<model>/seed<k>/<intermediate|baseline>/<target>/
        target/                                       checkpoints/, tensorboard/, DONE
        eval/                                         predictions/*.json, scores.json, DONE

A phase whose `DONE` marker exists is skipped, so a finished intermediate checkpoint is
reused by every target instead of retrained, and a rerun continues where it stopped. The
baseline goes down the same path minus the intermediate phase. Target heads always start
fresh: only the encoder is carried from one phase to the next.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Mapping, Sequence

import gin
import jax
import seqio
from flax import nnx

from xstilts_jax.data.task_heads import get_task_head
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.evaluator import evaluate_tasks
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.model import Model, build_model
from xstilts_jax.partitioning import MeshConfig, get_rules, make_mesh
from xstilts_jax.training.checkpoints import load_encoder_from
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.trainer import TrainConfig, heads_of, train

DONE = "DONE"


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Experiment:
    """One cell of the grid: a model, an optional intermediate task, a target, a seed."""

    root: str = "runs"
    pretrained: str | None = None  # a converted checkpoint directory; None = random init
    intermediate: str | None = None  # task or mixture; None = the baseline
    target_train: str = ""  # the target's English training task, e.g. 'mnli' for XNLI
    target: str = ""  # the target's name, e.g. 'xnli'
    eval_tasks: Sequence[str] = ()  # task or mixture names; mixtures expand to their tasks
    eval_batch_size: int = 32
    eval_length: int | None = None  # None: each task's default input length
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.target_train or not self.target:
            raise ConfigError("Experiment.target and Experiment.target_train must be set in gin.")

    def run_dir(self, model_name: str) -> Path:
        return Path(self.root) / model_name / f"seed{self.seed}"

    def intermediate_dir(self, model_name: str) -> Path | None:
        if self.intermediate is None:
            return None
        return self.run_dir(model_name) / "intermediate" / self.intermediate

    def target_dir(self, model_name: str) -> Path:
        return self.run_dir(model_name) / (self.intermediate or "baseline") / self.target


def phase_done(directory: Path) -> bool:
    """Whether a phase directory carries the DONE marker."""
    return (directory / DONE).is_file()


def mark_done(directory: Path, summary: Mapping[str, object]) -> None:
    """Write the DONE marker (atomically) with a short JSON summary."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (DONE + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True))
    tmp.replace(directory / DONE)


def expand_tasks(names: Sequence[str]) -> list[str]:
    """Task names, with mixtures expanded to their tasks (order kept, no duplicates)."""
    out: list[str] = []
    for name in names:
        provider = seqio.get_mixture_or_task(name)
        members = [t.name for t in provider.tasks] if isinstance(provider, seqio.Mixture) else [name]
        out += [m for m in members if m not in out]
    return out


def _model_for(config: EncoderConfig, task: str, seed: int, encoder_from: str | None) -> Model:
    """A model with the heads of `task`, its encoder loaded from `encoder_from` (heads fresh)."""
    heads = heads_of(task)
    names = [heads] if isinstance(heads, str) else list(heads)
    model = build_model(config, {h: _spec_of_head(task, h) for h in names}, seed=seed)
    if encoder_from is not None:
        encoder_only = build_model(config, {}, seed=seed)
        load_encoder_from(encoder_from, encoder_only)
        nnx.update(model.encoder, nnx.state(encoder_only.encoder))
    return model


def _spec_of_head(task: str, head: str):  # noqa: ANN202 - HeadSpec
    provider = seqio.get_mixture_or_task(task)
    tasks = [t.name for t in provider.tasks] if isinstance(provider, seqio.Mixture) else [task]
    for name in tasks:
        if get_task_head(name).head == head:
            return get_task_head(name).spec
    raise ConfigError(f"No task of {task!r} uses head {head!r}.")


def eval_split(task: str) -> str:
    """Dev when the task has it (XTREME's test labels are hidden), else test (e.g. XQuAD)."""
    splits = seqio.get_mixture_or_task(task).source.splits
    return "validation" if "validation" in splits else "test"


def run_experiment(
    experiment: Experiment,
    config: EncoderConfig,
    mesh_config: MeshConfig,
    *,
    intermediate_train: TrainConfig | None,
    target_train: TrainConfig,
    optimizer: OptimizerConfig,
) -> dict[str, dict[str, float]]:
    """Run every phase not yet DONE; returns the zero-shot scores per eval task."""
    name = config.name
    encoder_from = experiment.pretrained
    inter_dir = experiment.intermediate_dir(name)
    if inter_dir is not None:
        if intermediate_train is None:
            raise ConfigError(f"Experiment.intermediate={experiment.intermediate!r} but no intermediate TrainConfig.")
        if not phase_done(inter_dir):
            model = _model_for(config, intermediate_train.task, experiment.seed, encoder_from)
            train(model, inter_dir, intermediate_train, mesh_config, optimizer)
            mark_done(inter_dir, {"phase": "intermediate", "task": intermediate_train.task, "steps": intermediate_train.steps})
        encoder_from = str(inter_dir / "checkpoints")

    target_dir = experiment.target_dir(name)
    phase_dir = target_dir / "target"
    if not phase_done(phase_dir):
        model = _model_for(config, target_train.task, experiment.seed, encoder_from)
        train(model, phase_dir, target_train, mesh_config, optimizer)
        mark_done(phase_dir, {"phase": "target", "task": target_train.task, "steps": target_train.steps})

    eval_dir = target_dir / "eval"
    scores_path = eval_dir / "scores.json"
    if phase_done(eval_dir):
        return json.loads(scores_path.read_text())
    model = _model_for(config, target_train.task, experiment.seed, str(phase_dir / "checkpoints"))
    tasks = expand_tasks(experiment.eval_tasks)
    mesh, rules = make_mesh(mesh_config), get_rules(mesh_config.rules)
    scores: dict[str, dict[str, float]] = {}
    for task in tasks:
        split = eval_split(task)
        result = evaluate_tasks(
            _with_task_head(model, task), [task], split, batch_size=experiment.eval_batch_size, length=experiment.eval_length,
            mesh=mesh, rules=rules, predictions_dir=eval_dir / "predictions",
        )  # fmt: skip
        scores[task] = dict(result[task], split=split)  # type: ignore[arg-type]
    if jax.process_index() == 0:
        eval_dir.mkdir(parents=True, exist_ok=True)
        scores_path.write_text(json.dumps(scores, indent=2, sort_keys=True))
    mark_done(eval_dir, {"phase": "eval", "tasks": tasks})
    return scores


def _with_task_head(model: Model, task: str) -> Model:
    """The eval task must use a head the target model was trained with."""
    head = get_task_head(task).head
    if head not in model.heads:
        raise ConfigError(
            f"Eval task {task!r} uses head {head!r}, but the target model has heads {sorted(model.heads)}; "
            "zero-shot evaluation needs the eval tasks to share the target training task's head."
        )
    return model
