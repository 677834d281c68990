"""Scoring a model on registered tasks: batches → jitted forward → decoding → the task's metric fns.

Decoding is chosen by the task's label kind (from the task-head registry): argmax for
classes and choices; for tags, the prediction on each word's first subword, with split
sentences re-joined. Predictions are label names in example (`idx`) order, written as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import seqio
from flax import nnx
from jax.sharding import Mesh
from tqdm import tqdm

from xstilts_jax.data.batches import BatchSpec, host_batches, to_global
from xstilts_jax.data.task_heads import TaskHead, get_task_head
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.tagging import first_subword_predictions, rejoin_tag_predictions
from xstilts_jax.models.model import Model
from xstilts_jax.partitioning import Rules, axis_rules
from xstilts_jax.training.train_state import param_shardings

Scores = dict[str, float]


def _forward(graphdef: nnx.GraphDef, head: str, mesh: Mesh, rules: Rules) -> Callable[[Any, Mapping[str, jax.Array]], jax.Array]:
    """Jitted: params, batch → argmax of the head's logits (per example, or per token for tags)."""

    @jax.jit
    def run(params: Any, batch: Mapping[str, jax.Array]) -> jax.Array:
        with axis_rules(mesh, rules):
            logits = nnx.merge(graphdef, params)(batch, head)["logits"]
        return jnp.argmax(logits, axis=-1)

    return run


def _pad_rows(batch: dict[str, np.ndarray], size: int) -> tuple[dict[str, np.ndarray], int]:
    """Pad the last, short batch to `size` rows by repeating its first row; returns the real row count."""
    rows = len(next(iter(batch.values())))
    if rows == size:
        return batch, rows
    return {k: np.concatenate([v, np.repeat(v[:1], size - rows, axis=0)]) for k, v in batch.items()}, rows


def predict_task(
    model: Model, task: str, split: str, *, batch_size: int, length: int | None, mesh: Mesh, rules: Rules
) -> tuple[list[Any], list[Any]]:
    """Gold and predicted label names of every example of `task`/`split`, in `idx` order."""
    info: TaskHead = get_task_head(task)
    if info.label_kind not in ("class", "choice", "tags"):
        raise ConfigError(f"Task {task!r} has label kind {info.label_kind!r}, which this evaluator does not decode.")
    spec = BatchSpec(task, split, length or info.max_length or 256, batch_size, shuffle=False, repeat=False)
    graphdef, state = nnx.split(model, nnx.Param)
    params = jax.device_put(nnx.to_pure_dict(state), param_shardings(model, mesh, rules))
    run = _forward(graphdef, info.head, mesh, rules)
    gold: dict[int, Any] = {}
    pred: dict[int, Any] = {}
    gold_pieces, pred_pieces = [], []
    for local in host_batches(spec, model.config.pad_id, model.config.position_offset):
        padded, rows = _pad_rows(local, batch_size // jax.process_count())
        out = np.asarray(run(params, to_global(padded, mesh, rules)))[:rows]
        labels = local["labels"]
        for r in range(rows):
            idx = int(local["idx"][r])
            if info.label_kind == "tags":
                piece = {"idx": idx, "word_start": int(local["word_start"][r]), "num_words": int(local["num_words"][r])}
                gold_pieces.append(dict(piece, word_predictions=first_subword_predictions(labels[r], labels[r])))
                pred_pieces.append(dict(piece, word_predictions=first_subword_predictions(out[r], labels[r])))
            else:
                gold[idx], pred[idx] = int(labels[r]), int(out[r])
    if info.label_kind == "tags":
        gold, pred = rejoin_tag_predictions(gold_pieces), rejoin_tag_predictions(pred_pieces)
    names = info.label_names

    def to_names(value: Any) -> Any:
        return [names[v] for v in value] if isinstance(value, list) else names[value]

    order = sorted(gold)
    return [to_names(gold[i]) for i in order], [to_names(pred[i]) for i in order]


def evaluate_task(
    model: Model, task: str, split: str, *, batch_size: int, length: int | None, mesh: Mesh, rules: Rules
) -> tuple[Scores, list[Any]]:
    """The task's metric fns on its predictions; returns (scores, predictions)."""
    targets, predictions = predict_task(model, task, split, batch_size=batch_size, length=length, mesh=mesh, rules=rules)
    scores: Scores = {}
    for metric_fn in seqio.get_mixture_or_task(task).metric_fns:
        scores.update(metric_fn(targets, predictions))
    return scores, predictions


def evaluate_tasks(
    model: Model,
    tasks: Sequence[str],
    split: str,
    *,
    batch_size: int,
    length: int | None,
    mesh: Mesh,
    rules: Rules,
    predictions_dir: str | Path | None = None,
) -> dict[str, Scores]:
    """Score every task (e.g. every language of a target); predictions written as `<task>.json`."""
    results: dict[str, Scores] = {}
    for task in tqdm(tasks, desc=f"eval {split}", unit="task"):
        scores, predictions = evaluate_task(model, task, split, batch_size=batch_size, length=length, mesh=mesh, rules=rules)
        results[task] = scores
        if predictions_dir is not None and jax.process_index() == 0:
            path = Path(predictions_dir) / f"{task}.{split}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(predictions, ensure_ascii=False))
            tmp.replace(path)  # never leave a half-written predictions file
    return results
