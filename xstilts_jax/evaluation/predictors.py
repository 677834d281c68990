"""Output decoders, one per label kind: a task's examples → (gold, predicted) values for its metric fns.

A predictor runs the forward pass (`forward.forward_batches`), decodes the head's outputs and
returns gold and predicted values in example (`idx`) order, gathered from every host. The
registry is keyed by the label kind of the task records, so a new output format is a new
entry here, not a branch in the evaluator.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from xstilts_jax.data.task_records import TaskRecord, get_task_record
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.forward import EvalSettings, forward_batches, gather_in_order
from xstilts_jax.evaluation.qa import predict_spans
from xstilts_jax.evaluation.retrieval import RETRIEVAL_PREDICTORS
from xstilts_jax.evaluation.tagging import first_subword_predictions, rejoin_tag_predictions
from xstilts_jax.models.model import Model

# (model, task, split, settings) -> (gold values, predicted values), both in idx order.
Predictor = Callable[[Model, str, str, EvalSettings], tuple[list[Any], list[Any]]]


def _argmax(outputs: Mapping[str, jax.Array]) -> Mapping[str, jax.Array]:
    return {"prediction": jnp.argmax(outputs["logits"], axis=-1)}


def _names(info: TaskRecord, values: list[Any]) -> list[Any]:
    """Label ids → label names (lists of ids for tags)."""
    names = info.label_names
    return [[names[v] for v in value] if isinstance(value, list) else names[value] for value in values]


def predict_labels(model: Model, task: str, split: str, settings: EvalSettings) -> tuple[list[Any], list[Any]]:
    """Classes and choices: the argmax of the head's logits per example."""
    info = get_task_record(task)
    gold: dict[int, int] = {}
    pred: dict[int, int] = {}
    for batch, out in forward_batches(model, task, split, info.head, settings, _argmax):
        for idx, label, prediction in zip(batch["idx"], batch["labels"], out["prediction"]):
            gold[int(idx)], pred[int(idx)] = int(label), int(prediction)
    return _names(info, gather_in_order(gold)), _names(info, gather_in_order(pred))


def predict_tags(model: Model, task: str, split: str, settings: EvalSettings) -> tuple[list[Any], list[Any]]:
    """Tags: each word's first-subword prediction, with sentences split into pieces re-joined."""
    info = get_task_record(task)
    gold_pieces: list[dict[str, Any]] = []
    pred_pieces: list[dict[str, Any]] = []
    for batch, out in forward_batches(model, task, split, info.head, settings, _argmax):
        for r in range(len(batch["idx"])):
            labels = batch["labels"][r]
            piece = {"idx": int(batch["idx"][r]), "word_start": int(batch["word_start"][r]), "num_words": int(batch["num_words"][r])}
            gold_pieces.append(dict(piece, word_predictions=first_subword_predictions(labels, labels)))
            pred_pieces.append(dict(piece, word_predictions=first_subword_predictions(out["prediction"][r], labels)))
    # the pieces of a sentence are on the host that read the sentence: re-join there, then gather
    gold, pred = rejoin_tag_predictions(gold_pieces), rejoin_tag_predictions(pred_pieces)
    return _names(info, gather_in_order(gold)), _names(info, gather_in_order(pred))


def predict_tokens(model: Model, task: str, split: str, settings: EvalSettings) -> tuple[list[Any], list[Any]]:
    """Masked tokens (MLM): per example, the gold ids and the argmax ids at its masked positions
    (labels >= 0), over all the chunks of a long line in order."""
    info = get_task_record(task)
    gold: dict[int, list[int]] = {}
    pred: dict[int, list[int]] = {}
    for batch, out in forward_batches(model, task, split, info.head, settings, _argmax):
        for idx, labels, prediction in zip(batch["idx"], batch["labels"], out["prediction"]):
            masked = labels >= 0
            gold.setdefault(int(idx), []).extend(labels[masked].tolist())
            pred.setdefault(int(idx), []).extend(prediction[masked].tolist())
    return gather_in_order(gold), gather_in_order(pred)


PREDICTORS: dict[str, Predictor] = {
    "class": predict_labels,
    "choice": predict_labels,
    "tags": predict_tags,
    "span": predict_spans,
    "tokens": predict_tokens,
    **RETRIEVAL_PREDICTORS,  # "nearest", "ranking", "mining"
}


def predict(model: Model, task: str, split: str, settings: EvalSettings) -> tuple[list[Any], list[Any]]:
    """Gold and predicted values of every example of `task`/`split`, decoded by the task's label kind."""
    kind = get_task_record(task).label_kind
    if kind not in PREDICTORS:
        raise ConfigError(f"Task {task!r} has label kind {kind!r}, which no evaluation predictor decodes; known: {sorted(PREDICTORS)}.")
    return PREDICTORS[kind](model, task, split, settings)
