"""The target records: what the engine knows about each zero-shot target, in one registry.

The task catalog (`tasks/`) registers one `TargetRecord` per target (XNLI, PAWS-X, UD-POS,
QA, retrieval, ...) with `register_target`; an experiment then needs only the target's name
(`Experiment.target = 'xnli'`) and takes its English training task, its eval task per
language, the dev tasks and headline metric that pick the checkpoint, and the recipe
defaults (epochs, batch size, input length, learning rate) from the record. Gin bindings
override each of these. A record also names the split its zero-shot scores come from (`split`;
UD-POS: the UD releases' tagged test sets), which `eval_split` gives the evaluation and the
results store, while dev evaluation during training keeps each task's own split.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import TYPE_CHECKING, Mapping

from xstilts_jax.data.task_records import get_provider, get_task_record
from xstilts_jax.errors import ConfigError

if TYPE_CHECKING:
    from xstilts_jax.experiments.results.submission import NoSubmissionFormat, SubmissionFormat

# The name of the system without an intermediate phase (pretrained → target training), used in
# run directories, grid tables, the results store and the analysis alike (the one spelling; the
# results store reads its old spelling "none" as this, see `experiments/results/records.py`).
BASELINE = "baseline"


def system_name(intermediate: str | None) -> str:
    """An experiment's intermediate task or mixture, or `BASELINE` when it has none."""
    return intermediate or BASELINE


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A target phase's training defaults (DESIGN.md: the X-STILTs recipe).

    None leaves the engine's default: `epochs` must then be bound in gin (or `steps`),
    `length` is the train task's default input length.
    """

    epochs: float | None = None
    batch_size: int = 32
    length: int | None = None
    learning_rate: float = 1e-5


@dataclasses.dataclass(frozen=True)
class TargetRecord:
    """A zero-shot target: its English training task (None: scored without target training, e.g.
    BUCC and Tatoeba), the eval task of each language (language → task), the dev tasks whose
    `best_metric` (e.g. 'eval/xnli.en/accuracy') picks the checkpoint, the recipe, and the
    format of its XTREME leaderboard files (`submission`; None: not a leaderboard task).

    `split` is the split its eval tasks are scored on after training (None: the split their
    records name, dev where they have it). A language whose data lacks that split is reported
    as unscored, never scored on another split (`evaluation.evaluator.evaluate_and_write`)."""

    name: str
    train_task: str | None
    eval_tasks: Mapping[str, str]
    dev_tasks: tuple[str, ...] = ()
    best_metric: str | None = None
    recipe: Recipe = Recipe()
    submission: SubmissionFormat | NoSubmissionFormat | None = None
    split: str | None = None

    def __post_init__(self) -> None:
        if not self.eval_tasks:
            raise ConfigError(f"Target {self.name!r} has no eval tasks.")
        if self.best_metric is not None and not self.dev_tasks:
            raise ConfigError(f"Target {self.name!r}: best_metric {self.best_metric!r} needs dev tasks to produce it.")

    @property
    def languages(self) -> tuple[str, ...]:
        """The target's eval languages, in eval order."""
        return tuple(self.eval_tasks)

    @property
    def scoring_split(self) -> str:
        """The split the target is scored on: `split`, else its eval tasks' (they share one, `register_target` checks)."""
        return self.split or get_task_record(next(iter(self.eval_tasks.values()))).scoring_split


_TARGETS: dict[str, TargetRecord] = {}


def _check_tasks(record: TargetRecord) -> None:
    """A target's tasks are registered, and each eval task is in the language it is listed under."""
    for task in (*([record.train_task] if record.train_task else []), *record.dev_tasks):
        get_provider(task)
    for lang, task in record.eval_tasks.items():
        if get_task_record(task).language != lang:
            raise ConfigError(
                f"Target {record.name!r} lists {task!r} as its {lang!r} eval task, but that task's language is "
                f"{get_task_record(task).language!r}."
            )
    if record.split is not None:
        lacking = [task for task in record.eval_tasks.values() if record.split not in get_provider(task).splits]
        if lacking:
            raise ConfigError(f"Target {record.name!r} is scored on {record.split!r}, which {lacking} do not have.")
        return
    splits = {get_task_record(task).scoring_split for task in record.eval_tasks.values()}
    if len(splits) > 1:
        raise ConfigError(f"Target {record.name!r}: its eval tasks are scored on different splits {sorted(splits)}.")


def register_target(record: TargetRecord) -> TargetRecord:
    """Register a target whose tasks are registered; re-registering a name with a different record is an error."""
    _check_tasks(record)
    old = _TARGETS.get(record.name)
    if old is not None and old != record:
        raise ConfigError(f"Target {record.name!r} is already registered as {old}; it cannot change to {record}.")
    _TARGETS[record.name] = record
    return record


def find_target(name: str) -> TargetRecord | None:
    """The record of target `name`, or None when no such target is registered."""
    return _TARGETS.get(name)


def target_of_eval_task(task: str) -> TargetRecord | None:
    """The (first registered) target that lists `task` as one of its eval tasks, or None."""
    return next((record for record in _TARGETS.values() if task in record.eval_tasks.values()), None)


def eval_split(task: str) -> str:
    """The split `task` is scored on in zero-shot evaluation: its target's scoring split when it is a
    target's eval task (the first registered target listing it, as `target_of_eval_task`), else its
    record's (dev where it has one)."""
    target = target_of_eval_task(task)
    return target.scoring_split if target is not None else get_task_record(task).scoring_split


def get_target(name: str) -> TargetRecord:
    """The record of target `name`; an unknown name is a ConfigError with close matches."""
    if name not in _TARGETS:
        close = difflib.get_close_matches(name, list(_TARGETS), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(
            f"No target {name!r} is registered.{hint} Known targets: {sorted(_TARGETS)} (gin files need `import tasks`)."
        )
    return _TARGETS[name]


def registered_targets() -> Mapping[str, TargetRecord]:
    """A read-only copy of every registered target's record."""
    return dict(_TARGETS)
