"""What the results store holds: runs (``RunInfo``), scores (``Row``), their validation, and the scoring splits.

A run without an intermediate phase has intermediate ``targets.BASELINE`` ("baseline"). Databases and
CSV files written before that name was unified spell it ``LEGACY_BASELINE`` ("none"); every input
(``RunInfo``, an imported CSV row) and every read of the store maps that spelling to ``BASELINE``, so
old files stay readable as they are.

What the store knows about a task comes from the task and target records (`data/task_records`,
`experiments/targets`) registered in this process (commands import the catalog, `tasks`): an eval
task (``xnli.de``) is stored under its target's name (``xnli``) with its record's language, and a
task or target is scored on its record's scoring split. Names not registered here (e.g. the tasks
of an imported CSV of published results, read without the catalog) are stored as given and scored
on ``DEFAULT_SPLIT``.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import datetime
import math
from collections.abc import Mapping
from typing import Any

from xstilts_jax.data.task_records import registered_task_records
from xstilts_jax.errors import XstiltsError
from xstilts_jax.experiments.targets import BASELINE, eval_split, find_target, target_of_eval_task

SOURCES = ("ours", "published")
LEGACY_BASELINE = "none"
# The split of a task or target that is not registered in this process (XTREME scores dev sets).
DEFAULT_SPLIT = "validation"


class ResultsError(XstiltsError):
    """The results database, a run in it, or a predictions/submission directory cannot be used as asked."""


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a run is. ``created`` (ISO 8601, UTC) is set when the run is first recorded."""

    run_id: str
    model: str
    model_params: int
    target: str
    intermediate: str = BASELINE
    seed: int | None = None
    source: str = "ours"
    gin_config: str = ""
    git_commit: str = ""
    created: str | None = None


@dataclasses.dataclass(frozen=True)
class Row:
    """One stored score with its run's metadata (the CSV columns, in this order)."""

    run_id: str
    source: str
    model: str
    model_params: int
    intermediate: str
    target: str
    seed: int | None
    phase: str
    task: str
    language: str
    split: str
    metric: str
    value: float
    recorded: str
    git_commit: str
    created: str
    scorer: str  # the scoring package a value depends on, e.g. "seqeval==1.2.2"; "" when unknown (older rows, imports)


CSV_COLUMNS = tuple(field.name for field in dataclasses.fields(Row))


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _require_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ResultsError(f"{what} must be a non-empty string, got {value!r}")
    return value


def baseline_spelled(intermediate: str) -> str:
    """``intermediate`` with the old spelling of the baseline (``LEGACY_BASELINE``) read as ``BASELINE``."""
    return BASELINE if intermediate == LEGACY_BASELINE else intermediate


def scoring_split(task: str) -> str:
    """The split ``task`` is scored on, as stored: a target's name (which may also name its English
    training task, e.g. ``pawsx``) its target's scoring split, a task ``targets.eval_split``'s, else ``DEFAULT_SPLIT``."""
    target = find_target(task)
    if target is not None:
        return target.scoring_split
    return eval_split(task) if task in registered_task_records() else DEFAULT_SPLIT


def stored_task(task: str) -> tuple[str, str | None]:
    """The name ``task``'s scores are stored under and the one language it is in (None: any).

    An eval task is stored under its target's name in its record's language; any other name (a
    target, a training task, a task not registered in this process) is stored as given.
    """
    record = registered_task_records().get(task)
    target = target_of_eval_task(task)
    if record is None or target is None:
        return task, None
    return target.name, record.language


def checked_run(info: RunInfo) -> RunInfo:
    """``info`` validated, with ``created`` set to now if it has none and the baseline spelled ``BASELINE``."""
    for what in ("run_id", "model", "target", "intermediate"):
        _require_name(getattr(info, what), f"RunInfo.{what}")
    if info.source not in SOURCES:
        raise ResultsError(f"run {info.run_id!r}: source must be one of {SOURCES}, got {info.source!r}")
    if isinstance(info.model_params, bool) or not isinstance(info.model_params, int) or info.model_params <= 0:
        raise ResultsError(f"run {info.run_id!r}: model_params must be a positive int, got {info.model_params!r}")
    if info.seed is not None and (isinstance(info.seed, bool) or not isinstance(info.seed, int)):
        raise ResultsError(f"run {info.run_id!r}: seed must be an int or None, got {info.seed!r}")
    return dataclasses.replace(info, intermediate=baseline_spelled(info.intermediate), created=info.created or now())


def scorer() -> str:
    """The scorer version stored with every score we record: seqeval's, on which UD-POS and PAN-X F1 depend
    (gold CCONJ vs predicted SCONJ scores 100 under seqeval 1.2.2, 0 under the 0.0.12 of xtreme's tests)."""
    return f"seqeval=={importlib.metadata.version('seqeval')}"


def score_rows(
    run_id: str,
    phase: str,
    task: str,
    split: str,
    scores: Mapping[str, Mapping[str, float]],
    recorded: str,
    scorer: str,
) -> list[tuple[Any, ...]]:
    """Validated ``scores`` table rows of one run, phase, task and split (see ``record_scores``)."""
    for value, what in ((run_id, "run_id"), (phase, "phase"), (task, "task"), (split, "split")):
        _require_name(value, what)
    family, language = stored_task(task)
    if language is not None and set(scores) != {language}:
        raise ResultsError(
            f"task {task!r} names language {language!r} but the scores are for {sorted(scores)}; record "
            f"several languages under the family name {family!r}"
        )
    if not scores:
        raise ResultsError(f"run {run_id!r}, task {task!r}: no scores given")
    rows = []
    for lang, metrics in scores.items():
        _require_name(lang, f"task {task!r}: a language")
        if not metrics:
            raise ResultsError(f"run {run_id!r}, task {task!r}, language {lang!r}: no metrics given")
        for metric, value in metrics.items():
            _require_name(metric, f"task {task!r}, language {lang!r}: a metric name")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ResultsError(
                    f"run {run_id!r}, task {task!r}, language {lang!r}, metric {metric!r}: value {value!r} "
                    "is not a finite number"
                )
            rows.append((run_id, phase, family, lang, split, metric, float(value), recorded, scorer))
    return rows
