"""What the results store holds: runs (``RunInfo``), scores (``Row``), their validation, and the scoring splits."""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Mapping
from typing import Any

from xstilts_jax.errors import XstiltsError

SOURCES = ("ours", "published")
NO_INTERMEDIATE = "none"
DEFAULT_SPLIT = "validation"
# Tasks scored on another split than DEFAULT_SPLIT: XQuAD has no dev set. (TyDiQA-GoldP's only
# labelled eval split is TFDS's "validation", which XTREME uses as its test set.)
SCORING_SPLITS: Mapping[str, str] = {"xquad": "test"}


class ResultsError(XstiltsError):
    """The results database, a run in it, or a predictions/submission directory cannot be used as asked."""


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a run is. ``created`` (ISO 8601, UTC) is set when the run is first recorded."""

    run_id: str
    model: str
    model_params: int
    target: str
    intermediate: str = NO_INTERMEDIATE
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


CSV_COLUMNS = tuple(field.name for field in dataclasses.fields(Row))


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _require_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ResultsError(f"{what} must be a non-empty string, got {value!r}")
    return value


def checked_run(info: RunInfo) -> RunInfo:
    """``info`` validated, with ``created`` set to now if it has none."""
    for what in ("run_id", "model", "target", "intermediate"):
        _require_name(getattr(info, what), f"RunInfo.{what}")
    if info.source not in SOURCES:
        raise ResultsError(f"run {info.run_id!r}: source must be one of {SOURCES}, got {info.source!r}")
    if isinstance(info.model_params, bool) or not isinstance(info.model_params, int) or info.model_params <= 0:
        raise ResultsError(f"run {info.run_id!r}: model_params must be a positive int, got {info.model_params!r}")
    if info.seed is not None and (isinstance(info.seed, bool) or not isinstance(info.seed, int)):
        raise ResultsError(f"run {info.run_id!r}: seed must be an int or None, got {info.seed!r}")
    return dataclasses.replace(info, created=info.created or now())


def score_rows(
    run_id: str, phase: str, task: str, split: str, scores: Mapping[str, Mapping[str, float]], recorded: str
) -> list[tuple[Any, ...]]:
    """Validated ``scores`` table rows of one run, phase, task and split (see ``record_scores``)."""
    for value, what in ((run_id, "run_id"), (phase, "phase"), (task, "task"), (split, "split")):
        _require_name(value, what)
    family, dot, language = task.partition(".")
    _require_name(family, f"task {task!r}: the family name")
    if dot and set(scores) != {language}:
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
            rows.append((run_id, phase, family, lang, split, metric, float(value), recorded))
    return rows
