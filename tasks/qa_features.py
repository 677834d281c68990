"""Span QA featurization: (question, context, answers) → model windows with character maps.

Each example becomes one or more windows `<s> question </s></s> context-part </s>` (XLM-R) or
`[CLS] question [SEP] context-part [SEP]` (BERT): the question cut to `max_query_length`
tokens, the context tokenized once with character offsets (`EncoderVocabulary.
encode_with_offsets`) and cut into overlapping parts that advance by `doc_stride` tokens until
the last part reaches the end, so every context token is in some window. A window's label is
the token span of the example's first answer when the answer lies wholly inside the window,
else (0, 0): the first token stands for "no answer" (`SpanHead`). Every window carries, per
token, the character span of the context it came from (-1 for question and special tokens):
span decoding (`xstilts_jax.evaluation.decoders.spans`) cuts its answer text out of the original context
with it, so scripts without spaces (Chinese, Thai) decode exactly.

Features per window (`encode_qa`; all int32 unless noted):
  inputs [len], token_type_ids [len], start_positions [], end_positions [] (-1 = no training
  signal, see `bad_input`), targets [2] (the same two positions, seqio's label feature),
  offsets [len, 2], idx [] (the example), window [] (0, 1, ... within the example),
  allow_no_answer [] (1 for SQuAD 2.0-style data), and tf.string id [], context [], answers [n].
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

import gin
import numpy as np
import tensorflow as tf

from tasks import preprocessors
from xstilts_jax.data.label_kinds import IGNORE_LABEL
from xstilts_jax.data.vocabularies import EncoderVocabulary
from xstilts_jax.errors import ConfigError, InputError

logger = logging.getLogger(__name__)

NO_OFFSET = -1
BAD_INPUT_MODES = ("fail", "skip")


@dataclasses.dataclass(frozen=True)
class QaSettings:
    """Window layout and the policy for bad examples (see `qa_featurization`)."""

    max_length: int
    doc_stride: int = 128
    max_query_length: int = 64
    bad_input: str = "fail"


@gin.configurable
def qa_featurization(doc_stride: int = 128, max_query_length: int = 64, bad_input: str = "fail") -> dict:
    """gin-bound QA window settings, read when a QA dataset is built.

    doc_stride: tokens between the starts of consecutive context windows (XTREME: 128).
    max_query_length: question tokens kept (the rest is cut; HF/XTREME: 64).
    bad_input: "fail" raises on an answer whose text differs from the context at its
    answer_start, an empty gold answer or an empty context; "skip" keeps such an example for evaluation but gives
    its windows no training signal (labels -1) and logs it.
    """
    if bad_input not in BAD_INPUT_MODES:
        raise ConfigError(f"qa_featurization.bad_input must be one of {BAD_INPUT_MODES}, got {bad_input!r}.")
    if doc_stride < 1 or max_query_length < 1:
        raise ConfigError(
            f"qa_featurization: doc_stride and max_query_length must be >= 1, got {doc_stride} and {max_query_length}."
        )
    return {"doc_stride": doc_stride, "max_query_length": max_query_length, "bad_input": bad_input}


@dataclasses.dataclass(frozen=True)
class Window:
    """One model input of a QA example."""

    input_ids: list[int]
    token_type_ids: list[int]
    offsets: list[tuple[int, int]]  # per token: context character span, (-1, -1) outside the context
    start_position: int
    end_position: int


def _answer_problem(context: str, answers: Sequence[tuple[str, int]]) -> str | None:
    """Why the first answer cannot be labelled, or None."""
    if not context.strip():
        return "the context is empty"
    if not answers:
        return None
    text, start = answers[0]
    if not text:
        return (
            f"the gold answer (field 'answers', text at answer_start {start}) is empty, as in QA test files that "
            "xtreme's utils_preprocess.py (remove_qa_test_annotations) stripped; read the original release"
        )
    found = context[start : start + len(text)] if 0 <= start <= len(context) else ""
    if found != text:
        return f"answer text {text!r} does not match the context at answer_start {start} ({found!r})"
    return None


def _context_windows(num_tokens: int, budget: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) token ranges of the context windows: `budget` tokens each, advancing by
    `stride`, the last one reaching the end (one empty window for an empty context)."""
    windows, start = [], 0
    while True:
        end = min(num_tokens, start + budget)
        windows.append((start, end))
        if end >= num_tokens:
            return windows
        start += min(stride, end - start)


def _label(offsets: Sequence[tuple[int, int]], first: int, char_start: int, char_end: int) -> tuple[int, int]:
    """Token positions of the character span [char_start, char_end) among the context tokens at
    positions `first`, first+1, ...; (0, 0) when the window does not hold the whole span."""
    covering = [(p, s, e) for p, (s, e) in enumerate(offsets, start=first) if s < e]
    if not covering or covering[0][1] > char_start or covering[-1][2] < char_end:
        return 0, 0
    start = next(p for p, _, e in covering if e > char_start)
    end = next(p for p, s, _ in reversed(covering) if s < char_end)
    return (start, end) if start <= end else (0, 0)


def featurize(
    vocab: EncoderVocabulary,
    question: str,
    context: str,
    answers: Sequence[tuple[str, int]],
    settings: QaSettings,
    example: str = "",
) -> list[Window]:
    """The windows of one example; `answers` are (text, answer_start) pairs, the first one labelled.

    `example` names the example in errors (task and id).
    """
    problem = _answer_problem(context, answers)
    if problem is not None:
        if settings.bad_input == "fail":
            raise InputError(
                f"{example}: {problem}. Fix the data, or bind gin `qa_featurization.bad_input = 'skip'` to keep "
                "the example for evaluation without a training signal."
            )
        logger.warning("%s: %s; the example gets no training signal.", example, problem)
    query = list(vocab.encode(question))[: settings.max_query_length]
    context_ids, context_offsets = vocab.encode_with_offsets(context)
    specials = len(vocab.join_for_model([], [])[0])
    budget = settings.max_length - len(query) - specials
    if budget < 1:
        raise ConfigError(
            f"{example}: max_length {settings.max_length} leaves no room for the context beside a {len(query)}-token "
            f"question and {specials} special tokens; raise the length or lower qa_featurization.max_query_length."
        )
    windows = []
    for start, end in _context_windows(len(context_ids), budget, settings.doc_stride):
        ids, type_ids = vocab.join_for_model(query, context_ids[start:end])
        first = len(ids) - (end - start) - 1
        offsets = [(NO_OFFSET, NO_OFFSET)] * len(ids)
        offsets[first : first + end - start] = context_offsets[start:end]
        if problem is not None:
            label = (IGNORE_LABEL, IGNORE_LABEL)
        elif not answers:
            label = (0, 0)
        else:
            text, char_start = answers[0]
            label = _label(context_offsets[start:end], first, char_start, char_start + len(text))
        windows.append(Window(ids, type_ids, offsets, *label))
    return windows


def _as_str(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _featurize_arrays(vocab: EncoderVocabulary, settings: QaSettings, task: str) -> Callable[..., tuple[np.ndarray, ...]]:
    """`featurize` on numpy inputs, returning padded arrays (for `tf.numpy_function`)."""

    def run(example_id, question, context, texts, starts):
        answers = [(_as_str(t), int(s)) for t, s in zip(texts, starts)]
        windows = featurize(
            vocab, _as_str(question), _as_str(context), answers, settings, f"{task}: example id {_as_str(example_id)!r}"
        )
        length = max(len(w.input_ids) for w in windows)
        ids = np.full([len(windows), length], vocab.pad_id, np.int32)
        type_ids = np.zeros([len(windows), length], np.int32)
        offsets = np.full([len(windows), length, 2], NO_OFFSET, np.int32)
        for r, w in enumerate(windows):
            ids[r, : len(w.input_ids)] = w.input_ids
            type_ids[r, : len(w.input_ids)] = w.token_type_ids
            offsets[r, : len(w.input_ids)] = w.offsets
        lengths = np.array([len(w.input_ids) for w in windows], np.int32)
        labels = np.array([[w.start_position, w.end_position] for w in windows], np.int32)
        return ids, type_ids, offsets, lengths, labels

    return run


def encode_qa(
    dataset: tf.data.Dataset,
    output_features: preprocessors.OutputFeatures,
    sequence_length: preprocessors.Lengths,
    allow_no_answer: bool,
    task: str,
) -> tf.data.Dataset:
    """"qa" examples ({idx, id, question, context, answers [n], answer_starts [n]}) → one example per
    window with the features of the module docstring; settings from gin `qa_featurization`."""
    vocab = preprocessors._vocabulary(output_features, "encode_qa")
    length = preprocessors._inputs_length(sequence_length)
    if length is None:
        raise ConfigError(f"{task}: QA windows need sequence_length['inputs'] (e.g. 384).")
    preprocessors._require(dataset, ["idx", "id", "question", "context", "answers", "answer_starts"], "qa", "encode_qa")
    settings = QaSettings(max_length=length, **qa_featurization())
    run = _featurize_arrays(vocab, settings, task)

    def windows(ex: dict) -> dict:
        ids, type_ids, offsets, lengths, labels = tf.numpy_function(
            run,
            [ex["id"], ex["question"], ex["context"], ex["answers"], ex["answer_starts"]],
            [tf.int32] * 5,
            stateful=False,
        )
        labels = tf.ensure_shape(labels, [None, 2])
        n = tf.shape(lengths)[0]
        return {
            "inputs": tf.ensure_shape(ids, [None, None]),
            "token_type_ids": tf.ensure_shape(type_ids, [None, None]),
            "offsets": tf.ensure_shape(offsets, [None, None, 2]),
            "_length": tf.ensure_shape(lengths, [None]),
            "targets": labels,
            "start_positions": labels[:, 0],
            "end_positions": labels[:, 1],
            "idx": tf.fill([n], tf.cast(ex["idx"], tf.int32)),
            "window": tf.range(n, dtype=tf.int32),
            "allow_no_answer": tf.fill([n], tf.constant(int(allow_no_answer), tf.int32)),
            "id": tf.fill([n], ex["id"]),
            "context": tf.fill([n], ex["context"]),
            "answers": tf.tile(ex["answers"][tf.newaxis], [n, 1]),
        }

    def unpad(ex: dict) -> dict:
        out = {k: v for k, v in ex.items() if k != "_length"}
        for k in ("inputs", "token_type_ids", "offsets"):
            out[k] = ex[k][: ex["_length"]]
        return out

    return dataset.map(windows).unbatch().map(unpad, num_parallel_calls=tf.data.AUTOTUNE)
