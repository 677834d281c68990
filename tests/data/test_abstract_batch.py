"""`abstract_batch`: the batch a feature converter would emit, as shapes, equals the converted data's."""

from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from xstilts_jax.data.feature_converters import (
    PackedEncoderFeatureConverter,
    PaddedEncoderFeatureConverter,
    abstract_batch,
)
from xstilts_jax.errors import ConfigError

BOS, EOS, PAD, LENGTH, ROWS = 0, 2, 1, 16, 4
EXTRA = ("idx", "head_id")


def _example(kind: str, i: int) -> dict[str, Any]:
    tokens = [BOS, *range(3, 3 + 2 + i % 3), EOS]
    if kind in ("choice", "pairs"):  # two rows of different lengths
        rows = [tokens, tokens[:-2] + [EOS]]
        ex: dict[str, Any] = {"inputs": rows, "token_type_ids": [[0] * len(r) for r in rows]}
    else:
        ex = {"inputs": tokens, "token_type_ids": [0] * len(tokens)}
    if kind in ("class", "choice", "pairs"):
        ex["targets"] = i % 2
    elif kind in ("tags", "tokens"):
        ex["targets"] = [-1, *([1] * (len(tokens) - 2)), -1]
    elif kind == "span":
        ex["start_positions"], ex["end_positions"] = 1, 2
    return {**ex, "idx": i, "head_id": 7}


def _dataset(examples: list[dict[str, Any]]) -> tf.data.Dataset:
    def spec(v: Any) -> tf.TypeSpec:
        if isinstance(v, int):
            return tf.TensorSpec([], tf.int32)
        return tf.RaggedTensorSpec([None, None], tf.int32) if isinstance(v[0], list) else tf.TensorSpec([None], tf.int32)

    signature = {k: spec(v) for k, v in examples[0].items()}

    def gen():
        for ex in examples:
            yield {k: tf.ragged.constant(v, tf.int32) if signature[k].shape.rank == 2 else v for k, v in ex.items()}

    return tf.data.Dataset.from_generator(gen, output_signature=signature)


CASES = [
    ("class", False, {}),
    ("class", True, {}),
    ("tags", False, {}),
    ("tags", True, {}),
    ("tokens", True, {}),
    ("span", False, {}),
    ("choice", False, {"num_choices": 2}),
    ("pairs", False, {}),
    ("nearest", False, {}),
]


@pytest.mark.parametrize("kind, pack, kwargs", CASES)
def test_abstract_batch_matches_a_converted_batch(kind, pack, kwargs):
    if pack:
        converter = PackedEncoderFeatureConverter(PAD, kind, 4, token_type_ids=True, extra_features=EXTRA)
    else:
        converter = PaddedEncoderFeatureConverter(PAD, kind, token_type_ids=True, extra_features=EXTRA, **kwargs)
    examples = [_example(kind, i) for i in range(3 * ROWS)]
    ds = converter(_dataset(examples), {"inputs": LENGTH}).batch(ROWS, drop_remainder=True)
    real = next(ds.as_numpy_iterator())
    shapes = abstract_batch(
        kind, ROWS, LENGTH, pack=pack, max_segments=4, token_type_ids=True, extra_features=EXTRA, **kwargs
    )
    assert {k: (v.shape, np.dtype(v.dtype)) for k, v in shapes.items()} == {k: (v.shape, v.dtype) for k, v in real.items()}


def test_abstract_batch_refuses_what_the_converter_refuses():
    with pytest.raises(ConfigError, match="packs label kinds"):
        abstract_batch("span", ROWS, LENGTH, pack=True)
    with pytest.raises(ConfigError, match="num_choices"):
        abstract_batch("choice", ROWS, LENGTH)
