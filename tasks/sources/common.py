"""The canonical schemas every source maps onto, `SourceSpec`, and helpers shared by the source families."""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import seqio
import tensorflow as tf

from xstilts_jax.errors import ConfigError

Canonicalize = Callable[[tf.data.Dataset], tf.data.Dataset]

PAIR, CHOICE, TAGS, QA = "pair", "choice", "tags", "qa"

SCHEMAS: Mapping[str, Mapping[str, tf.TensorSpec]] = {
    PAIR: {
        "idx": tf.TensorSpec([], tf.int32),
        "text_a": tf.TensorSpec([], tf.string),
        "text_b": tf.TensorSpec([], tf.string),
        "label": tf.TensorSpec([], tf.int32),
    },
    CHOICE: {
        "idx": tf.TensorSpec([], tf.int32),
        "context": tf.TensorSpec([], tf.string),
        "choices": tf.TensorSpec([None], tf.string),  # static [C] in each dataset
        "label": tf.TensorSpec([], tf.int32),
    },
    TAGS: {
        "idx": tf.TensorSpec([], tf.int32),
        "tokens": tf.TensorSpec([None], tf.string),
        "tags": tf.TensorSpec([None], tf.string),
    },
    QA: {
        "idx": tf.TensorSpec([], tf.int32),
        "id": tf.TensorSpec([], tf.string),
        "question": tf.TensorSpec([], tf.string),
        "context": tf.TensorSpec([], tf.string),
        "answers": tf.TensorSpec([None], tf.string),  # [] = no answer (SQuAD 2.0)
        "answer_starts": tf.TensorSpec([None], tf.int32),  # character offsets into context
    },
}


def choice_names(num_choices: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(num_choices))


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """A data source, how to map it onto a canonical schema, and what the README says about it."""

    source: seqio.DataSource
    canonicalize: Canonicalize
    schema: str
    label_names: tuple[str, ...]
    splits: Mapping[str, str]
    citation: str
    license: str
    how_to_obtain: str
    allow_no_answer: bool = False  # "qa" schema: unanswerable questions exist (SQuAD 2.0)


def canonical(to_schema: Callable[[dict], dict], num_labels: int | None = None) -> Canonicalize:
    """Number the raw examples, map them with `to_schema` and, given `num_labels`, drop unlabelled ones."""

    def canonicalize(ds: tf.data.Dataset) -> tf.data.Dataset:
        ds = ds.enumerate().map(
            lambda i, ex: {"idx": tf.cast(i, tf.int32), **to_schema(ex)}, num_parallel_calls=tf.data.AUTOTUNE
        )
        if num_labels is None:
            return ds
        # Test splits without public labels (-1) and SNLI's "no gold label" (-1) are out of range.
        return ds.filter(lambda ex: (ex["label"] >= 0) & (ex["label"] < num_labels))

    return canonicalize


def from_tfds(name: str, splits: Mapping[str, str]) -> seqio.TfdsDataSource:
    return seqio.TfdsDataSource(tfds_name=name, splits=dict(splits))


def how_tfds(name: str) -> str:
    return f"TFDS `{name}`: downloaded and prepared on first use, or ahead of time with `xstilts-jax prepare <task>`."


def check_lang(task: str, lang: str, langs: Sequence[str]) -> None:
    if lang not in langs:
        raise ConfigError(f"{task}: unknown language {lang!r}; available: {', '.join(langs)}.")
