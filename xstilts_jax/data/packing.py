"""Document-stream packing (XLM-R / RoBERTa pretraining) and the fill of a batch.

Documents are concatenated into one token stream, each followed by `</s>` (the separator), and
the stream is cut into rows of `length`: `<s>` then `length - 1` stream tokens, so every row is
full and rows cross document boundaries (fairseq's `TokenBlockDataset` with break mode "none",
then `<s>` prepended). Only the stream's last row, at the end of a finite pass, is partial; it is
padded with `pad_id`. A long document simply spans several rows.
"""

from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np
import tensorflow as tf


def pack_document_stream(
    dataset: tf.data.Dataset, length: int, bos_id: int, eos_id: int, pad_id: int, feature: str = "inputs"
) -> tf.data.Dataset:
    """Documents {feature: ids [n]} (pieces without specials) → full rows {feature: ids [length]}."""
    if length < 2:
        raise ValueError(f"pack_document_stream: length must be >= 2 (room for <s> and a token), got {length}.")
    body = length - 1

    def with_separator(ex: Mapping[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        return tf.concat([tf.cast(ex[feature], tf.int32), [eos_id]], 0), tf.constant(False)

    # One last element flushes the stream's partial tail (a finite pass never loses its last tokens).
    flush = tf.data.Dataset.from_tensors((tf.zeros([0], tf.int32), tf.constant(True)))
    docs = dataset.map(with_separator, num_parallel_calls=tf.data.AUTOTUNE).concatenate(flush)

    def cut(carry: tf.Tensor, doc: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        ids, is_flush = doc
        stream = tf.concat([carry, ids], 0)
        full = tf.size(stream) // body
        rows = tf.reshape(stream[: full * body], [full, body])
        rest = stream[full * body :]
        tail = tf.pad(rest, [[0, body - tf.size(rest)]], constant_values=pad_id)[None, :]
        emit_tail = is_flush & (tf.size(rest) > 0)
        rows = tf.cond(emit_tail, lambda: tf.concat([rows, tail], 0), lambda: rows)
        carry = tf.cond(emit_tail, lambda: tf.zeros([0], tf.int32), lambda: rest)
        return carry, rows

    rows = docs.scan(tf.zeros([0], tf.int32), cut).unbatch()
    return rows.map(lambda r: {feature: tf.concat([[bos_id], r], 0)}, num_parallel_calls=tf.data.AUTOTUNE)


def batch_fill(input_ids: np.ndarray, pad_id: int) -> float:
    """The share of a batch's token positions that hold real tokens (not `pad_id`)."""
    ids = np.asarray(input_ids)
    return float((ids != pad_id).sum() / max(ids.size, 1))


class FillMeter:
    """Measures the fill of the host batches that pass through `watch`, per logging window."""

    def __init__(self, pad_id: int):
        self._pad_id = pad_id
        self._real = self._total = 0

    def watch(self, batches: Iterator[Mapping[str, np.ndarray]]) -> Iterator[Mapping[str, np.ndarray]]:
        """`batches` unchanged, each one counted."""
        for batch in batches:
            ids = np.asarray(batch["input_ids"])
            self._real += int((ids != self._pad_id).sum())
            self._total += ids.size
            yield batch

    def take(self) -> float:
        """The fill since the last `take` (1.0 before any batch), and a new window."""
        fill = self._real / self._total if self._total else 1.0
        self._real = self._total = 0
        return fill
