"""seqio task → per-host numpy batches → global `jax.Array`s sharded on the batch axes.

Each host reads its own shards of the data (`seqio.ShardInfo`), batches `global / hosts`
examples, and the global array is assembled with `jax.make_array_from_process_local_data`.
The feature converter is chosen from the task records (label kind, number of choices) and the
label-kind table (`label_kinds.py`: passthrough features, packing), so a new task needs no code here.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import jax
import numpy as np
import seqio
import tensorflow as tf

from xstilts_jax.data.iterator_state import CheckpointableBatches
from xstilts_jax.data.feature_converters import PackedEncoderFeatureConverter, PaddedEncoderFeatureConverter
from xstilts_jax.data.label_kinds import InputLengths, get_label_kind
from xstilts_jax.data.task_records import expand_tasks, get_provider, get_task_record
from xstilts_jax.data.length_buckets import length_buckets
from xstilts_jax.errors import ConfigError

@dataclasses.dataclass(frozen=True)
class BatchSpec:
    """What to read: a seqio task or mixture, split, input length, global batch size, packing."""

    task: str
    split: str
    length: int
    batch_size: int
    pack: bool = False
    max_segments: int = 8
    shuffle: bool = True
    seed: int = 0
    repeat: bool = True
    data_shards: int | None = None  # training: seqio shards per global batch (default: one per host)
    # evaluation (one pass) only: group examples of similar length into batches (`length_buckets`),
    # and read only the examples with idx in [start, stop)
    bucket_lengths: bool = False
    idx_range: tuple[int, int] | None = None


def label_kind_of(task_or_mixture: str) -> str:
    """The label kind shared by every task of a task or mixture (mixtures must not mix kinds)."""
    kinds = {get_task_record(t).label_kind for t in expand_tasks([task_or_mixture])}
    if len(kinds) != 1:
        raise ConfigError(
            f"{task_or_mixture!r} mixes label kinds {sorted(kinds)}; batches need one feature layout. "
            "Sample such a mixture into per-kind batches (one BatchSpec per kind)."
        )
    return kinds.pop()


def feature_converter(task_or_mixture: str, pad_id: int, position_offset: int, spec: BatchSpec) -> seqio.FeatureConverter:
    """The padded or packed converter for the task's label kind."""
    kind = get_label_kind(label_kind_of(task_or_mixture))
    first = seqio.get_subtasks(get_provider(task_or_mixture))[0]
    extra = kind.passthrough
    # a task that declares token_type_ids (pairs, choices, tags, QA) hands them to the model (BERT's segment B)
    types = "token_type_ids" in first.output_features
    if spec.pack:
        return PackedEncoderFeatureConverter(
            pad_id=pad_id, label_kind=kind.name, max_segments=spec.max_segments, position_offset=position_offset,
            token_type_ids=types, extra_features=extra,
        )
    choices = {"num_choices": len(get_task_record(first.name).label_names)} if kind.row_per_label else {}
    return PaddedEncoderFeatureConverter(pad_id=pad_id, label_kind=kind.name, token_type_ids=types, extra_features=extra, **choices)


def _converted(spec: BatchSpec, pad_id: int, position_offset: int, shard: seqio.ShardInfo | None) -> tf.data.Dataset:
    """The task's examples (one seqio shard of them, or all) through the feature converter."""
    converter = feature_converter(spec.task, pad_id, position_offset, spec)
    provider = get_provider(spec.task)
    lengths = {"inputs": spec.length}
    options = dict(
        split=spec.split, shuffle=spec.shuffle, num_epochs=None if spec.repeat else 1, seed=spec.seed,
        shard_info=shard, trim_output_features=False,
    )
    if isinstance(provider, seqio.Mixture):
        # a mixture keeps only its output features unless told otherwise (seqio.get_dataset cannot pass this)
        options["passthrough_features"] = get_label_kind(label_kind_of(spec.task)).passthrough
    return converter(provider.get_dataset(lengths, **options), task_feature_lengths=lengths)


def host_batches(spec: BatchSpec, pad_id: int, position_offset: int) -> Iterator[dict[str, np.ndarray]]:
    """This host's share of each global batch, as numpy.

    Training (`repeat`): `training_batches`. One pass for evaluation reads the whole split on
    every host and keeps the examples with `idx % hosts == host`: examples keep the numbering of
    the full split (so every host's predictions merge back into data order), and all pieces or
    windows of one example stay on one host. `spec.idx_range` keeps only the examples numbered in
    it; `spec.bucket_lengths` batches examples of one length bucket together (`data.length_buckets`, by
    each example's last non-padding token), so batches come out of data order and each can be cut
    to its bucket (`trim_length`); decoders merge predictions by idx.
    """
    if spec.repeat:
        return training_batches(spec, pad_id, position_offset)
    hosts, index = jax.process_count(), jax.process_index()
    if spec.batch_size % hosts:
        raise ConfigError(f"Global batch size {spec.batch_size} is not divisible by the {hosts} hosts.")
    ds = _converted(spec, pad_id, position_offset, None)
    if spec.idx_range is not None:
        start, stop = spec.idx_range
        ds = ds.filter(lambda ex: (ex["idx"] >= start) & (ex["idx"] < stop))
    if hosts > 1:
        ds = ds.filter(lambda ex: ex["idx"] % hosts == index)
    rows = spec.batch_size // hosts
    if spec.bucket_lengths:
        ds = ds.group_by_window(_bucket_key(spec.length), lambda _, window: window.batch(rows), window_size=rows)
    else:
        ds = ds.batch(rows, drop_remainder=False)
    return ds.as_numpy_iterator()


def training_batches(spec: BatchSpec, pad_id: int, position_offset: int) -> CheckpointableBatches:
    """This host's share of each global training batch (`spec.repeat`), as numpy, with a data position
    that saves and restores (`data/iterator_state.py`).

    Reads seqio shards: `spec.data_shards` of them (default: one per host), each giving
    `batch_size / data_shards` consecutive rows of every global batch; this host reads its
    contiguous block of shards. With `data_shards` fixed, the global batches are the same for any
    host count that divides it.
    """
    hosts, index = jax.process_count(), jax.process_index()
    if spec.batch_size % hosts:
        raise ConfigError(f"Global batch size {spec.batch_size} is not divisible by the {hosts} hosts.")
    if not spec.repeat:
        raise ConfigError(f"training_batches reads {spec.task!r} repeated; BatchSpec.repeat=False is host_batches' one pass.")
    shards = spec.data_shards or hosts
    if shards % hosts or spec.batch_size % shards:
        raise ConfigError(
            f"data_shards={shards} must be a multiple of the {hosts} hosts and divide the global batch size "
            f"{spec.batch_size}; set TrainConfig.data_shards accordingly."
        )
    per_host = shards // hosts
    datasets = {}
    for k in range(index * per_host, (index + 1) * per_host):
        ds = _converted(spec, pad_id, position_offset, seqio.ShardInfo(index=k, num_shards=shards) if shards > 1 else None)
        datasets[f"shard_{k}-of-{shards}"] = ds.batch(spec.batch_size // shards, drop_remainder=True)
    return CheckpointableBatches(spec.task, datasets)


def _bucket_key(length: int):
    """tf.data key fn: an example's bucket number (`length_buckets`), from its last non-padding position."""
    bounds = tf.constant(length_buckets(length), tf.int64)

    def key(ex: dict[str, tf.Tensor]) -> tf.Tensor:
        segments = tf.reshape(ex["segment_ids"], [-1, tf.shape(ex["segment_ids"])[-1]])
        used = tf.reduce_any(segments != 0, axis=0)
        tokens = tf.reduce_max(tf.where(used, tf.range(1, tf.shape(used)[0] + 1), 0))
        return tf.reduce_sum(tf.cast(bounds < tf.cast(tokens, tf.int64), tf.int64))

    return key


def default_length(task_or_mixture: str, lengths: InputLengths) -> int:
    """The input length of a run that binds none: the task's own (`TaskRecord.max_length`) where it
    has one, else its label kind's default in `lengths` (a mixture: of its first task)."""
    record = get_task_record(expand_tasks([task_or_mixture])[0])
    return record.max_length or lengths.of(record.label_kind)


def count_examples(task_or_mixture: str, split: str, length: int) -> int:
    """Training examples of a task (summed over a mixture's tasks) in `split` at input `length`,
    for epochs → steps.

    Uses the source's count when it knows it (TFDS metadata) and preprocessing keeps one example
    per source example; otherwise (file sources, label kinds the table marks `expanding`: QA
    windows, split tagging sentences, MLM chunks) counts the preprocessed examples at `length`
    once: epochs count what the model trains on, as XTREME counts QA features.
    """
    total = 0
    for task in seqio.get_subtasks(get_provider(task_or_mixture)):
        if split not in task.source.splits:
            raise ConfigError(f"Task {task.name!r} has no {split!r} split (it has {list(task.source.splits)}).")
        expands = get_label_kind(get_task_record(task.name).label_kind).expanding
        known = None if expands else task.source.num_input_examples(split)
        if known is None:
            print(f"counting the {split} examples of {task.name} at length {length} (epochs → steps) ...", flush=True)
            ds = task.get_dataset(sequence_length={"inputs": length}, split=split, shuffle=False, num_epochs=1)
            known = int(ds.reduce(0, lambda n, _: n + 1))
        total += int(known)
    if total == 0:
        raise ConfigError(f"{task_or_mixture!r} has no {split!r} examples; cannot turn epochs into steps.")
    return total
