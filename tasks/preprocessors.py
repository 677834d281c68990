"""seqio preprocessors: canonical raw examples → the task features the feature converters take.

Sources (`tasks/sources/`) yield one of three schemas (strings tf.string, ints int32):

  pair    {"idx", "text_a", "text_b", "label"}       ("text_b" absent: one sentence)
  choice  {"idx", "context", "choices" [C], "label"}
  tags    {"idx", "tokens" [n], "tags" [n]}           (tag strings; `label_names` gives ids)

and these preprocessors emit (all int32; `len` is at most `sequence_length["inputs"]`):

  encode_pair     inputs [len], token_type_ids [len], targets [], idx []
  encode_choices  inputs [C, len] and token_type_ids [C, len] (RaggedTensors), targets [], idx []
  encode_tags     inputs [len], token_type_ids [len], targets [len] (tag id on each word's
                  first subword, -1 elsewhere), idx [] (the sentence), word_start [],
                  num_words []: one or more examples per sentence
  add_head_id     head_id [] added to whatever is there

The vocabulary is `output_features["inputs"].vocabulary` (an `EncoderVocabulary` or the
catalog's `ModelVocabulary`); tokenization runs inside the tf.data graph. Register the
"inputs" feature with `add_eos=False` (the special tokens come from here) and read the
dataset with `seqio.get_dataset(..., trim_output_features=False)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import seqio
import tensorflow as tf

from xstilts_jax.data.label_kinds import IGNORE_LABEL
from xstilts_jax.errors import ConfigError

Features = dict[str, tf.Tensor]
OutputFeatures = Mapping[str, seqio.Feature]
Lengths = Mapping[str, int | None] | None

# `[CLS] words [SEP]` / `<s> words </s>`: a tagging input is one segment.
_SINGLE_SEGMENT_SPECIALS = 2
_AUTOTUNE = tf.data.AUTOTUNE


def _vocabulary(output_features: OutputFeatures, fn: str) -> seqio.Vocabulary:
    vocab = output_features["inputs"].vocabulary
    if not hasattr(vocab, "encode_for_model_tf"):
        raise ConfigError(
            f"{fn}: the 'inputs' feature's vocabulary {vocab!r} has no encode_for_model_tf; register the task with "
            "tasks.vocabulary.MODEL_VOCABULARY or an xstilts_jax.data.vocabularies.EncoderVocabulary."
        )
    return vocab


def _inputs_length(sequence_length: Lengths) -> int | None:
    return None if sequence_length is None else sequence_length.get("inputs")


def _require(dataset: tf.data.Dataset, keys: Sequence[str], schema: str, fn: str) -> None:
    missing = [k for k in keys if k not in dataset.element_spec]
    if missing:
        raise ConfigError(
            f"{fn} needs the {schema!r} schema ({list(keys)}); the dataset lacks {missing} "
            f"(it has {sorted(dataset.element_spec)}). Map the source to the canonical schema first."
        )


def _int32(t: tf.Tensor) -> tf.Tensor:
    return tf.cast(t, tf.int32)


def encode_pair(dataset: tf.data.Dataset, output_features: OutputFeatures, sequence_length: Lengths) -> tf.data.Dataset:
    """"pair" examples → `<s> A </s></s> B </s>` / `[CLS] A [SEP] B [SEP]` inputs, longest-first truncated.

    Without "text_b", each example is one sentence (`<s> A </s>`).
    """
    vocab = _vocabulary(output_features, "encode_pair")
    length = _inputs_length(sequence_length)
    _require(dataset, ["idx", "text_a", "label"], "pair", "encode_pair")
    has_b = "text_b" in dataset.element_spec

    def encode(ex: Features) -> Features:
        second = vocab.encode_tf(ex["text_b"]) if has_b else None
        ids, type_ids = vocab.encode_for_model_tf(vocab.encode_tf(ex["text_a"]), second, length)
        return {"inputs": ids, "token_type_ids": type_ids, "targets": _int32(ex["label"]), "idx": _int32(ex["idx"])}

    return dataset.map(encode, num_parallel_calls=_AUTOTUNE)


def encode_choices(
    dataset: tf.data.Dataset, output_features: OutputFeatures, sequence_length: Lengths
) -> tf.data.Dataset:
    """"choice" examples → one row per choice, each the pair (context, choice), longest-first truncated."""
    vocab = _vocabulary(output_features, "encode_choices")
    length = _inputs_length(sequence_length)
    _require(dataset, ["idx", "context", "choices", "label"], "choice", "encode_choices")

    def encode(ex: Features) -> Features:
        choices = vocab.encode_tf(ex["choices"])
        context = vocab.encode_tf(ex["context"])
        contexts = tf.RaggedTensor.from_tensor(
            tf.tile(context[tf.newaxis], [tf.shape(ex["choices"])[0], 1]), row_splits_dtype=choices.row_splits.dtype
        )
        ids, type_ids = vocab.encode_for_model_tf(contexts, choices, length)
        return {"inputs": ids, "token_type_ids": type_ids, "targets": _int32(ex["label"]), "idx": _int32(ex["idx"])}

    return dataset.map(encode, num_parallel_calls=_AUTOTUNE)


def _tag_ids(tags: tf.Tensor, label_names: tuple[str, ...], idx: tf.Tensor) -> tf.Tensor:
    """Index of each tag string in `label_names`; an unknown tag fails the pipeline, naming it."""
    matches = tf.equal(tags[:, tf.newaxis], tf.constant(label_names)[tf.newaxis, :])
    known = tf.reduce_any(matches, axis=1)
    check = tf.debugging.Assert(
        tf.reduce_all(known),
        [
            "encode_tags: unknown tag(s)",
            tf.boolean_mask(tags, ~known),
            "in sentence idx",
            idx,
            f"; the known tags are {list(label_names)}. Fix the source's tags or the task's label_names.",
        ],
        summarize=20,
    )
    with tf.control_dependencies([check]):
        return _int32(tf.argmax(_int32(matches), axis=1))


def _piece_of_word(word_lengths: tf.Tensor, budget: int) -> tf.Tensor:
    """Greedy split at word boundaries: a word opens a new piece when it would overflow `budget`."""

    def step(state: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
        piece, used = state[0], state[1]
        overflow = used + n > budget
        return tf.stack([tf.where(overflow, piece + 1, piece), tf.where(overflow, n, used + n)])

    states = tf.scan(step, word_lengths, initializer=tf.zeros([2], word_lengths.dtype))
    return tf.reshape(states, [-1, 2])[:, 0]


def encode_tags(
    dataset: tf.data.Dataset,
    output_features: OutputFeatures,
    sequence_length: Lengths,
    label_names: Sequence[str],
    split_long: bool = True,
) -> tf.data.Dataset:
    """"tags" examples → token-level inputs with each word's tag on its first subword.

    Each word is tokenized on its own (XLM-R then starts every word with "▁"), as XTREME
    does. A word with no subwords (e.g. only control characters) becomes one unknown
    token, so every word keeps a label. A sentence with more subwords than
    `sequence_length["inputs"] - 2` is, with `split_long`, split at word boundaries into
    several examples (XTREME's behaviour), each with the sentence's "idx", its first
    word's index "word_start" and its "num_words"; `xstilts_jax.evaluation.decoders.tags.
    rejoin_tag_predictions` puts them back together. Without `split_long` the subwords
    are cut at the length (the words whose first subword is cut are dropped; "num_words"
    counts those kept). A None length neither splits nor cuts.
    """
    vocab = _vocabulary(output_features, "encode_tags")
    length = _inputs_length(sequence_length)
    _require(dataset, ["idx", "tokens", "tags"], "tags", "encode_tags")
    names = tuple(label_names)
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"encode_tags: label_names must be non-empty and unique, got {list(names)}.")
    if length is not None and length <= _SINGLE_SEGMENT_SPECIALS:
        raise ConfigError(
            f"encode_tags: sequence_length['inputs']={length} leaves no room for a word beside the "
            f"{_SINGLE_SEGMENT_SPECIALS} special tokens; use a length > {_SINGLE_SEGMENT_SPECIALS}."
        )
    budget = None if length is None else length - _SINGLE_SEGMENT_SPECIALS
    unk, pad = vocab.unk_id, vocab.pad_id

    def pieces(ex: Features) -> Features:
        words, idx = ex["tokens"], _int32(ex["idx"])
        tf.debugging.assert_equal(
            tf.size(words), tf.size(ex["tags"]), message="encode_tags: an example's tokens and tags differ in number"
        )
        tag_ids = _tag_ids(ex["tags"], names, idx)
        # Dense index arithmetic on the flat subwords keeps the traced graph small (ragged
        # ops add validation branches), which matters for catalogs of many tasks.
        subwords = vocab.encode_tf(words)
        flat, lengths = _int32(subwords.flat_values), subwords.row_lengths()
        keep = tf.maximum(lengths, 1)
        if split_long and budget is not None:
            # A single word longer than a whole piece keeps its first `budget` subwords: its
            # label sits on the first one, and the rest of the sentence still fits.
            keep = tf.minimum(keep, budget)
        token_word = tf.repeat(tf.range(tf.size(keep, tf.int64)), keep)
        position = tf.range(tf.size(token_word, tf.int64)) - tf.gather(tf.cumsum(keep, exclusive=True), token_word)
        source = tf.gather(subwords.row_starts(), token_word) + position
        # A word with no subwords reads one past the end: the appended [UNK].
        source = tf.where(position < tf.gather(lengths, token_word), source, tf.size(flat, tf.int64))
        tokens = tf.gather(tf.concat([flat, [unk]], axis=0), source)
        labels = tf.where(position == 0, tf.gather(tag_ids, token_word), IGNORE_LABEL)
        if split_long and budget is not None:
            word_piece = _piece_of_word(keep, budget)
        else:
            word_piece = tf.zeros_like(keep)
            if budget is not None:
                tokens, labels, token_word = tokens[:budget], labels[:budget], token_word[:budget]
        token_piece = tf.gather(word_piece, token_word)
        num_pieces = tf.maximum(tf.reduce_max(tf.concat([[0], word_piece + 1], axis=0)), 1)  # an empty sentence: 1

        def rows(values: tf.Tensor) -> tf.RaggedTensor:
            return tf.RaggedTensor.from_value_rowids(values, token_piece, nrows=num_pieces, validate=False)

        ids, type_ids = vocab.encode_for_model_tf(rows(tokens), None, None)
        ignore = tf.fill([num_pieces, 1], IGNORE_LABEL)
        targets = tf.concat([ignore, rows(labels), ignore], axis=1)
        # A piece holds the words whose first subword it holds; pieces hold consecutive
        # words from word 0, so a piece's first word is the count of words before it.
        num_words = tf.math.unsorted_segment_sum(_int32(labels != IGNORE_LABEL), token_piece, num_pieces)
        return {
            "inputs": ids.to_tensor(pad),
            "token_type_ids": type_ids.to_tensor(0),
            "targets": targets.to_tensor(IGNORE_LABEL),
            "_length": _int32(ids.row_lengths()),
            "idx": tf.fill([num_pieces], idx),
            "word_start": tf.cumsum(num_words, exclusive=True),
            "num_words": num_words,
        }

    def unpad(ex: Features) -> Features:
        out = {k: v for k, v in ex.items() if k != "_length"}
        for k in ("inputs", "token_type_ids", "targets"):
            out[k] = ex[k][: ex["_length"]]
        return out

    return dataset.map(pieces, num_parallel_calls=_AUTOTUNE).unbatch().map(unpad, num_parallel_calls=_AUTOTUNE)


def add_head_id(dataset: tf.data.Dataset, head: str) -> tf.data.Dataset:
    """Adds the scalar int32 "head_id" of `head` (`xstilts_jax.data.task_records.head_id`) to every example."""
    # Imported here: task_records pulls in the model package (JAX), which importing the
    # preprocessors alone should not.
    from xstilts_jax.data.task_records import head_id

    value = head_id(head)
    return dataset.map(lambda ex: {**ex, "head_id": tf.constant(value, tf.int32)}, num_parallel_calls=_AUTOTUNE)
