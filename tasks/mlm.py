"""The `mlm` task: masked-language-model pretraining (or continued pretraining) on plain text.

Source: plain-text files, one sentence or paragraph a line (blank lines skipped), from gin
`mlm_corpus.files` (paths or globs; default `<data dir>/multilingual.txt`, the sample the repo
ships, resolved when the data is read). Every `mlm_corpus.validation_every`-th non-empty line
of each file is the validation split, the rest is train. Files are read in a seeded shuffled
order and interleaved line by line; hosts read their own files (`TextFilesSource`).

Preprocessing (all in tf.data): tokenize with the model vocabulary; cut lines longer than the
input length into consecutive chunks of `length - 2` pieces, each wrapped as `<s> … </s>` /
`[CLS] … [SEP]`; then BERT / XLM-R dynamic masking: `mlm_masking.rate` (15%) of the non-special
tokens are chosen (probabilistic rounding, as fairseq: the expected count is exactly the rate),
of which 80% become `<mask>`, 10% a random non-special id and 10% stay as they are. Targets
are the original ids at the chosen positions and -1 elsewhere. Masking runs after seqio's
repeat with seeds from `seqio.get_dataset(seed=...)`: a seed reproduces the masks, and every
epoch masks anew. Special tokens (`<s> </s> <pad> <mask> <unk>`) are never chosen.

Features: inputs [len], targets [len], token_type_ids [len] (0), idx [], head_id []; label kind "tokens"; head "mlm"
(`HeadSpec("mlm")`: its decoder is tied to the input embeddings).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Sequence

import gin
import seqio
import tensorflow as tf

from tasks import preprocessors, sources
from tasks.registry import MetricFn, scoring_split
from tasks.sources import SourceSpec
from tasks.vocabulary import MODEL_VOCABULARY
from xstilts_jax.data.label_kinds import IGNORE_LABEL
from xstilts_jax.data.task_records import TaskRecord, register_task
from xstilts_jax.errors import ConfigError
from xstilts_jax.models.heads import HeadSpec

TASK = "mlm"
HEAD = "mlm"
LABEL_KIND = "tokens"
TEXT = "text"  # the canonical schema of this source: {"idx", "text"}
DEFAULT_CORPUS = "multilingual.txt"
_SPECIALS_PER_CHUNK = 2
_AUTOTUNE = tf.data.AUTOTUNE


@gin.configurable("mlm_corpus")
def _configured_corpus(files: Sequence[str] | None = None, validation_every: int = 20) -> tuple[Sequence[str] | None, int]:
    return files, validation_every


def corpus_files() -> list[str]:
    """The corpus files, in order: gin `mlm_corpus.files` (paths or globs), else `<data dir>/multilingual.txt`."""
    patterns, _ = _configured_corpus()
    if isinstance(patterns, str):
        patterns = [patterns]
    if not patterns:
        try:
            patterns = [os.path.join(sources.data_dir(), DEFAULT_CORPUS)]
        except ConfigError as e:
            raise ConfigError(
                f"mlm: no corpus. Bind gin `mlm_corpus.files = ['/path/*.txt']` (plain text, one sentence or "
                f"paragraph a line), or set a data directory holding {DEFAULT_CORPUS}: {e}"
            ) from None
    files = []
    for pattern in patterns:
        matches = sorted(tf.io.gfile.glob(pattern))
        if not matches:
            raise ConfigError(
                f"mlm: corpus file(s) {pattern!r} not found (gin `mlm_corpus.files`, or {DEFAULT_CORPUS} under "
                "the data directory); give plain-text files, one sentence or paragraph a line."
            )
        files.extend(matches)
    return files


def _validation_every() -> int:
    _, every = _configured_corpus()
    if not isinstance(every, int) or every < 2:
        raise ConfigError(f"mlm_corpus.validation_every must be an int >= 2, got {every!r}.")
    return every


class TextFilesSource(seqio.DataSource):
    """The corpus files' non-empty lines as {"idx", "text"}; every `validation_every`-th line of each
    file is validation.

    Reading: the files in an order shuffled by the seed (sorted when not shuffling), interleaved a
    line from each in turn, so a shuffled pass mixes every file from its start. Sharding (one shard
    per host): by file when there are at least as many files as shards, else by line index (each
    shard keeps lines `i % shards == shard` of the split).
    """

    def __init__(self) -> None:
        super().__init__(splits=("train", "validation"), num_input_examples=None)

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return True

    def list_shards(self, split: str) -> Sequence[str]:
        return corpus_files()

    def get_dataset(
        self, split: str = "train", shuffle: bool = True, seed: int | None = None,
        shard_info: seqio.ShardInfo | None = None, *args, **kwargs,
    ) -> tf.data.Dataset:
        if split not in self.splits:
            raise ConfigError(f"mlm: unknown split {split!r}; the corpus has 'train' and 'validation'.")
        files = corpus_files()
        num_shards, index = (shard_info.num_shards, shard_info.index) if shard_info else (1, 0)
        by_file = num_shards > 1 and len(files) >= num_shards
        if by_file:
            files = files[index::num_shards]
        every, held_out = tf.constant(_validation_every(), tf.int64), split == "validation"

        def lines(path: tf.Tensor) -> tf.data.Dataset:
            ds = tf.data.TextLineDataset(path).map(tf.strings.strip).filter(lambda s: tf.strings.length(s) > 0)
            return ds.enumerate().filter(lambda i, _: tf.equal(i % every == every - 1, held_out)).map(lambda _, s: s)

        names = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            names = names.shuffle(len(files), seed=seed)
        ds = names.interleave(lines, cycle_length=len(files), block_length=1)
        if num_shards > 1 and not by_file:
            ds = ds.shard(num_shards, index)
        # Numbered here, not by a preprocessor: seqio repeats the source before preprocessing, so a
        # count there would run on across epochs.
        return ds.enumerate().map(lambda i, s: {"idx": tf.cast(i, tf.int32), "text": s})


def _as_is(ds: tf.data.Dataset) -> tf.data.Dataset:
    return ds  # the source already yields the canonical {"idx", "text"}


def mlm_source() -> SourceSpec:
    """The plain-text corpus as a source (files resolved when a split is read)."""
    splits = {"train": "train", "validation": "validation"}
    return SourceSpec(
        source=TextFilesSource(),
        canonicalize=_as_is,
        schema=TEXT,
        label_names=(),
        splits=splits,
        citation="plain text (default: the repository's authored multilingual sample)",
        license="that of the text you supply (the sample: the repository's license)",
        how_to_obtain=(
            "any UTF-8 plain-text files, one sentence or paragraph a line: bind gin `mlm_corpus.files`; "
            f"default `<data dir>/{DEFAULT_CORPUS}`"
        ),
    )


def encode_text(
    dataset: tf.data.Dataset, output_features: preprocessors.OutputFeatures, sequence_length: preprocessors.Lengths
) -> tf.data.Dataset:
    """{"idx", "text"} → {"idx", "inputs"}: `<s> pieces </s>`, lines longer than the input length
    cut into consecutive chunks (one example each, sharing the line's idx)."""
    vocab = preprocessors._vocabulary(output_features, "mlm encode_text")
    length = preprocessors._inputs_length(sequence_length)
    if length is not None and length <= _SPECIALS_PER_CHUNK:
        raise ConfigError(f"mlm: sequence_length['inputs']={length} leaves no room beside the 2 special tokens.")
    budget = None if length is None else length - _SPECIALS_PER_CHUNK

    def chunks(ex: preprocessors.Features) -> preprocessors.Features:
        pieces = tf.cast(vocab.encode_tf(ex["text"]), tf.int32)
        n = tf.size(pieces, tf.int64)
        if budget is None:
            row, nrows = tf.zeros([n], tf.int64), tf.constant(1, tf.int64)
        else:
            row, nrows = tf.range(n) // budget, tf.maximum((n + budget - 1) // budget, 1)
        rows = tf.RaggedTensor.from_value_rowids(pieces, row, nrows=nrows, validate=False)
        ids, _ = vocab.encode_for_model_tf(rows, None, None)
        return {"inputs": ids, "idx": tf.fill([nrows], ex["idx"])}

    return dataset.map(chunks, num_parallel_calls=_AUTOTUNE).unbatch()


@gin.configurable("mlm_masking")
@dataclasses.dataclass(frozen=True)
class MaskingRates:
    """BERT / XLM-R masking: `rate` of the non-special tokens are chosen; of those, `mask` become
    `<mask>`, `random` a random non-special id, the rest stay unchanged."""

    rate: float = 0.15
    mask: float = 0.8
    random: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 < self.rate <= 1.0 or self.mask < 0 or self.random < 0 or self.mask + self.random > 1.0:
            raise ConfigError(
                f"mlm_masking: need 0 < rate <= 1, mask >= 0, random >= 0 and mask + random <= 1; got {self}."
            )


def mask_ids(
    ids: tf.Tensor, seed: tf.Tensor, special_ids: Sequence[int], vocab_size: int, mask_id: int, rates: MaskingRates
) -> tuple[tf.Tensor, tf.Tensor]:
    """(masked inputs, targets) of one example's ids; `seed` is a stateless [2] seed.

    Targets hold the original id where a token was chosen, -1 elsewhere.
    """
    specials = sorted(set(special_ids))
    if vocab_size <= len(specials):
        raise ConfigError(f"mlm: vocabulary of {vocab_size} ids has no pieces besides its special tokens {specials}.")
    n = tf.size(ids)
    candidate = tf.reduce_all(tf.not_equal(ids[:, None], tf.constant(specials, tf.int32)[None, :]), axis=1)
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    # Probabilistic rounding (fairseq): the expected number chosen is exactly rate x candidates.
    count = tf.reduce_sum(tf.cast(candidate, tf.float32))
    num_chosen = tf.cast(tf.floor(rates.rate * count + tf.random.stateless_uniform([], seeds[0])), tf.int32)
    scores = tf.where(candidate, tf.random.stateless_uniform([n], seeds[1]), -1.0)
    picked = tf.argsort(scores, direction="DESCENDING")[:num_chosen]
    chosen = tf.scatter_nd(picked[:, None], tf.ones_like(picked, tf.bool), [n])
    action = tf.random.stateless_uniform([n], seeds[2])
    # Uniform over the non-special ids: draw among vocab_size - |specials|, then step over each special.
    random_ids = tf.random.stateless_uniform([n], seeds[3], 0, vocab_size - len(specials), tf.int32)
    for special in specials:
        random_ids += tf.cast(random_ids >= special, tf.int32)
    inputs = tf.where(chosen & (action < rates.mask), mask_id, ids)
    inputs = tf.where(chosen & (action >= rates.mask) & (action < rates.mask + rates.random), random_ids, inputs)
    targets = tf.where(chosen, ids, IGNORE_LABEL)
    return inputs, targets


def mask_tokens(dataset: tf.data.Dataset, output_features: preprocessors.OutputFeatures) -> tf.data.Dataset:
    """{"inputs"} → masked "inputs" and "targets" (see `mask_ids`), seeded by seqio's map seeds."""
    vocab = preprocessors._vocabulary(output_features, "mlm mask_tokens")
    rates = MaskingRates()
    specials = (vocab.bos_id, vocab.eos_id, vocab.pad_id, vocab.mask_id, vocab.unk_id)
    vocab_size, mask_id = vocab.vocab_size, vocab.mask_id

    @seqio.map_over_dataset(num_seeds=1)
    def mask(ex: preprocessors.Features, seed: tf.Tensor) -> preprocessors.Features:
        inputs, targets = mask_ids(ex["inputs"], seed, specials, vocab_size, mask_id, rates)
        # one segment (type 0): the same features as pair tasks, so MLM can join their mixtures
        return {**ex, "inputs": inputs, "targets": targets, "token_type_ids": tf.zeros_like(inputs)}

    return mask(dataset)


def output_features() -> dict[str, seqio.Feature]:
    """inputs, targets and token_type_ids (all 0), each [len] int32; inputs in the model's vocabulary
    (specials added here). The features are those of the catalog's other tasks, so a mixture may hold both."""
    ids = seqio.PassThroughVocabulary(size=0)
    return {
        "inputs": seqio.Feature(vocabulary=MODEL_VOCABULARY, add_eos=False, dtype=tf.int32, rank=1),
        "token_type_ids": seqio.Feature(vocabulary=ids, add_eos=False, dtype=tf.int32, rank=1, required=False),
        "targets": seqio.Feature(vocabulary=ids, add_eos=False, dtype=tf.int32, rank=1),
    }


def register_mlm_tasks(metric_fns: Sequence[MetricFn] = ()) -> seqio.Task:
    """Register the `mlm` task (a training task: train + validation) and its head.

    `metric_fns` score per-example sequences of the masked tokens' ids: the catalog passes a
    flattened accuracy (masked-token accuracy).
    """
    spec = mlm_source()
    task = seqio.Task(
        TASK,
        source=spec.source,
        preprocessors=[spec.canonicalize, encode_text, mask_tokens, functools.partial(preprocessors.add_head_id, head=HEAD)],
        output_features=output_features(),
        metric_fns=list(metric_fns),
    )
    record = TaskRecord(TASK, HEAD, HeadSpec("mlm"), LABEL_KIND, role="train", scoring_split=scoring_split(spec.source))
    return register_task(record, task)
