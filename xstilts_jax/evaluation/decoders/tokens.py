"""Masked-token decoding (label kind "tokens", MLM dev sets): per example, the gold ids and the argmax
ids at its masked positions (labels >= 0), over all the chunks of a long line in order.

Scored by `evaluation.metrics.accuracy` over the flattened token lists.
"""

from __future__ import annotations

from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.evaluation.decoders.labels import argmax
from xstilts_jax.evaluation.forward import EvalSettings, forward_batches, gather_in_order
from xstilts_jax.models.model import Model


def decode_tokens(model: Model, task: str, split: str, settings: EvalSettings) -> tuple[list[list[int]], list[list[int]]]:
    """Gold and predicted token ids at the masked positions of every example, in idx order."""
    info = get_task_record(task)
    gold: dict[int, list[int]] = {}
    pred: dict[int, list[int]] = {}
    for batch, out in forward_batches(model, task, split, info.head, settings, argmax):
        for idx, labels, prediction in zip(batch["idx"], batch["labels"], out["prediction"]):
            masked = labels >= 0
            gold.setdefault(int(idx), []).extend(labels[masked].tolist())
            pred.setdefault(int(idx), []).extend(prediction[masked].tolist())
    return gather_in_order(gold), gather_in_order(pred)
