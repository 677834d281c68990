"""Registering catalog tasks (each a seqio task plus its engine record) and mixtures, with one naming scheme.

Names:
- `<task>`: a trainable English task (train + English validation), e.g. `mnli`, `hellaswag`, `udpos`.
- `<target>.<lang>`: an eval-only task for one language of a target (validation + test), e.g. `xnli.de`.
- `<target>.all_langs`: mixture of every `<target>.<lang>`.
- `<target>.zeroshot`: the English training task plus every `<target>.<lang>` (mT5's zero-shot idiom).
- `intermediate.<name>`: a multi-task intermediate mixture (see `register_intermediate_mixture`).
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import gin
import seqio
import tensorflow as tf

from tasks import preprocessors, qa_features
from tasks.sources import SourceSpec
from tasks.sources.files import configured_data_dir
from tasks.vocabulary import MODEL_VOCABULARY
from xstilts_jax.data import sampling
from xstilts_jax.data.label_kinds import LABEL_KINDS
from xstilts_jax.data.task_records import (
    TaskRecord,
    is_registered,
    register_task,
    register_task_pending_record,
    registered_task_records,
)
from xstilts_jax.errors import ConfigError
from xstilts_jax.models.heads import HeadSpec

# Schema -> the label kind of its encoded features (a row of the label-kind table).
SCHEMA_KINDS = {"pair": "class", "choice": "choice", "tags": "tags", "qa": "span"}

MetricFn = Callable[..., dict[str, float]]


def output_features(schema: str) -> dict[str, seqio.Feature]:
    """The seqio features of a schema's tasks, ranked as its label kind's table row says; `inputs`
    uses the model's vocabulary (resolved lazily).

    Special tokens come from the preprocessors, so no feature appends EOS.
    """
    ranks = LABEL_KINDS[SCHEMA_KINDS[schema]].ranks
    inputs_rank, targets_rank = ranks["inputs"], ranks["targets"]
    ids = seqio.PassThroughVocabulary(size=0)
    return {
        "inputs": seqio.Feature(vocabulary=MODEL_VOCABULARY, add_eos=False, dtype=tf.int32, rank=inputs_rank),
        # declared so batches carry it (and mixtures keep it): BERT/mBERT embed the pair's second segment as type 1
        "token_type_ids": seqio.Feature(vocabulary=ids, add_eos=False, dtype=tf.int32, rank=inputs_rank, required=False),
        "targets": seqio.Feature(vocabulary=ids, add_eos=False, dtype=tf.int32, rank=targets_rank),
    }


@gin.configurable
def long_tagging_sentences(mode: str = "split") -> str:
    """What tagging tasks do with sentences longer than the input length: "split" them at word
    boundaries into several examples re-joined for scoring (XTREME), or "truncate" them."""
    if mode not in ("split", "truncate"):
        raise ConfigError(f"long_tagging_sentences.mode must be 'split' or 'truncate', got {mode!r}.")
    return mode


def _encode_tags(
    dataset: tf.data.Dataset,
    output_features: preprocessors.OutputFeatures,
    sequence_length: preprocessors.Lengths,
    label_names: tuple[str, ...],
) -> tf.data.Dataset:
    """encode_tags with the long-sentence policy read from gin when the dataset is built."""
    split = long_tagging_sentences() == "split"
    return preprocessors.encode_tags(dataset, output_features, sequence_length, label_names=label_names, split_long=split)


def _encode_step(spec: SourceSpec, name: str) -> Callable:
    if spec.schema == "pair":
        return preprocessors.encode_pair
    if spec.schema == "choice":
        return preprocessors.encode_choices
    if spec.schema == "tags":
        return functools.partial(_encode_tags, label_names=spec.label_names)
    if spec.schema == "qa":
        return functools.partial(qa_features.encode_qa, allow_no_answer=spec.allow_no_answer, task=name)
    raise ConfigError(f"Unknown source schema {spec.schema!r}; expected one of {sorted(SCHEMA_KINDS)}.")


def head_spec_for(spec: SourceSpec) -> HeadSpec:
    """The head a source's schema and label set need."""
    kind = SCHEMA_KINDS[spec.schema]
    if kind == "class":
        return HeadSpec("classification", num_labels=len(spec.label_names))
    if kind == "choice":
        return HeadSpec("multiple_choice")
    if kind == "span":
        return HeadSpec("span")
    return HeadSpec("tagging", num_labels=len(spec.label_names))


def scoring_split(source: seqio.DataSource) -> str:
    """The split a task is scored on: dev when its source has it (XTREME's test labels are hidden), else test."""
    return "validation" if "validation" in source.splits else "test"


def _record(name: str, spec: SourceSpec, source: seqio.DataSource, head: str, role: str, language: str) -> TaskRecord:
    return TaskRecord(
        name=name,
        head=head,
        spec=head_spec_for(spec),
        label_kind=SCHEMA_KINDS[spec.schema],
        label_names=spec.label_names,
        role=role,
        language=language,
        scoring_split=scoring_split(source),
    )


def register_source_task(
    name: str,
    spec: SourceSpec,
    *,
    head: str,
    metric_fns: Sequence[MetricFn],
    role: str,
    language: str = "en",
) -> seqio.Task:
    """Register task `name` reading `spec`, encoded for the model, routed to `head`: its seqio task and its record."""
    if role == "eval":
        source = _restrict_splits(spec.source, ("validation", "test"), name)
    else:
        source = spec.source
    task = seqio.Task(
        name,
        source=source,
        preprocessors=[
            spec.canonicalize,
            _encode_step(spec, name),
            functools.partial(preprocessors.add_head_id, head=head),
        ],
        output_features=output_features(spec.schema),
        metric_fns=list(metric_fns),
    )
    return register_task(_record(name, spec, source, head, role, language), task)


def register_data_described_task(
    name: str, factory: Callable[[], SourceSpec], *, schema: str, splits: Sequence[str], head: str, metric_fns: Sequence[MetricFn]
) -> seqio.Task:
    """Register train task `name` whose spec can only be built from its data (CCG: its tag set).

    The seqio task exists from import on; `factory` runs (once per data directory) when the task
    is read or its record looked up, so a data directory bound in gin after import is found.
    """
    by_data_dir = functools.cache(lambda root: factory())

    def spec() -> SourceSpec:
        return by_data_dir(configured_data_dir())

    source = _DeferredSource(spec, splits)

    def canonicalize(dataset: tf.data.Dataset) -> tf.data.Dataset:
        return spec().canonicalize(dataset)

    def encode(dataset: tf.data.Dataset, output_features, sequence_length) -> tf.data.Dataset:
        return _encode_step(spec(), name)(dataset, output_features, sequence_length)

    task = seqio.Task(
        name,
        source=source,
        preprocessors=[canonicalize, encode, functools.partial(preprocessors.add_head_id, head=head)],
        output_features=output_features(schema),
        metric_fns=list(metric_fns),
    )
    return register_task_pending_record(name, task, lambda: _record(name, spec(), source, head, "train", "en"))


class _DeferredSource(seqio.DataSource):
    """The source of a spec built on first use."""

    def __init__(self, spec: Callable[[], SourceSpec], splits: Sequence[str]):
        self._spec = spec
        super().__init__(splits=tuple(splits), num_input_examples=None)

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return False

    def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None, shard_info=None, *args, **kwargs):
        return self._spec().source.get_dataset(split, shuffle=shuffle, seed=seed, shard_info=shard_info)

    def num_input_examples(self, split: str = "train") -> int | None:
        return self._spec().source.num_input_examples(split)

    def list_shards(self, split: str) -> Sequence[str]:
        return self._spec().source.list_shards(split)


def _restrict_splits(source: seqio.DataSource, keep: Sequence[str], name: str) -> seqio.DataSource:
    """Eval-only tasks expose only their evaluation splits (training on them would leak)."""
    missing = [s for s in keep if s not in source.splits]
    if len(missing) == len(keep):
        raise ConfigError(f"Eval task {name!r}: its source has none of the splits {list(keep)} (has {list(source.splits)}).")
    return _SplitFilteredSource(source, tuple(s for s in keep if s in source.splits))


class _SplitFilteredSource(seqio.DataSource):
    """A view of a data source with fewer splits."""

    def __init__(self, inner: seqio.DataSource, splits: Sequence[str]):
        self._inner = inner
        super().__init__(splits=splits, num_input_examples=None, caching_permitted=inner.caching_permitted)

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return self._inner.supports_arbitrary_sharding

    def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None, shard_info=None, *args, **kwargs):
        if split not in self.splits:
            raise ConfigError(f"split {split!r} is not available here; available: {list(self.splits)}.")
        return self._inner.get_dataset(split=split, shuffle=shuffle, seed=seed, shard_info=shard_info, *args, **kwargs)

    def num_input_examples(self, split: str = "train") -> int | None:
        return self._inner.num_input_examples(split)

    def list_shards(self, split: str) -> Sequence[str]:
        return self._inner.list_shards(split)


# --- mixing rates ----------------------------------------------------------------------


def mixing_rate(rate: str) -> Callable[[seqio.Task], float]:
    """A seqio rate function by name: `equal`, `proportional`, `capped:N` (examples cap), `temperature:T`
    or `alpha:A` (n^A, language sampling: `xstilts_jax.data.sampling`).

    `equal` is for eval mixtures, whose tasks have no training split to count.
    """
    kind, _, arg = rate.partition(":")
    try:
        if kind == "equal" and not arg:
            return lambda task: 1.0
        if kind == "proportional" and not arg:
            return seqio.mixing_rate_num_examples
        if kind == "capped":
            return functools.partial(seqio.mixing_rate_num_examples, maximum=int(arg))
        if kind == "temperature":
            return functools.partial(seqio.mixing_rate_num_examples, temperature=float(arg))
        if kind == "alpha":
            return sampling.alpha_rate(float(arg))
    except ValueError:
        pass
    raise ConfigError(
        f"Unknown mixing rate {rate!r}; use 'equal', 'proportional', 'capped:N' (e.g. capped:65536), 'temperature:T' or 'alpha:A' (e.g. alpha:0.3)."
    )


def register_mixture(name: str, tasks: Sequence[str], rate: str = "proportional") -> seqio.Mixture:
    """Register a seqio mixture of catalog tasks with a named rate."""
    unknown = [t for t in tasks if not is_registered(t)]
    if unknown:
        raise ConfigError(f"Mixture {name!r}: unknown tasks {unknown}; see `xstilts-jax tasks` for the catalog.")
    mixture = seqio.Mixture(name, list(tasks), default_rate=mixing_rate(rate))
    seqio.MixtureRegistry.add_provider(name, mixture)
    return mixture


# How multi-task intermediate mixtures sample their tasks: in proportion to each task's training
# examples, uncapped. X-STILTs ran on jiant, whose X-STILTs guide (guides/projects/xstilts.md) trains
# several intermediate tasks with jiant's simple runscript; with no `train_examples_cap` its
# SimpleAPIMultiTaskConfigurator picks ProportionalMultiTaskSampler (p(task) = n_task / sum of n).
INTERMEDIATE_MIXING_RATE = "proportional"


def register_intermediate_mixture(name: str, tasks: Sequence[str], rate: str = INTERMEDIATE_MIXING_RATE) -> seqio.Mixture:
    """`intermediate.<name>`: any set of English intermediate tasks trained together, sampled by `rate`
    (default: X-STILTs' rule, `INTERMEDIATE_MIXING_RATE`).

    Each example carries `head_id`, so mixed batches route to each task's head. Tasks of
    different label kinds (pairs, choices, tags) have different feature shapes: a trainer
    samples them by these rates into per-kind batches.
    """
    records = registered_task_records()
    not_train = [t for t in tasks if t in records and records[t].role != "train"]
    if not_train:
        raise ConfigError(f"Intermediate mixture {name!r}: {not_train} are eval-only tasks, not training tasks.")
    return register_mixture(f"intermediate.{name}", tasks, rate)
