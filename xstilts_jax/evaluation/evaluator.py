"""Scoring a model on registered tasks: the task's predictor (by label kind) → its metric fns → JSON.

Predictions are written as `<task>.<split>.json` (label names, or decoded text, in example order),
by the first host only and atomically, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import jax
from tqdm import tqdm

from xstilts_jax.data.task_records import get_provider
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.evaluation.predictors import predict

Scores = dict[str, float]


def evaluate_task(model: Any, task: str, split: str, settings: EvalSettings) -> tuple[Scores, list[Any]]:
    """The task's metric fns on its predictions; returns (scores, predictions)."""
    targets, predictions = predict(model, task, split, settings)
    scores: Scores = {}
    for metric_fn in get_provider(task).metric_fns:
        scores.update(metric_fn(targets, predictions))
    return scores, predictions


def write_predictions(path: Path, predictions: list[Any]) -> None:
    """Write predictions as JSON atomically (first host only)."""
    if jax.process_index() != 0:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(predictions, ensure_ascii=False))
    tmp.replace(path)


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
            write_predictions(Path(predictions_dir) / f"{task}.{task_split}.json", predictions)
    return results
