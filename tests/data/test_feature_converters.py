"""Feature converters: padded and packed rows, their contracts, and model equality between them."""

from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest
import seqio
import tensorflow as tf
from flax import nnx

from xstilts_jax.data.feature_converters import PackedEncoderFeatureConverter, PaddedEncoderFeatureConverter
from xstilts_jax.errors import ConfigError
from xstilts_jax.models import HeadSpec, Model, build_model
from xstilts_jax.models.encoder import positions_from_segments

BOS, EOS, PAD = 0, 2, 1  # XLM-R: `<s>` is 0, so padding must not be read as 0

Example = dict[str, Any]


def _spec(value: Any) -> tf.TypeSpec:
    if isinstance(value, int):
        return tf.TensorSpec([], tf.int32)
    if value and isinstance(value[0], list):
        return tf.RaggedTensorSpec([None, None], tf.int32)
    return tf.TensorSpec([None], tf.int32)


def _dataset(examples: list[Example]) -> tf.data.Dataset:
    signature = {k: _spec(v) for k, v in examples[0].items()}

    def gen():
        for ex in examples:
            yield {k: tf.ragged.constant(v, tf.int32) if _spec(v).shape.rank == 2 else v for k, v in ex.items()}

    return tf.data.Dataset.from_generator(gen, output_signature=signature)


def _convert(converter: seqio.FeatureConverter, examples: list[Example], length: int) -> list[dict[str, np.ndarray]]:
    return list(converter(_dataset(examples), {"inputs": length}).as_numpy_iterator())


def _sentence(rng: np.random.Generator, n: int) -> list[int]:
    """`<s> w1 .. wn </s>` with ids that avoid the special ids."""
    return [BOS, *rng.integers(3, 128, size=n).tolist(), EOS]


def _tags(rng: np.random.Generator, n: int) -> list[int]:
    """Tags for `_sentence(n)`: -1 on the specials and on some non-first subwords."""
    tags = np.where(rng.random(n) < 0.3, -1, rng.integers(0, 5, size=n))
    return [-1, *tags.tolist(), -1]


def test_padded_class_pads_with_pad_id_and_keeps_bos():
    examples = [
        {"inputs": [BOS, 5, 6, EOS], "token_type_ids": [0, 0, 1, 1], "targets": 2, "idx": 7},
        {"inputs": [BOS, 9, EOS], "token_type_ids": [0, 1, 1], "targets": 0, "idx": 8},
    ]
    conv = PaddedEncoderFeatureConverter(PAD, "class", token_type_ids=True, extra_features=["idx"])
    first, second = _convert(conv, examples, 6)
    assert set(first) == {"input_ids", "segment_ids", "token_type_ids", "labels", "idx"}
    assert all(v.dtype == np.int32 for v in first.values())
    np.testing.assert_array_equal(first["input_ids"], [BOS, 5, 6, EOS, PAD, PAD])
    np.testing.assert_array_equal(first["segment_ids"], [1, 1, 1, 1, 0, 0])
    np.testing.assert_array_equal(first["token_type_ids"], [0, 0, 1, 1, 0, 0])
    assert (first["labels"], first["idx"]) == (2, 7)
    np.testing.assert_array_equal(second["input_ids"], [BOS, 9, EOS, PAD, PAD, PAD])
    assert (second["labels"], second["idx"]) == (0, 8)


def test_bert_pad_id_zero():
    conv = PaddedEncoderFeatureConverter(0, "class")
    (row,) = _convert(conv, [{"inputs": [101, 7, 102], "targets": 1}], 5)
    np.testing.assert_array_equal(row["input_ids"], [101, 7, 102, 0, 0])
    np.testing.assert_array_equal(row["segment_ids"], [1, 1, 1, 0, 0])


def test_class_truncation_keeps_the_final_special_token():
    ids = [BOS, 10, 11, 12, 13, 14, 15, EOS]
    types = [0, 0, 0, 0, 1, 1, 1, 1]
    conv = PaddedEncoderFeatureConverter(PAD, "class", token_type_ids=True)
    (row,) = _convert(conv, [{"inputs": ids, "token_type_ids": types, "targets": 1}], 5)
    np.testing.assert_array_equal(row["input_ids"], [BOS, 10, 11, 12, EOS])
    np.testing.assert_array_equal(row["token_type_ids"], [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(row["segment_ids"], [1, 1, 1, 1, 1])
    (exact,) = _convert(conv, [{"inputs": ids[:5], "token_type_ids": types[:5], "targets": 1}], 5)
    np.testing.assert_array_equal(exact["input_ids"], ids[:5])


def test_choice_pads_and_truncates_each_choice():
    choices = [[BOS, 5, 6, 7, 8, 9, EOS], [BOS, 5, EOS], [BOS, 3, 4, EOS]]
    conv = PaddedEncoderFeatureConverter(PAD, "choice", num_choices=3, extra_features=["idx"])
    (row,) = _convert(conv, [{"inputs": choices, "targets": 1, "idx": 4}], 5)
    assert row["input_ids"].shape == row["segment_ids"].shape == (3, 5)
    np.testing.assert_array_equal(
        row["input_ids"], [[BOS, 5, 6, 7, EOS], [BOS, 5, EOS, PAD, PAD], [BOS, 3, 4, EOS, PAD]]
    )
    np.testing.assert_array_equal(row["segment_ids"], [[1] * 5, [1, 1, 1, 0, 0], [1, 1, 1, 1, 0]])
    assert (row["labels"].shape, row["labels"], row["idx"]) == ((), 1, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_choices=3"):
        _convert(conv, [{"inputs": choices[:2], "targets": 0, "idx": 0}], 5)


@pytest.mark.parametrize("kind", ["tags", "tokens"])  # "tokens": per-token labels (MLM), same layout
def test_tags_pad_labels_with_minus_one_and_refuse_long_sentences(kind):
    conv = PaddedEncoderFeatureConverter(PAD, kind)
    (row,) = _convert(conv, [{"inputs": [BOS, 5, 6, EOS], "targets": [-1, 0, 3, -1]}], 6)
    np.testing.assert_array_equal(row["input_ids"], [BOS, 5, 6, EOS, PAD, PAD])
    np.testing.assert_array_equal(row["labels"], [-1, 0, 3, -1, -1, -1])
    assert row["labels"].dtype == np.int32
    long = {"inputs": [BOS, *range(3, 10), EOS], "targets": [-1, *range(7), -1]}
    with pytest.raises(tf.errors.InvalidArgumentError, match="split long examples upstream"):
        _convert(conv, [long], 6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="not aligned"):
        _convert(conv, [{"inputs": [BOS, 5, EOS], "targets": [-1, 0]}], 6)


def test_span_positions_and_too_long_error():
    conv = PaddedEncoderFeatureConverter(PAD, "span")
    (row,) = _convert(conv, [{"inputs": [BOS, 5, 6, 7, EOS], "start_positions": 1, "end_positions": 2}], 8)
    assert set(row) == {"input_ids", "segment_ids", "start_positions", "end_positions"}
    assert (row["start_positions"].shape, row["start_positions"], row["end_positions"]) == ((), 1, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="span"):
        _convert(conv, [{"inputs": [BOS, *range(3, 12), EOS], "start_positions": 1, "end_positions": 2}], 8)


def test_model_feature_lengths():
    padded = PaddedEncoderFeatureConverter(PAD, "class", extra_features=["idx"])
    assert padded.get_model_feature_lengths({"inputs": 32}) == {
        "input_ids": 32, "segment_ids": 32, "labels": None, "idx": None
    }
    packed = PackedEncoderFeatureConverter(PAD, "class", 4, extra_features=["idx"])
    assert packed.get_model_feature_lengths({"inputs": 32}) == {
        "input_ids": 32, "segment_ids": 32, "positions": 32, "labels": 4, "cls_positions": 4, "idx": 4
    }
    tags = PackedEncoderFeatureConverter(PAD, "tags", 4, token_type_ids=True)
    assert tags.get_model_feature_lengths({"inputs": 32}) == {
        "input_ids": 32, "token_type_ids": 32, "labels": 32, "segment_ids": 32, "positions": 32
    }


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: PaddedEncoderFeatureConverter(PAD, "regression"), "unknown label_kind"),
        (lambda: PaddedEncoderFeatureConverter(PAD, "class", pack=True), "PackedEncoderFeatureConverter"),
        (lambda: PaddedEncoderFeatureConverter(PAD, "choice"), "num_choices"),
        (lambda: PaddedEncoderFeatureConverter(PAD, "class", num_choices=2), "num_choices"),
        (lambda: PaddedEncoderFeatureConverter(PAD, "class", extra_features=["labels"]), "rename"),
        (lambda: PackedEncoderFeatureConverter(PAD, "span", 4), "PaddedEncoderFeatureConverter"),
        (lambda: PackedEncoderFeatureConverter(PAD, "class", 0), "max_segments"),
    ],
)
def test_config_errors(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


def _class_examples(lengths: list[int], seed: int = 0) -> list[Example]:
    rng = np.random.default_rng(seed)
    return [{"inputs": _sentence(rng, n), "targets": i % 3, "idx": i} for i, n in enumerate(lengths)]


def test_packing_keeps_examples_whole_and_respects_max_segments():
    examples = _class_examples([3, 10, 1, 7, 12, 2, 5, 9, 4, 6, 8, 11] * 3)
    rows = _convert(PackedEncoderFeatureConverter(PAD, "class", 4, extra_features=["idx"]), examples, 24)
    seen = []
    for row in rows:
        seg, ids, pos = row["segment_ids"], row["input_ids"], row["positions"]
        n_seg = seg.max()
        assert 1 <= n_seg <= 4
        np.testing.assert_array_equal(np.unique(seg[seg > 0]), np.arange(1, n_seg + 1))
        assert (ids[seg == 0] == PAD).all() and (pos[seg == 0] == PAD).all()
        for j in range(4):
            if j >= n_seg:
                assert (row["labels"][j], row["idx"][j], row["cls_positions"][j]) == (-1, -1, 0)
                continue
            tokens = np.flatnonzero(seg == j + 1)
            np.testing.assert_array_equal(tokens, np.arange(tokens[0], tokens[-1] + 1))  # contiguous
            assert row["cls_positions"][j] == tokens[0]
            np.testing.assert_array_equal(pos[tokens], np.arange(len(tokens)) + PAD + 1)  # XLM-R offset 2
            ex = examples[row["idx"][j]]
            np.testing.assert_array_equal(ids[tokens], ex["inputs"])  # whole, never split
            assert row["labels"][j] == ex["targets"]
            seen.append(row["idx"][j])
    assert seen == list(range(len(examples)))  # every example once, in order


@pytest.mark.parametrize("kind", ["tags", "tokens"])
def test_packed_tags_align_labels_and_carry_extras(kind):
    rng = np.random.default_rng(1)
    examples = [
        {"inputs": _sentence(rng, n), "token_type_ids": [0] * (n + 2), "targets": _tags(rng, n), "idx": i}
        for i, n in enumerate([4, 9, 2, 6, 3])
    ]
    conv = PackedEncoderFeatureConverter(PAD, kind, 3, token_type_ids=True, extra_features=["idx"])
    rows = _convert(conv, examples, 16)
    assert set(rows[0]) == {"input_ids", "token_type_ids", "labels", "segment_ids", "positions", "idx"}
    for row in rows:
        seg = row["segment_ids"]
        assert seg.max() <= 3 and (row["labels"][seg == 0] == -1).all()
        for j in range(seg.max()):
            ex = examples[row["idx"][j]]
            np.testing.assert_array_equal(row["labels"][seg == j + 1], ex["targets"])
            np.testing.assert_array_equal(row["input_ids"][seg == j + 1], ex["inputs"])
    long = {"inputs": _sentence(rng, 20), "token_type_ids": [0] * 22, "targets": _tags(rng, 20), "idx": 9}
    with pytest.raises(tf.errors.InvalidArgumentError, match="split long examples upstream"):
        _convert(conv, [long], 16)


def test_pack_false_gives_padded_rows():
    examples = _class_examples([3, 7, 1])
    unpacked = PackedEncoderFeatureConverter(PAD, "class", 4, extra_features=["idx"], pack=False)
    packed_off = _convert(unpacked, examples, 12)
    padded = _convert(PaddedEncoderFeatureConverter(PAD, "class", extra_features=["idx"]), examples, 12)
    assert len(packed_off) == len(padded) == 3
    for a, b in zip(packed_off, padded):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_packing_efficiency_on_skewed_lengths():
    rng = np.random.default_rng(0)
    # Mostly short sentences, a long tail (as in XNLI / PAN-X after tokenization).
    lengths = np.minimum(rng.lognormal(mean=2.3, sigma=0.6, size=400).astype(int) + 1, 100).tolist()
    examples = _class_examples(lengths)
    length = 128
    packed = _convert(PackedEncoderFeatureConverter(PAD, "class", 16), examples, length)
    padded = _convert(PaddedEncoderFeatureConverter(PAD, "class"), examples, length)
    tokens = sum(n + 2 for n in lengths)
    assert sum(int((r["segment_ids"] > 0).sum()) for r in packed) == tokens
    efficiency = tokens / (len(packed) * length)
    padded_efficiency = tokens / (len(padded) * length)
    report = f"packed {efficiency:.3f} ({len(packed)} rows), padded {padded_efficiency:.3f} ({len(padded)} rows)"
    assert efficiency > 0.8, report
    assert padded_efficiency < 0.2 and len(packed) * 4 < len(padded), report


def test_seqio_get_dataset_with_a_task():
    examples = _class_examples([3, 6, 2, 5, 1, 4])
    source = seqio.FunctionDataSource(lambda split, shuffle_files, seed=None: _dataset(examples), splits=["train"])
    vocab = seqio.PassThroughVocabulary(128)
    task = seqio.Task(
        "feature_converter_test_task",
        source=source,
        output_features={
            "inputs": seqio.Feature(vocab, add_eos=False),
            "targets": seqio.Feature(vocab, add_eos=False, rank=0),
        },
    )
    conv = PackedEncoderFeatureConverter(PAD, "class", 8)
    ds = seqio.get_dataset(task, {"inputs": 16}, conv, trim_output_features=False, batch_size=2)
    batch = next(ds.as_numpy_iterator())
    assert batch["input_ids"].shape == (2, 16) and batch["labels"].shape == (2, 8)
    assert batch["labels"][0, 0] == examples[0]["targets"]


def _run(model: Model, batch: dict[str, np.ndarray], head: str) -> tuple[np.ndarray, float, int]:
    """Logits, summed loss over valid targets and their count."""

    @nnx.jit
    def run(model: Model, batch: dict[str, jnp.ndarray]):
        outputs = model(batch, head)
        return (outputs["logits"], *model.heads[head].loss(outputs, batch))

    logits, loss, n = run(model, {k: jnp.asarray(v) for k, v in batch.items()})
    return np.asarray(logits), float(loss), int(n)


def _one_batch(converter: seqio.FeatureConverter, examples: list[Example], length: int) -> dict[str, np.ndarray]:
    return next(converter(_dataset(examples), {"inputs": length}).batch(len(examples)).as_numpy_iterator())


def test_packed_rows_give_the_same_model_outputs_as_padded_rows(tiny_config):
    model = build_model(tiny_config, {"c": HeadSpec("classification", 3), "t": HeadSpec("tagging", 5)})
    rng = np.random.default_rng(2)
    lengths = [5, 14, 3, 9, 20, 7, 2, 11]
    sentences = [_sentence(rng, n) for n in lengths]
    cls_examples = [{"inputs": s, "targets": i % 3, "idx": i} for i, s in enumerate(sentences)]
    tag_examples = [
        {"inputs": s, "targets": _tags(rng, n), "idx": i} for i, (s, n) in enumerate(zip(sentences, lengths))
    ]
    offset = tiny_config.position_offset

    padded = _one_batch(PaddedEncoderFeatureConverter(PAD, "class", extra_features=["idx"]), cls_examples, 24)
    packed = _one_batch(
        PackedEncoderFeatureConverter(PAD, "class", 3, position_offset=offset, extra_features=["idx"]), cls_examples, 48
    )
    assert len(packed["input_ids"]) < len(padded["input_ids"])
    np.testing.assert_array_equal(
        packed["positions"], positions_from_segments(jnp.asarray(packed["segment_ids"]), offset, offset - 1)
    )
    pad_logits, pad_loss, pad_n = _run(model, padded, "c")
    pack_logits, pack_loss, pack_n = _run(model, packed, "c")
    assert pack_logits.shape == (len(packed["input_ids"]), 3, 3)
    slots = packed["idx"] >= 0
    np.testing.assert_allclose(pack_logits[slots], pad_logits[packed["idx"][slots]], atol=1e-5)
    assert pad_n == pack_n == len(cls_examples)
    np.testing.assert_allclose(pack_loss, pad_loss, rtol=1e-5)

    padded = _one_batch(PaddedEncoderFeatureConverter(PAD, "tags", extra_features=["idx"]), tag_examples, 24)
    packed = _one_batch(PackedEncoderFeatureConverter(PAD, "tags", 3, extra_features=["idx"]), tag_examples, 48)
    pad_logits, pad_loss, pad_n = _run(model, padded, "t")
    pack_logits, pack_loss, pack_n = _run(model, packed, "t")
    for r, row_idx in enumerate(packed["idx"]):
        for j, i in enumerate(row_idx[row_idx >= 0]):
            tokens = packed["segment_ids"][r] == j + 1
            np.testing.assert_allclose(pack_logits[r, tokens], pad_logits[i, : tokens.sum()], atol=1e-5)
    assert pad_n == pack_n == sum(int((np.array(e["targets"]) >= 0).sum()) for e in tag_examples)
    np.testing.assert_allclose(pack_loss, pad_loss, rtol=1e-5)
