"""Per-language pretraining tasks over mC4, CC-100 and wiki40b, and their α-sampled mixtures.

Tasks `mc4.<lang>`, `cc100.<lang>` and `wiki40b.<lang>` (a '-' in a language code becomes '_':
`cc100.zh_Hans`): documents tokenized, concatenated into one stream with `</s>` after each, cut
into full rows of the input length (`xstilts_jax.data.packing`), then masked as the `mlm` task
masks (`tasks.mlm.mask_tokens`); head `mlm`, label kind `tokens`. Rows are full, so train them
with padded batches (`TrainConfig.pack = False`): packing them again would add nothing.

Mixtures `mc4`, `cc100` and `wiki40b` hold every language of the corpus, sampled with
q_l ∝ n_l^α, α = 0.3 (XLM-R; `alpha:0.3`); they need every language's data. For a subset,
declare a mixture in the experiment's gin with the same rate:

    register_mixtures.mixtures = {'pretrain.cc100_10': ['cc100.en', 'cc100.sw', ...]}
    register_mixtures.rates = {'pretrain.cc100_10': 'alpha:0.3'}
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import seqio
import tensorflow as tf

from tasks import mlm, preprocessors
from tasks.registry import MetricFn, register_mixture, scoring_split
from tasks.sources import corpora
from tasks.sources.common import SourceSpec
from xstilts_jax.data.packing import pack_document_stream
from xstilts_jax.data.task_records import TaskRecord, register_task
from xstilts_jax.errors import ConfigError
from xstilts_jax.models.heads import HeadSpec

DEFAULT_RATE = "alpha:0.3"  # XLM-R's language sampling
CORPORA: dict[str, tuple[Callable[[str], SourceSpec], tuple[str, ...]]] = {
    "mc4": (corpora.mc4, corpora.MC4_LANGS),
    "cc100": (corpora.cc100, corpora.CC100_LANGS),
    "wiki40b": (corpora.wiki40b, corpora.WIKI40B_LANGS),
}


def pack_documents(
    dataset: tf.data.Dataset, output_features: preprocessors.OutputFeatures, sequence_length: preprocessors.Lengths
) -> tf.data.Dataset:
    """{"idx", "text"} documents → full rows {"idx", "inputs": [length]} of the document stream."""
    vocab = preprocessors._vocabulary(output_features, "corpus pack_documents")
    length = preprocessors._inputs_length(sequence_length)
    if length is None:
        raise ConfigError("corpus tasks cut a stream into rows: give sequence_length={'inputs': N}.")
    pieces = dataset.map(lambda ex: {"inputs": tf.cast(vocab.encode_tf(ex["text"]), tf.int32)}, num_parallel_calls=tf.data.AUTOTUNE)
    rows = pack_document_stream(pieces, length, bos_id=vocab.bos_id, eos_id=vocab.eos_id, pad_id=vocab.pad_id)
    return rows.enumerate().map(lambda i, ex: {"idx": tf.cast(i, tf.int32), **ex})


def corpus_task_name(corpus: str, lang: str) -> str:
    """`<corpus>.<lang>` with the language as task names spell it."""
    return f"{corpus}.{corpora.task_language(lang)}"


def register_corpus_task(corpus: str, lang: str, metric_fns: Sequence[MetricFn] = ()) -> seqio.Task:
    """Register `<corpus>.<lang>`: the language's documents as masked, stream-packed rows."""
    factory, _ = CORPORA[corpus]
    spec = factory(lang)
    name = corpus_task_name(corpus, lang)
    task = seqio.Task(
        name,
        source=spec.source,
        preprocessors=[
            spec.canonicalize,
            pack_documents,
            mlm.mask_tokens,
            functools.partial(preprocessors.add_head_id, head=mlm.HEAD),
        ],
        output_features=mlm.output_features(),
        metric_fns=list(metric_fns),
    )
    record = TaskRecord(
        name, mlm.HEAD, HeadSpec("mlm"), mlm.LABEL_KIND, role="train", language=lang, scoring_split=scoring_split(spec.source)
    )
    return register_task(record, task)


def register_corpus_tasks(metric_fns: Sequence[MetricFn] = ()) -> None:
    """Every corpus × language task, and one α-sampled mixture per corpus over all its languages."""
    for corpus, (_, langs) in CORPORA.items():
        names = [register_corpus_task(corpus, lang, metric_fns).name for lang in langs]
        register_mixture(corpus, names, DEFAULT_RATE)

