"""Reading published reference scores from CSV into validated runs and score rows."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any

from xstilts_jax.experiments.results.records import ResultsError, RunInfo, checked_run, now, score_rows, scoring_split

# --- importing published reference scores --------------------------------------------------------
# One row per score. Lines starting with "#" are comments (say where the numbers come from there).
# Optional columns default to: source "published" (the only source an import accepts), seed empty
# (none), phase "eval", split the task's scoring split (`records.scoring_split`), git_commit empty,
# created now. An intermediate "none" (the baseline's old spelling) is read as `targets.BASELINE`.
IMPORT_REQUIRED = ("run_id", "model", "model_params", "intermediate", "target", "task", "language", "metric", "value")
IMPORT_OPTIONAL = ("source", "seed", "phase", "split", "git_commit", "created")
IMPORT_COLUMNS = IMPORT_REQUIRED + IMPORT_OPTIONAL


def _int_field(text: str, where: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ResultsError(f"{where}: {what} {text!r} is not an integer") from None


def read_import(path: Path) -> tuple[dict[str, RunInfo], list[tuple[Any, ...]]]:
    """The runs and score rows of an import CSV, every row validated."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = [(number, line) for number, line in enumerate(f, 1) if line.strip() and not line.startswith("#")]
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"cannot read {path} as a UTF-8 CSV file: {e}") from e
    if not lines:
        raise ResultsError(f"{path} has no header and no rows; expected columns {list(IMPORT_REQUIRED)}")
    reader = csv.DictReader([line for _, line in lines])
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    missing = [c for c in IMPORT_REQUIRED if c not in header]
    if unknown or missing:
        raise ResultsError(
            f"{path}: the header must have columns {list(IMPORT_REQUIRED)} (optional: {list(IMPORT_OPTIONAL)}); "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and unknown else "")
            + (f"unknown {unknown}" if unknown else "")
        )
    runs: dict[str, RunInfo] = {}
    scores: list[tuple[Any, ...]] = []
    seen: dict[tuple[Any, ...], int] = {}
    recorded = now()
    for (number, _), record in zip(lines[1:], reader):
        where = f"{path}:{number}"
        if None in record or any(v is None for v in record.values()):
            raise ResultsError(f"{where}: expected {len(header)} fields like the header")
        source = record.get("source") or "published"
        if source != "published":
            raise ResultsError(f"{where}: source {source!r}; an import adds published reference rows only")
        seed = record.get("seed") or ""
        info = RunInfo(
            run_id=record["run_id"],
            model=record["model"],
            model_params=_int_field(record["model_params"], where, "model_params"),
            target=record["target"],
            intermediate=record["intermediate"],
            seed=_int_field(seed, where, "seed") if seed else None,
            source="published",
            git_commit=record.get("git_commit") or "",
            created=record.get("created") or None,
        )
        try:
            info = checked_run(info)
            earlier = runs.setdefault(info.run_id, info)
            if dataclasses.replace(earlier, created=None) != dataclasses.replace(info, created=None):
                raise ResultsError(f"run {info.run_id!r} has other model/target/intermediate/seed than on an earlier row")
            try:
                value = float(record["value"])
            except ValueError:
                raise ResultsError(f"value {record['value']!r} is not a number") from None
            task = record["task"]
            split = record.get("split") or scoring_split(task)
            phase = record.get("phase") or "eval"
            rows = score_rows(info.run_id, phase, task, split, {record["language"]: {record["metric"]: value}}, recorded, "")
            key = rows[0][:6]
            if key in seen:
                raise ResultsError(f"repeats line {seen[key]}'s score (same run, phase, task, language, split, metric)")
            seen[key] = number
            scores += rows
        except ResultsError as e:
            raise ResultsError(f"{where}: {e}") from None
    if not scores:
        raise ResultsError(f"{path} has a header but no rows")
    return runs, scores
