"""Scoring a model on registered tasks: the task's decoder (by label kind) → its metric fns → JSON.

Predictions are written as `<task>.<split>.json` (label names, or decoded text, in example order)
and scores as `scores.json`, by the first host only and atomically, so a crash never leaves a
half-written file. `evaluate_and_write` is the one evaluation of `xstilts-jax run` and `eval`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import jax
from tqdm import tqdm

from xstilts_jax.data.task_records import get_provider, get_task_record
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.evaluation.decoders import decode
from xstilts_jax.storage import as_path, write_text_atomic

Scores = dict[str, float]


def evaluate_task(model: Any, task: str, split: str, settings: EvalSettings) -> tuple[Scores, list[Any]]:
    """The task's metric fns on its predictions; returns (scores, predictions)."""
    targets, predictions = decode(model, task, split, settings)
    scores: Scores = {}
    for metric_fn in get_provider(task).metric_fns:
        scores.update(metric_fn(targets, predictions))
    return scores, predictions


def write_json(path: Path, value: Any, **dumps: Any) -> None:
    """Write `value` as JSON (`json.dumps` keyword arguments `dumps`) atomically, on the first host only."""
    if jax.process_index() != 0:
        return
    write_text_atomic(path, json.dumps(value, **dumps))


def evaluate_tasks(
    model: Any,
    tasks: Sequence[str],
    split: str | dict[str, str],
    settings: EvalSettings,
    predictions_dir: str | Path | None = None,
) -> dict[str, Scores]:
    """Score every task (e.g. every language of a target); `split` is one split or a split per task."""
    results: dict[str, Scores] = {}
    for task in tqdm(tasks, desc="eval", unit="task", disable=len(tasks) < 2):
        task_split = split if isinstance(split, str) else split[task]
        scores, predictions = evaluate_task(model, task, task_split, settings)
        results[task] = scores
        if predictions_dir is not None:
            write_json(as_path(predictions_dir) / f"{task}.{task_split}.json", predictions, ensure_ascii=False)
    return results


def evaluate_and_write(model: Any, tasks: Sequence[str], settings: EvalSettings, directory: str | Path) -> dict[str, dict[str, Any]]:
    """Score every task (mixtures already expanded) on its record's scoring split; write `directory/predictions/
    <task>.<split>.json` and `directory/scores.json`; returns {task: {metric: value, ..., "split": split}}."""
    directory = as_path(directory)
    splits = {task: get_task_record(task).scoring_split for task in tasks}
    results = evaluate_tasks(model, tasks, splits, settings, directory / "predictions")
    scores: dict[str, dict[str, Any]] = {task: dict(results[task], split=splits[task]) for task in tasks}
    write_json(directory / "scores.json", scores, indent=2, sort_keys=True)
    return scores
