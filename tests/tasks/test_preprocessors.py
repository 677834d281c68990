"""Task preprocessors, postprocessors and the catalog's model vocabulary, with real XLM-R and BERT vocabularies."""

import functools
import pathlib
import queue
import random
from collections.abc import Callable, Iterator
from typing import Any

import gin
import numpy as np
import pytest
import seqio
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vocab_fixtures import LINES

from tasks import preprocessors, vocabulary
from xstilts_jax.evaluation.decoders import tags as postprocessors
from xstilts_jax.data.feature_converters import PaddedEncoderFeatureConverter
from xstilts_jax.data.task_records import head_id
from xstilts_jax.data.vocabularies import EncoderVocabulary, load_vocabulary
from xstilts_jax.errors import ConfigError, InputError

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")
TAGS_SIGNATURE = {
    "idx": tf.TensorSpec([], tf.int32),
    "tokens": tf.TensorSpec([None], tf.string),
    "tags": tf.TensorSpec([None], tf.string),
}
Example = dict[str, Any]
Sentences = list[tuple[list[str], list[str]]]  # (words, tag strings) per sentence
EncodeTags = Callable[..., Callable[[Sentences], list[Example]]]


@pytest.fixture(scope="module", params=["xlmr", "bert"])
def vocab(request: pytest.FixtureRequest, spm_dir: pathlib.Path, bert_dir: pathlib.Path) -> EncoderVocabulary:
    return load_vocabulary(spm_dir if request.param == "xlmr" else bert_dir)


@pytest.fixture
def fresh_model_vocabulary(monkeypatch: pytest.MonkeyPatch):
    """No vocabulary directory from the environment, and nothing loaded before or after the test."""
    monkeypatch.delenv(vocabulary.ENV_VAR, raising=False)
    vocabulary.reset()
    yield
    vocabulary.reset()


def _features(vocab: seqio.Vocabulary) -> dict[str, seqio.Feature]:
    return {"inputs": seqio.Feature(vocab, add_eos=False)}


def _run(ds: tf.data.Dataset) -> list[Example]:
    return list(ds.as_numpy_iterator())


def _tags_dataset(sentences: Sentences) -> tf.data.Dataset:
    examples = [{"idx": i, "tokens": words, "tags": tags} for i, (words, tags) in enumerate(sentences)]
    return tf.data.Dataset.from_generator(lambda: iter(examples), output_signature=TAGS_SIGNATURE)


def _tagged(lines: list[str], seed: int = 0) -> Sentences:
    rng = random.Random(seed)
    return [(line.split(), [rng.choice(LABELS) for _ in line.split()]) for line in lines]


def _word_ids(vocab: EncoderVocabulary, word: str) -> list[int]:
    """A word's subwords as `encode_tags` must produce them: encoded alone, [UNK] when empty."""
    return list(vocab.encode(word)) or [vocab.unk_id]


# --- encode_for_model_tf ---


def test_encode_for_model_tf_equals_python(vocab: EncoderVocabulary) -> None:
    # Sample lines of all lengths paired with shorter, longer and empty ones.
    firsts = LINES[0:180:6] + ["", ""]
    seconds = LINES[1:180:6] + ["", "x"]
    first, second = vocab.encode_tf(tf.constant(firsts)), vocab.encode_tf(tf.constant(seconds))
    for max_length in (None, 4, 7, 12, 33):
        ids, type_ids = vocab.encode_for_model_tf(first, second, max_length)
        expected = [vocab.encode_for_model(a, b, max_length) for a, b in zip(firsts, seconds)]
        assert list(zip(ids.to_list(), type_ids.to_list())) == [(e[0], e[1]) for e in expected], max_length
    for max_length in (None, 5):
        ids, type_ids = vocab.encode_for_model_tf(first, None, max_length)
        assert ids.to_list() == [vocab.encode_for_model(a, None, max_length)[0] for a in firsts]
        assert type_ids.flat_values.numpy().max() == 0
    # One unbatched pair, traced inside a tf.data map.
    ds = tf.data.Dataset.from_tensor_slices((firsts[:20], seconds[:20])).map(
        lambda a, b: vocab.encode_for_model_tf(vocab.encode_tf(a), vocab.encode_tf(b), 11)
    )
    assert [(list(i), list(t)) for i, t in ds.as_numpy_iterator()] == [
        vocab.encode_for_model(a, b, 11) for a, b in zip(firsts[:20], seconds[:20])
    ]
    with pytest.raises(InputError, match="max_length=2 cannot hold"):
        vocab.encode_for_model_tf(first, second, 2)


# --- encode_pair / encode_choices ---


def test_encode_pair_equals_encode_for_model(vocab: EncoderVocabulary) -> None:
    a, b = LINES[:16], LINES[16:32]
    source = {"idx": list(range(16)), "text_a": a, "text_b": b, "label": [i % 3 for i in range(16)]}
    ds = tf.data.Dataset.from_tensor_slices(source)
    out = _run(preprocessors.encode_pair(ds, _features(vocab), {"inputs": 13}))
    assert len(out) == 16
    for i, ex in enumerate(out):
        assert set(ex) == {"inputs", "token_type_ids", "targets", "idx"}
        assert all(np.asarray(v).dtype == np.int32 for v in ex.values())
        ids, type_ids = vocab.encode_for_model(a[i], b[i], 13)
        assert (list(ex["inputs"]), list(ex["token_type_ids"])) == (ids, type_ids)
        assert (ex["targets"], ex["idx"]) == (i % 3, i)
    assert max(len(ex["inputs"]) for ex in out) == 13  # truncated
    # Without "text_b", one sentence; no length, no truncation.
    single = tf.data.Dataset.from_tensor_slices({k: v for k, v in source.items() if k != "text_b"})
    out = _run(preprocessors.encode_pair(single, _features(vocab), None))
    assert [list(ex["inputs"]) for ex in out] == [vocab.encode_for_model(t)[0] for t in a]


def test_encode_choices_rows_are_pairs(vocab: EncoderVocabulary) -> None:
    contexts = LINES[60:64]
    choices = [[LINES[i], "", LINES[i + 1][:12]] for i in range(70, 74)]
    source = {"idx": [5, 6, 7, 8], "context": contexts, "choices": choices, "label": [2, 0, 1, 2]}
    ds = tf.data.Dataset.from_tensor_slices(source)
    converted = preprocessors.encode_choices(ds, _features(vocab), {"inputs": 20})
    assert isinstance(converted.element_spec["inputs"], tf.RaggedTensorSpec)
    assert converted.element_spec["inputs"].shape.rank == 2
    for ex, context, row_choices, label in zip(_run(converted), contexts, choices, [2, 0, 1, 2]):
        assert ex["inputs"].shape[0] == 3  # [C, len]: one row per choice
        for row, types, choice in zip(ex["inputs"], ex["token_type_ids"], row_choices):
            assert (list(row), list(types)) == vocab.encode_for_model(context, choice, 20)
            assert len(row) <= 20
        assert ex["targets"] == label and ex["inputs"].dtype == np.int32


def test_preprocessors_name_missing_schema_fields(vocab: EncoderVocabulary) -> None:
    ds = tf.data.Dataset.from_tensor_slices({"idx": [0], "sentence": ["x"], "label": [0]})
    with pytest.raises(ConfigError, match=r"encode_pair needs the 'pair' schema.*lacks \['text_a'\]"):
        preprocessors.encode_pair(ds, _features(vocab), {"inputs": 8})
    with pytest.raises(ConfigError, match="has no encode_for_model_tf"):
        preprocessors.encode_pair(ds, {"inputs": seqio.Feature(seqio.PassThroughVocabulary(5))}, {"inputs": 8})


# --- encode_tags ---


class _TagFeed:
    """An encode_tags pipeline kept open and fed through a queue.

    Building a tf.data pipeline, or even an iterator over one, costs far more than running
    it; tests run many small batches of sentences through a few long-lived iterators.
    """

    _END = {"idx": -1, "tokens": [], "tags": []}  # an empty sentence: exactly one piece

    def __init__(self, vocab: EncoderVocabulary, length: int, split_long: bool) -> None:
        self._queue: queue.Queue = queue.Queue()
        source = tf.data.Dataset.from_generator(lambda: iter(self._queue.get, None), output_signature=TAGS_SIGNATURE)
        encoded = preprocessors.encode_tags(source, _features(vocab), {"inputs": length}, LABELS, split_long=split_long)
        # Without autotuning the iterator has no model thread, which can hold up its
        # destruction (and so the interpreter's exit) for tens of seconds.
        options = tf.data.Options()
        options.autotune.enabled = False
        self._iterator = encoded.with_options(options).as_numpy_iterator()

    def run(self, sentences: Sentences) -> list[Example]:
        """The pieces of `sentences` (idx = position in the list), in pipeline order."""
        for i, (words, tags) in enumerate(sentences):
            self._queue.put({"idx": i, "tokens": words, "tags": tags})
        self._queue.put(self._END)
        pieces = []
        while (piece := next(self._iterator))["idx"] != -1:
            pieces.append(piece)
        return pieces

    def close(self) -> None:
        """Ends the source and drains the pipeline, so no tf.data thread waits on the queue."""
        self._queue.put(None)
        assert list(self._iterator) == []
        del self._iterator


@pytest.fixture(scope="module")
def encode_tags_with() -> Iterator[EncodeTags]:
    """`encode_tags_with(vocab, length, split_long=True)(sentences)`: pipelines built once per module."""
    feeds: dict[tuple[int, int, bool], _TagFeed] = {}

    def get(vocab: EncoderVocabulary, length: int, split_long: bool = True) -> Callable[[Sentences], list[Example]]:
        key = (id(vocab), length, split_long)
        if key not in feeds:
            feeds[key] = _TagFeed(vocab, length, split_long)
        return feeds[key].run

    yield get
    for feed in feeds.values():
        feed.close()


def _expected_tokens(
    vocab: EncoderVocabulary, words: list[str], tags: list[str], budget: int
) -> tuple[list[int], list[int]]:
    """Subword ids and labels of a sentence as `encode_tags` must produce them, specials left out."""
    ids, labels = [], []
    for word, tag in zip(words, tags):
        pieces = _word_ids(vocab, word)[:budget]
        ids += pieces
        labels += [LABELS.index(tag)] + [-1] * (len(pieces) - 1)
    return ids, labels


def test_tags_label_first_subwords_of_words_encoded_alone(vocab: EncoderVocabulary, encode_tags_with: EncodeTags) -> None:
    empty_words = ["", " ", "\u200b"]
    assert all(list(vocab.encode(w)) == [] for w in empty_words)
    sentences = _tagged(LINES[:25]) + [(["a", *empty_words, "b"], ["O", "B-PER", "I-PER", "O", "B-LOC"])]
    out = encode_tags_with(vocab, 4096)(sentences)
    assert len(out) == len(sentences)  # nothing to split
    for ex, (words, tags) in zip(out, sentences):
        ids, labels = _expected_tokens(vocab, words, tags, 4096)
        assert list(ex["inputs"]) == [vocab.bos_id, *ids, vocab.eos_id]
        assert list(ex["targets"]) == [-1, *labels, -1]
        assert list(ex["token_type_ids"]) == [0] * (len(ids) + 2)
        assert int((ex["targets"] != -1).sum()) == len(words) == ex["num_words"]
        assert ex["word_start"] == 0
        assert set(ex) == {"inputs", "token_type_ids", "targets", "idx", "word_start", "num_words"}
        assert all(np.asarray(v).dtype == np.int32 for v in ex.values())
    # Words with no subwords are scored on one [UNK] each.
    start = 1 + len(_word_ids(vocab, "a"))
    assert list(out[-1]["inputs"][start : start + 3]) == [vocab.unk_id] * 3
    assert list(out[-1]["targets"][start : start + 3]) == [1, 2, 0]


@pytest.mark.parametrize("length", [5, 13])
def test_tags_split_at_word_boundaries(vocab: EncoderVocabulary, encode_tags_with: EncodeTags, length: int) -> None:
    sentences = _tagged(LINES[30:50], seed=1)
    pieces = encode_tags_with(vocab, length)(sentences)
    assert [p["idx"] for p in pieces] == sorted(p["idx"] for p in pieces)  # order kept
    assert len(pieces) > len(sentences)
    budget = length - 2
    for idx, (words, tags) in enumerate(sentences):
        own = [p for p in pieces if p["idx"] == idx]
        assert [p["word_start"] for p in own] == list(np.cumsum([0] + [p["num_words"] for p in own[:-1]]))
        assert sum(p["num_words"] for p in own) == len(words)
        for p in own:
            assert len(p["inputs"]) <= length
            assert (p["inputs"][0], p["inputs"][-1]) == (vocab.bos_id, vocab.eos_id)
            assert p["targets"][1] != -1  # a piece starts at a word
            assert int((p["targets"] != -1).sum()) == p["num_words"]
            first_word = _word_ids(vocab, words[p["word_start"]])[:budget]
            assert p["inputs"][1 : 1 + len(first_word)].tolist() == first_word
        # Words are whole in their piece, unless longer than a piece: then cut to one.
        ids, labels = _expected_tokens(vocab, words, tags, budget)
        assert np.concatenate([p["inputs"][1:-1] for p in own]).tolist() == ids
        assert np.concatenate([p["targets"][1:-1] for p in own]).tolist() == labels


def test_tags_long_word_and_truncation_option(vocab: EncoderVocabulary, encode_tags_with: EncodeTags) -> None:
    long_word = "".join(LINES[0].split())
    long_ids = _word_ids(vocab, long_word)
    assert len(long_ids) > 3
    pieces = encode_tags_with(vocab, 5)([(["a", long_word, "b"], ["O", "B-LOC", "O"])])
    assert [(p["word_start"], p["num_words"]) for p in pieces] == [(0, 1), (1, 1), (2, 1)]
    assert list(pieces[1]["inputs"]) == [vocab.bos_id, *long_ids[:3], vocab.eos_id]  # cut to the 3 free slots
    assert list(pieces[1]["targets"]) == [-1, LABELS.index("B-LOC"), -1, -1, -1]

    sentences = _tagged(LINES[50:60], seed=2)
    cut = encode_tags_with(vocab, 10, split_long=False)(sentences)
    assert len(cut) == len(sentences)
    for c, (words, tags) in zip(cut, sentences):
        ids, labels = _expected_tokens(vocab, words, tags, 4096)
        assert c["inputs"].tolist() == [vocab.bos_id, *ids[:8], vocab.eos_id]
        assert c["targets"].tolist() == [-1, *labels[:8], -1]
        assert c["num_words"] == sum(label != -1 for label in labels[:8]) and c["word_start"] == 0


def test_tags_errors(vocab: EncoderVocabulary) -> None:
    features = _features(vocab)
    bad = _tags_dataset([(["a", "b"], ["O", "B-ORG"])])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"unknown tag.*B-ORG.*sentence idx.*O.*B-PER.*I-LOC"):
        _run(preprocessors.encode_tags(bad, features, {"inputs": 16}, LABELS))
    mismatched = _tags_dataset([(["a", "b"], ["O"])])
    with pytest.raises(tf.errors.InvalidArgumentError, match="tokens and tags differ in number"):
        _run(preprocessors.encode_tags(mismatched, features, {"inputs": 16}, LABELS))
    with pytest.raises(ConfigError, match="unique"):
        preprocessors.encode_tags(bad, features, {"inputs": 16}, ["O", "O"])
    with pytest.raises(ConfigError, match="leaves no room"):
        preprocessors.encode_tags(bad, features, {"inputs": 2}, LABELS)


# Random words: any Unicode (control and format characters, which some tokenizers drop,
# included), plus Chinese, Thai and Arabic text and combining marks.
_CHARS = st.characters(codec="utf-8") | st.sampled_from("东京漢字猫สวัสดีครับ" + "مرحبا بالعالم" + "\x00\u200b\u0301é")
_SENTENCE = st.lists(st.text(_CHARS, max_size=12), max_size=14).flatmap(
    lambda words: st.tuples(st.just(words), st.lists(st.sampled_from(LABELS), min_size=len(words), max_size=len(words)))
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentences=st.lists(_SENTENCE, min_size=1, max_size=4), length=st.sampled_from([3, 5, 13]))
def test_split_then_rejoin_restores_words(
    vocab: EncoderVocabulary, encode_tags_with: EncodeTags, sentences: Sentences, length: int
) -> None:
    pieces = encode_tags_with(vocab, length)(sentences)
    random.Random(length).shuffle(pieces)  # rejoining must not depend on the order
    records = []
    for p in pieces:
        assert len(p["inputs"]) <= length
        gold = postprocessors.first_subword_predictions(p["targets"], p["targets"])
        assert len(gold) == p["num_words"]
        records.append({**p, "word_predictions": gold})
    rejoined = postprocessors.rejoin_tag_predictions(records)
    assert rejoined == {i: [LABELS.index(t) for t in tags] for i, (_, tags) in enumerate(sentences)}


# --- add_head_id and seqio end to end ---


def test_add_head_id() -> None:
    ds = tf.data.Dataset.from_tensor_slices({"idx": [3, 4]})
    out = _run(preprocessors.add_head_id(ds, "xnli"))
    assert [(ex["idx"], ex["head_id"]) for ex in out] == [(3, head_id("xnli")), (4, head_id("xnli"))]
    assert out[0]["head_id"].dtype == np.int32


def test_pair_task_through_seqio_and_padded_converter(
    spm_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch, fresh_model_vocabulary: None
) -> None:
    monkeypatch.setenv(vocabulary.ENV_VAR, str(spm_dir))
    vocab = load_vocabulary(spm_dir)
    a, b = LINES[100:106], LINES[106:112]

    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
        examples = {"idx": list(range(6)), "text_a": a, "text_b": b, "label": [0, 1, 2, 0, 1, 2]}
        return tf.data.Dataset.from_tensor_slices(examples)

    model_vocab = vocabulary.MODEL_VOCABULARY
    task = seqio.Task(
        "test_preprocessors_pair",
        source=seqio.FunctionDataSource(dataset_fn, splits=["validation"]),
        preprocessors=[preprocessors.encode_pair, functools.partial(preprocessors.add_head_id, head="nli")],
        output_features={
            "inputs": seqio.Feature(model_vocab, add_eos=False),
            "token_type_ids": seqio.Feature(model_vocab, add_eos=False),
            "targets": seqio.Feature(seqio.PassThroughVocabulary(3), add_eos=False, rank=0),
        },
    )
    converter = PaddedEncoderFeatureConverter(
        model_vocab.pad_id, "class", token_type_ids=True, extra_features=("idx", "head_id")
    )
    ds = seqio.get_dataset(
        task, {"inputs": 16}, converter, dataset_split="validation", shuffle=False, trim_output_features=False
    )
    rows = _run(ds)
    assert [r["idx"] for r in rows] == list(range(6))
    for r, first, second in zip(rows, a, b):
        ids, type_ids = vocab.encode_for_model(first, second, 16)
        pad = 16 - len(ids)
        assert r["input_ids"].tolist() == ids + [vocab.pad_id] * pad
        assert r["segment_ids"].tolist() == [1] * len(ids) + [0] * pad
        assert r["token_type_ids"].tolist() == type_ids + [0] * pad
        assert r["head_id"] == head_id("nli") and r["labels"] == r["idx"] % 3


# --- postprocessors ---


def test_rejoin_tag_predictions_orders_and_checks_pieces() -> None:
    pieces = [
        {"idx": 1, "word_start": 2, "num_words": 1, "word_predictions": [7]},
        {"idx": 0, "word_start": 0, "num_words": 2, "word_predictions": np.array([1, 2])},
        {"idx": 1, "word_start": 0, "num_words": 2, "word_predictions": [5, 6]},
        {"idx": 2, "word_start": 0, "num_words": 0, "word_predictions": []},
    ]
    assert postprocessors.rejoin_tag_predictions(pieces) == {0: [1, 2], 1: [5, 6, 7], 2: []}
    gap = [
        {"idx": 4, "word_start": 0, "num_words": 1, "word_predictions": [0]},
        {"idx": 4, "word_start": 2, "num_words": 1, "word_predictions": [0]},
    ]
    with pytest.raises(InputError, match="sentence 4 has a gap at word 1"):
        postprocessors.rejoin_tag_predictions(gap)
    overlap = [pieces[2], {"idx": 1, "word_start": 1, "num_words": 2, "word_predictions": [0, 0]}]
    with pytest.raises(InputError, match="sentence 1 has an overlap"):
        postprocessors.rejoin_tag_predictions(overlap)
    with pytest.raises(InputError, match="sentence 2 has an overlap"):
        postprocessors.rejoin_tag_predictions([pieces[3], pieces[3]])
    with pytest.raises(InputError, match="num_words=2 but 1 word predictions"):
        postprocessors.rejoin_tag_predictions([{"idx": 0, "word_start": 0, "num_words": 2, "word_predictions": [1]}])


def test_first_subword_predictions() -> None:
    assert postprocessors.first_subword_predictions([9, 1, 2, 3, 4, 9], [-1, 0, -1, 3, 3, -1]) == [1, 3, 4]
    assert postprocessors.first_subword_predictions(np.array([5, 5]), np.array([-1, -1])) == []
    with pytest.raises(InputError, match="3 token predictions but 2 labels"):
        postprocessors.first_subword_predictions([1, 2, 3], [0, 0])


# --- the catalog's model vocabulary ---


def test_model_vocabulary_needs_a_directory(fresh_model_vocabulary: None) -> None:
    with pytest.raises(ConfigError) as info:
        vocabulary.MODEL_VOCABULARY.encode("x")
    assert "vocabulary_dir.path" in str(info.value) and vocabulary.ENV_VAR in str(info.value)
    assert "not loaded" in repr(vocabulary.MODEL_VOCABULARY)


def test_model_vocabulary_from_env_and_gin(
    spm_dir: pathlib.Path, bert_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch, fresh_model_vocabulary: None
) -> None:
    xlmr, bert = load_vocabulary(spm_dir), load_vocabulary(bert_dir)
    monkeypatch.setenv(vocabulary.ENV_VAR, str(spm_dir))
    proxy = vocabulary.ModelVocabulary()
    assert proxy.vocabulary == xlmr
    assert (proxy.pad_id, proxy.bos_id, proxy.eos_id, proxy.unk_id) == (1, 0, 2, 3)
    assert (proxy.mask_id, proxy.vocab_size) == (xlmr.mask_id, xlmr.vocab_size)
    assert list(proxy.encode(LINES[0])) == list(xlmr.encode(LINES[0]))
    assert proxy.decode(proxy.encode(LINES[0])) == xlmr.decode(xlmr.encode(LINES[0]))
    assert proxy.encode_tf(tf.constant(LINES[0])).numpy().tolist() == list(xlmr.encode(LINES[0]))
    ids, _ = proxy.encode_for_model_tf(proxy.encode_tf(tf.constant("a b")), None, 8)
    assert ids.numpy().tolist() == proxy.encode_for_model("a b", None, 8)[0]

    # gin wins over the environment; reset() makes the next use load again.
    vocabulary.reset()
    gin.parse_config(f"vocabulary_dir.path = '{bert_dir}'")
    assert vocabulary.MODEL_VOCABULARY.vocabulary == bert
    assert vocabulary.MODEL_VOCABULARY.basic_tokenize("Hello, world") == bert.basic_tokenize("Hello, world")
    assert proxy.pad_id == bert.pad_id  # every instance shares the loaded vocabulary


def test_model_vocabularies_are_equal() -> None:
    assert vocabulary.ModelVocabulary() == vocabulary.MODEL_VOCABULARY
    assert hash(vocabulary.ModelVocabulary()) == hash(vocabulary.MODEL_VOCABULARY)
    assert vocabulary.MODEL_VOCABULARY != seqio.PassThroughVocabulary(3)
