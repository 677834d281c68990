"""Scoring a model on registered tasks: the task's decoder (by label kind) → its metric fns → JSON.

Predictions are written as `<task>.<split>.json` (label names in example order, span QA's {id: answer}, ...)
and scores as `scores.json`, by the first host only and atomically, so a crash never leaves a
half-written file. `evaluate_and_write` is the one evaluation of `xstilts-jax run` and `eval`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax

from xstilts_jax.data.task_records import get_provider
from xstilts_jax.errors import ConfigError, MissingSplitError
from xstilts_jax.evaluation.embedding_cache import EmbeddingCache, params_directory
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.evaluation.decoders import decode
from xstilts_jax.experiments.targets import eval_split
from xstilts_jax.progress import PhaseBar
from xstilts_jax.storage import as_path, write_text_atomic

logger = logging.getLogger(__name__)

Scores = dict[str, float]
# The keys of an `evaluate_and_write` result that are not metrics.
SPLIT, MISSING = "split", "missing"


def evaluate_task(model: Any, task: str, split: str, settings: EvalSettings) -> tuple[Scores, Any]:
    """The task's metric fns on its predictions (those with seqio's `aux_values` argument also get the
    decoder's auxiliary values); returns (scores, predictions)."""
    targets, predictions, aux_values = decode(model, task, split, settings)
    provider = get_provider(task)
    if provider.score_metric_fns:
        raise ConfigError(f"Task {task!r} has (targets, scores) metric fns, which no decoder here feeds; use (targets, predictions).")
    scores: Scores = {}
    for metric_fn in provider.predict_metric_fns:
        scores.update(metric_fn(targets, predictions))
    for metric_fn in provider.predict_with_aux_metric_fns:
        scores.update(metric_fn(targets, predictions, aux_values=aux_values))
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
    """Score every task (e.g. every language of a target); `split` is one split or a split per task.

    The tasks share one `EmbeddingCache` (a shared retrieval candidate set is embedded once), the
    settings' when the caller gave one (`evaluate_and_write`), else a new one for this call."""
    if settings.embedding_cache is None:
        settings = dataclasses.replace(settings, embedding_cache=EmbeddingCache())
    results: dict[str, Scores] = {}
    with PhaseBar(total=len(tasks), desc="eval", unit="task", disable=len(tasks) < 2) as bar:
        for task in tasks:
            task_split = split if isinstance(split, str) else split[task]
            scores, predictions = evaluate_task(model, task, task_split, settings)
            results[task] = scores
            if predictions_dir is not None:
                write_json(as_path(predictions_dir) / f"{task}.{task_split}.json", predictions, ensure_ascii=False)
            bar.update()
    return results


def evaluate_and_write(
    model: Any, tasks: Sequence[str], settings: EvalSettings, directory: str | Path, *, checkpoint: str | None = None
) -> dict[str, dict[str, Any]]:
    """Score every task (mixtures already expanded) on its zero-shot split (`targets.eval_split`); write
    `directory/predictions/<task>.<split>.json` and `directory/scores.json`; returns {task: {metric: value, ...,
    "split": split}}. A task whose data lacks that split (`MissingSplitError`) is {"split": split, "missing":
    why}: reported unscored, the other tasks still scored; ConfigError when every task lacks it.

    `checkpoint` names the parameters scored (None: unnamed, e.g. a random init): shared retrieval
    candidate embeddings are then kept under `directory/embeddings/` for that checkpoint, so a
    rerun after a stop reloads them (`evaluation.embedding_cache`)."""
    directory = as_path(directory)
    # one evaluation of one model: its tasks share candidate embeddings (never kept past this call)
    cache_dir = params_directory(directory, checkpoint) if checkpoint else None
    settings = dataclasses.replace(settings, embedding_cache=EmbeddingCache(cache_dir))
    scores: dict[str, dict[str, Any]] = {}
    with PhaseBar(total=len(tasks), desc="eval", unit="task", disable=len(tasks) < 2) as bar:
        for task in tasks:
            split = eval_split(task)
            try:
                values = evaluate_tasks(model, [task], split, settings, directory / "predictions")[task]
            except MissingSplitError as e:
                logger.warning("%s is not scored: %s", task, e)
                values = {MISSING: str(e)}
            scores[task] = {**values, SPLIT: split}
            bar.update()
    if tasks and all(MISSING in values for values in scores.values()):
        raise ConfigError(f"No eval task could be scored; the first says: {scores[tasks[0]][MISSING]}")
    write_json(directory / "scores.json", scores, indent=2, sort_keys=True)
    return scores


def metric_values(result: Mapping[str, Any]) -> dict[str, float]:
    """The metrics of one task's `evaluate_and_write` result (without its split or why it is missing)."""
    return {k: v for k, v in result.items() if k not in (SPLIT, MISSING)}
