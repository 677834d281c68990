"""Label decoding (label kinds "class" and "choice"): the argmax of the head's logits per example.

Gold and predicted values are label names in example order, scored by `evaluation.metrics.accuracy`
(XNLI, PAWS-X, XCOPA, ...). `argmax` and `label_names` are shared with the tag and token decoders.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from xstilts_jax.data.task_records import TaskRecord, get_task_record
from xstilts_jax.evaluation.forward import EvalSettings, forward_batches, gather_in_order
from xstilts_jax.models.model import Model


def argmax(outputs: Mapping[str, jax.Array]) -> Mapping[str, jax.Array]:
    """The forward's selection for label, tag and token heads: the argmax over the last axis of the logits."""
    return {"prediction": jnp.argmax(outputs["logits"], axis=-1)}


def label_names(info: TaskRecord, values: list[Any]) -> list[Any]:
    """Label ids → label names (a list of names for a list of ids, e.g. a sentence's tags)."""
    names = info.label_names
    return [[names[v] for v in value] if isinstance(value, list) else names[value] for value in values]


def decode_labels(model: Model, task: str, split: str, settings: EvalSettings) -> tuple[list[Any], list[Any]]:
    """Gold and predicted label names of every example of `task`/`split`, in idx order."""
    info = get_task_record(task)
    gold: dict[int, int] = {}
    pred: dict[int, int] = {}
    for batch, out in forward_batches(model, task, split, info.head, settings, argmax):
        for idx, label, prediction in zip(batch["idx"], batch["labels"], out["prediction"]):
            gold[int(idx)], pred[int(idx)] = int(label), int(prediction)
    return label_names(info, gather_in_order(gold)), label_names(info, gather_in_order(pred))
