"""Document-stream packing: full rows, documents in order with a separator, the padded tail; batch fill."""

import numpy as np
import pytest
import tensorflow as tf

from xstilts_jax.data.packing import FillMeter, batch_fill, pack_document_stream

BOS, EOS, PAD = 0, 2, 1


def _rows(docs: list[list[int]], length: int) -> np.ndarray:
    ds = tf.data.Dataset.from_generator(lambda: ({"inputs": d} for d in docs), output_signature={"inputs": tf.TensorSpec([None], tf.int32)})
    return np.array([r["inputs"] for r in pack_document_stream(ds, length, BOS, EOS, PAD).as_numpy_iterator()])


def test_documents_stream_into_full_rows_with_separators() -> None:
    docs = [[10, 11, 12], list(range(20, 33)), [40], [50, 51]]  # the second spans rows
    rows = _rows(docs, length=6)
    stream = [t for d in docs for t in [*d, EOS]]  # 23 tokens: four full rows of 5, a tail of 3
    assert rows.shape == (5, 6) and (rows[:, 0] == BOS).all()
    assert rows[:, 1:].ravel().tolist() == stream + [PAD, PAD]
    assert batch_fill(rows[:4], PAD) == 1.0 and batch_fill(rows, PAD) == pytest.approx(28 / 30)


def test_a_stream_ending_on_a_row_boundary_has_no_padded_tail() -> None:
    assert _rows([[5, 6, 7, 8]], length=6).tolist() == [[BOS, 5, 6, 7, 8, EOS]]
    assert _rows([], length=6).shape == (0,)


def test_fill_meter_counts_the_batches_it_watches() -> None:
    meter = FillMeter(PAD)
    batches = [{"input_ids": np.array([[3, 4, PAD, PAD]])}, {"input_ids": np.array([[3, 4, 5, 6]])}]
    assert list(meter.watch(iter(batches))) == batches
    assert meter.take() == pytest.approx(6 / 8) and meter.take() == 1.0
