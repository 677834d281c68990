"""The X-STILTs recipe as one run: (MLM) → (intermediate) → (target) → zero-shot evaluation.

Run directory (everything about a run lives under it):

    <root>/<model>/mlm/<task>/                        export/, tensorboard/, DONE (one per model size)
    <root>/<model>/seed<k>/intermediate/<task>/       export/, tensorboard/, DONE
    <root>/<model>/seed<k>/<intermediate|baseline>/<target>/
        target/                                       export/, tensorboard/, DONE
        eval/                                         predictions/*.json, scores.json, DONE

A phase whose `DONE` marker exists is skipped (after checking that the settings it recorded
equal the current ones; a difference is refused), so a finished MLM or intermediate checkpoint
is reused by every later run instead of retrained, and a rerun continues where it stopped. The MLM
phase (pretraining or continued pretraining) belongs to the model size, not to a seed: one encoder
per size, trained with the pretraining recipe (`mlm/TrainConfig`, `mlm/OptimizerConfig`,
`gin/runs/pretrain.gin`) and its own seed, is shared by every seed and intermediate task, which vary
fine-tuning only.
A training phase keeps its train state in `checkpoints/` while it runs. When it finishes, the
parameters of the step it hands on (the best by the phase's `best_metric`, else the last) are
written to `export/`, a params-only converted checkpoint (`checkpoints/export.py`), then `DONE`
names both; the next phase and the evaluation load the export. Once `DONE` is written, `checkpoints/`
(parameters and optimizer state of every kept step) is deleted unless `Experiment.keep_train_state`;
the export's size and the space freed are printed. A phase finished before exports existed (DONE
without one) hands on its train-state checkpoint, as it did, and keeps it.
The baseline goes down the same path minus the intermediate phase; a target
without training (retrieval: BUCC, Tatoeba) evaluates the previous phase's encoder directly.
Only the encoder is carried from one phase to the next; heads start fresh.

The target's record (`experiments/targets.py`) fills in what gin leaves unbound: the English
training task and the eval tasks of `Experiment`, and the target phase's recipe
(`target_phase_defaults`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any, Mapping, Sequence

import gin
import jax
from etils.epath import Path

from xstilts_jax.data.task_records import expand_tasks, get_task_record
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.evaluator import evaluate_and_write
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.experiments.tables import format_bytes, format_phase, format_scores
from xstilts_jax.experiments.targets import find_target, get_target, system_name
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.heads import EmbeddingRepresentation, HeadSpec, with_representation
from xstilts_jax.models.model import Model
from xstilts_jax.partitioning import MeshConfig, Partitioner
from xstilts_jax.checkpoints.export import export_params, stored_bytes
from xstilts_jax.checkpoints.run import load_encoder_from
from xstilts_jax.training.model_init import build_sharded_model
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.storage import as_path, write_text_atomic
from xstilts_jax.training.run_lock import RunLock
from xstilts_jax.training.trainer import TrainConfig, heads_of, train

DONE = "DONE"
EXPORT = "export"  # a training phase's params-only export, what the next phase loads


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Experiment:
    """One cell of the grid: a model, optional MLM and intermediate phases, a target, a seed.

    `target_train` and `eval_tasks` default to the target's record (its English training task,
    or none for targets scored without one, and its eval task in every language); an unregistered
    target name needs both bound.
    """

    root: str = "runs"  # a local directory or gs://bucket/...
    pretrained: str | None = None  # a converted checkpoint directory; None = random init
    mlm: str | None = None  # an MLM task trained first (e.g. 'mlm'); None = no MLM phase
    intermediate: str | None = None  # task or mixture; None = the baseline
    target: str = ""  # the target's name, e.g. 'xnli' (names the run directory and results)
    target_train: str | None = None  # the target's English training task; None = the target record's
    eval_tasks: Sequence[str] = ()  # task or mixture names (mixtures expand to their tasks); () = the record's
    eval_batch_size: int = 32
    eval_length: int | None = None  # None: each task's default input length
    eval_per_device_batch_size: int | None = None  # set: the eval batch is this × the mesh's batch shards
    seed: int = 0
    keep_train_state: bool = False  # keep a finished phase's checkpoints/ (optimizer state) beside its export

    def __post_init__(self) -> None:
        if not self.target:
            raise ConfigError("Experiment.target must be set in gin (e.g. Experiment.target = 'xnli').")
        record = find_target(self.target) if self.target_train is None or not self.eval_tasks else None
        if record is None:
            if not self.eval_tasks:
                get_target(self.target)  # unregistered: raises, naming the known targets
            return
        # frozen: fill in the record's values once, as if gin had bound them
        if self.target_train is None:
            object.__setattr__(self, "target_train", record.train_task)
        if not self.eval_tasks:
            object.__setattr__(self, "eval_tasks", tuple(record.eval_tasks.values()))

    def run_dir(self, model_name: str) -> Path:
        return Path(self.root) / model_name / f"seed{self.seed}"  # epath: gs:// stays a bucket path

    def mlm_dir(self, model_name: str) -> Path | None:
        """The model size's MLM phase, shared by every seed and intermediate task."""
        return None if self.mlm is None else Path(self.root) / model_name / "mlm" / self.mlm

    def intermediate_dir(self, model_name: str) -> Path | None:
        if self.intermediate is None:
            return None
        return self.run_dir(model_name) / "intermediate" / self.intermediate

    def target_dir(self, model_name: str) -> Path:
        return self.run_dir(model_name) / system_name(self.intermediate) / self.target

    def phase_dirs(self, model_name: str) -> dict[str, Path]:
        """Every phase directory of this cell by phase name, in the order they run."""
        target = self.target_dir(model_name)
        dirs = {
            "mlm": self.mlm_dir(model_name),
            "intermediate": self.intermediate_dir(model_name),
            "target": target / "target" if self.target_train else None,
            "eval": target / "eval",
        }
        return {phase: d for phase, d in dirs.items() if d is not None}


def phase_done(directory: Path) -> bool:
    """Whether a phase directory carries the DONE marker."""
    return (directory / DONE).is_file()


def phase_summary(directory: Path) -> dict[str, Any]:
    """The JSON summary a finished phase wrote into its DONE marker."""
    return json.loads((directory / DONE).read_text())


def phase_settings(**parts: object) -> dict[str, Any]:
    """What decides a phase's result (dataclasses as dicts, in JSON form), as its DONE marker records it."""
    plain = {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in parts.items()}  # type: ignore[arg-type]
    return json.loads(json.dumps(plain, sort_keys=True, default=str))


def _flat_settings(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_flat_settings(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def check_settings(directory: Path, settings: Mapping[str, Any]) -> None:
    """A ConfigError when `directory` is a finished phase (DONE) whose recorded settings differ from
    `settings`: a rerun must not report done for a configuration that was never trained."""
    if not phase_done(directory):
        return
    summary = phase_summary(directory)
    stored = summary.get("settings")
    if stored is None:  # a DONE written before settings were recorded
        return
    old, new = _flat_settings(stored), _flat_settings(dict(settings))
    changed = [f"{k}: {old.get(k, '(unset)')!r} -> {new.get(k, '(unset)')!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    if changed:
        shown = "; ".join(changed[:4]) + (f"; and {len(changed) - 4} more" if len(changed) > 4 else "")
        resume = "continue its checkpoints with the new settings"
        if "export" in summary and not _train_state_dir(directory, summary).exists():
            resume = "train it again from the start (its train state was removed after the export)"
        raise ConfigError(
            f"{directory} already finished with other settings ({shown}); nothing was run or written. To rerun on "
            f"purpose, use a new directory (or delete {directory}), or delete {directory / DONE} to {resume}."
        )


def mark_done(directory: Path, summary: Mapping[str, object]) -> None:
    """Write the DONE marker (atomically, first host only) with a short JSON summary."""
    if jax.process_index() != 0:
        return
    write_text_atomic(directory / DONE, json.dumps(summary, indent=2, sort_keys=True))


def target_phase_defaults(target: str) -> dict[str, Any]:
    """The target phase's `TrainConfig` values from the target's record: epochs, batch size,
    input length, dev tasks and best metric (those it sets; {} for an unregistered target)."""
    record = find_target(target)
    if record is None:
        return {}
    recipe = record.recipe
    values = {
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "length": recipe.length,
        "eval_tasks": record.dev_tasks,
        "best_metric": record.best_metric,
    }
    return {field: value for field, value in values.items() if value not in (None, ())}


def _head_spec(task: str, head: str) -> HeadSpec:
    for name in expand_tasks([task]):
        if get_task_record(name).head == head:
            return get_task_record(name).spec
    raise ConfigError(f"No task of {task!r} uses head {head!r}.")


def model_for(
    config: EncoderConfig,
    tasks: Sequence[str],
    seed: int,
    load_from: str | None,
    mesh_config: MeshConfig,
    representation: EmbeddingRepresentation | None = None,
    require_heads: bool = False,
) -> Model:
    """A model with the heads of `tasks` (`embedding` heads overridden by `representation`, if given), created
    sharded on `mesh_config`'s mesh and loaded from `load_from` (the encoder, and heads it also has; with
    `require_heads`, every head with parameters) into those shardings."""
    specs: dict[str, HeadSpec] = {}
    for task in tasks:
        heads = heads_of(task)
        for head in [heads] if isinstance(heads, str) else list(heads):
            specs[head] = _head_spec(task, head)
    if representation is not None:
        specs = with_representation(specs, representation)
    model = build_sharded_model(config, specs, seed, Partitioner.from_config(mesh_config))
    if load_from is not None:
        load_encoder_from(load_from, model, require_heads=require_heads)
    return model


def _train_phase(
    phase: str, directory: Path, config: EncoderConfig, train_config: TrainConfig, load_from: str | None,
    seed: int, mesh_config: MeshConfig, optimizer: OptimizerConfig, keep_train_state: bool,
) -> str:
    """Run one training phase unless DONE with the same settings; returns what the next phase loads (its export).

    Order, so that a crash at any point leaves a state a rerun completes: train (resumes from
    `checkpoints/`), export the chosen step (`export/`, `config.json` last), write DONE, then delete
    `checkpoints/` (a rerun of a DONE phase finishes an interrupted delete)."""
    settings = phase_settings(model=config, train=train_config, optimizer=optimizer, load_from=load_from, seed=seed)
    check_settings(directory, settings)
    if phase_done(directory):
        summary = phase_summary(directory)
        if "export" not in summary:
            print(f"note: {directory} was finished without a params-only export; the next phase loads its train-state "
                  f"checkpoint {summary['checkpoint']}, which is kept", file=sys.stderr)
            return str(summary["checkpoint"])
        if not keep_train_state:
            _remove_train_state(directory, summary)  # finishes a delete that a crash interrupted
        return str(summary["export"])
    model = model_for(config, [train_config.task], seed, load_from, mesh_config)
    result = train(model, directory, train_config, mesh_config, optimizer)
    trained = result.model
    if result.best_step not in (None, result.steps):  # the model holds the last step; hand on the best
        trained = load_encoder_from(result.checkpoint, trained, require_heads=True)
    export = as_path(directory) / EXPORT
    with RunLock(directory):  # as while training: a second run into this phase stops instead of racing the export
        export_params(export, trained, source=result.checkpoint)
        summary = {
            "phase": phase, "task": train_config.task, "steps": result.steps, "train_loss": result.train_loss,
            "eval": dict(result.eval_metrics), "best_step": result.best_step, "checkpoint": result.checkpoint,
            "export": str(export), "export_bytes": stored_bytes(export), "seconds": round(result.seconds, 1),
            "settings": settings,
        }
        mark_done(directory, summary)
    print(format_phase(summary))
    if keep_train_state:
        train_state = _train_state_dir(directory, summary)
        print(f"   train state kept (Experiment.keep_train_state): {train_state}, {format_bytes(stored_bytes(train_state))}")
    else:
        _remove_train_state(directory, summary)
    return str(export)


def _train_state_dir(directory: Path, summary: Mapping[str, Any]) -> Path:
    """The phase's train-state checkpoints (`<phase>/checkpoints`, the trainer's Checkpointer directory)."""
    train_state = as_path(summary["checkpoint"]).parent
    if train_state.parent != as_path(directory):
        raise ConfigError(f"{directory / DONE} names the checkpoint {summary['checkpoint']}, outside the phase directory.")
    return train_state


def _remove_train_state(directory: Path, summary: Mapping[str, Any]) -> None:
    """Delete a DONE phase's train state (parameters and optimizer state of every kept step; first host
    only), printing the space freed; nothing when it is already gone."""
    train_state = _train_state_dir(directory, summary)
    if jax.process_index() != 0 or not train_state.exists():
        return
    size = stored_bytes(train_state)
    try:
        train_state.rmtree()
    except FileNotFoundError:  # another process deleted it at the same time
        pass
    print(f"   removed the train state {train_state} (optimizer state and every kept step): {format_bytes(size)} freed")


def run_experiment(
    experiment: Experiment,
    config: EncoderConfig,
    mesh_config: MeshConfig,
    *,
    optimizer: OptimizerConfig,
    mlm_optimizer: OptimizerConfig | None = None,
    mlm_train: TrainConfig | None = None,
    intermediate_train: TrainConfig | None = None,
    target_train: TrainConfig | None = None,
) -> dict[str, dict[str, Any]]:
    """Run every phase not yet DONE; returns the zero-shot scores per eval task (with their split).

    `optimizer` trains the intermediate and target phases with the experiment's seed; the MLM phase
    trains with `mlm_optimizer` and its TrainConfig's seed (it is shared by every seed)."""
    name, seed = config.name, experiment.seed
    for phase, wanted, given in (
        ("mlm", experiment.mlm, mlm_train),
        ("intermediate", experiment.intermediate, intermediate_train),
        ("target", experiment.target_train, target_train),
    ):
        if wanted is not None and given is None:
            raise ConfigError(f"Experiment.{phase if phase != 'target' else 'target_train'}={wanted!r} but no {phase} TrainConfig.")
    if experiment.mlm is not None and mlm_optimizer is None:
        raise ConfigError(
            f"Experiment.mlm={experiment.mlm!r} needs the pretraining optimizer (mlm/OptimizerConfig): include "
            "gin/runs/pretrain.gin, or pass mlm_optimizer."
        )
    load_from = experiment.pretrained
    for phase, directory, train_config, phase_optimizer in (
        ("mlm", experiment.mlm_dir(name), mlm_train, mlm_optimizer),
        ("intermediate", experiment.intermediate_dir(name), intermediate_train, optimizer),
        ("target", experiment.target_dir(name) / "target" if experiment.target_train else None, target_train, optimizer),
    ):
        if directory is not None and train_config is not None and phase_optimizer is not None:
            phase_seed = train_config.seed if phase == "mlm" else seed
            load_from = _train_phase(
                phase, directory, config, train_config, load_from, phase_seed, mesh_config, phase_optimizer,
                experiment.keep_train_state,
            )

    eval_dir = experiment.target_dir(name) / "eval"
    scores_path = eval_dir / "scores.json"
    tasks = expand_tasks(experiment.eval_tasks)
    settings = EvalSettings(
        experiment.eval_batch_size, experiment.eval_length, Partitioner.from_config(mesh_config),
        per_device_batch_size=experiment.eval_per_device_batch_size,
    )
    eval_settings = phase_settings(
        model=config, tasks=tasks, batch_size=experiment.eval_batch_size, length=experiment.eval_length,
        representation=settings.representation, checkpoint=load_from,
    )
    check_settings(eval_dir, eval_settings)
    if phase_done(eval_dir):
        stored = json.loads(scores_path.read_text())
        return {task: stored[task] for task in tasks if task in stored}  # in eval-task order, as when scored
    trained_on = [target_train.task] if experiment.target_train and target_train is not None else []
    model = model_for(config, trained_on or tasks, seed, load_from, mesh_config, settings.representation)
    _check_heads(model, tasks)
    with RunLock(eval_dir):
        scores = evaluate_and_write(model, tasks, settings, eval_dir, checkpoint=load_from)
    mark_done(eval_dir, {"phase": "eval", "tasks": tasks, "checkpoint": load_from, "settings": eval_settings})
    print(format_scores(f"zero-shot {experiment.target} ({name}, {system_name(experiment.intermediate)}, seed {seed})", scores))
    return scores


def _check_heads(model: Model, tasks: Sequence[str]) -> None:
    """Zero-shot evaluation needs every eval task's head in the model."""
    for task in tasks:
        head = get_task_record(task).head
        if head not in model.heads:
            raise ConfigError(
                f"Eval task {task!r} uses head {head!r}, but the model has heads {sorted(model.heads)}; "
                "zero-shot evaluation needs the eval tasks to share the target training task's head."
            )
