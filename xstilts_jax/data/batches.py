"""seqio task → per-host numpy batches → global `jax.Array`s sharded on the batch axes.

Each host reads its own shard of the data (`seqio.ShardInfo`), batches `global / hosts`
examples, and the global array is assembled with `jax.make_array_from_process_local_data`.
The feature converter is chosen from the task-head registry (label kind, number of
choices), so a new task needs no code here.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Mapping

import jax
import numpy as np
import seqio
from jax.sharding import Mesh

from xstilts_jax.data.feature_converters import PackedEncoderFeatureConverter, PaddedEncoderFeatureConverter
from xstilts_jax.data.task_heads import get_task_head
from xstilts_jax.errors import ConfigError
from xstilts_jax.partitioning import Rules, batch_sharding

# Scalar features every catalog task provides (tagging adds the split-sentence bookkeeping),
# passed through to the model batch.
PASSTHROUGH_FEATURES: tuple[str, ...] = ("idx", "head_id", "word_start", "num_words")


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


def label_kind_of(task_or_mixture: str) -> str:
    """The label kind shared by every task of a task or mixture (mixtures must not mix kinds)."""
    provider = seqio.get_mixture_or_task(task_or_mixture)
    tasks = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
    kinds = {get_task_head(t.name).label_kind for t in tasks}
    if len(kinds) != 1:
        raise ConfigError(
            f"{task_or_mixture!r} mixes label kinds {sorted(kinds)}; batches need one feature layout. "
            "Sample such a mixture into per-kind batches (one BatchSpec per kind)."
        )
    return kinds.pop()


def feature_converter(task_or_mixture: str, pad_id: int, position_offset: int, spec: BatchSpec) -> seqio.FeatureConverter:
    """The padded or packed converter for the task's label kind."""
    kind = label_kind_of(task_or_mixture)
    provider = seqio.get_mixture_or_task(task_or_mixture)
    first = (provider.tasks if isinstance(provider, seqio.Mixture) else [provider])[0]
    extra = PASSTHROUGH_FEATURES if kind == "tags" else PASSTHROUGH_FEATURES[:2]
    if spec.pack:
        return PackedEncoderFeatureConverter(
            pad_id=pad_id, label_kind=kind, max_segments=spec.max_segments, position_offset=position_offset,
            extra_features=extra,
        )
    choices = {"num_choices": len(get_task_head(first.name).label_names)} if kind == "choice" else {}
    return PaddedEncoderFeatureConverter(pad_id=pad_id, label_kind=kind, extra_features=extra, **choices)


def host_batches(spec: BatchSpec, pad_id: int, position_offset: int, skip_batches: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """This host's share of each global batch, as numpy; `skip_batches` resumes a data position."""
    hosts, index = jax.process_count(), jax.process_index()
    if spec.batch_size % hosts:
        raise ConfigError(f"Global batch size {spec.batch_size} is not divisible by the {hosts} hosts.")
    converter = feature_converter(spec.task, pad_id, position_offset, spec)
    ds = seqio.get_dataset(
        spec.task,
        task_feature_lengths={"inputs": spec.length},
        dataset_split=spec.split,
        shuffle=spec.shuffle,
        num_epochs=None if spec.repeat else 1,
        shard_info=seqio.ShardInfo(index=index, num_shards=hosts) if hosts > 1 else None,
        seed=spec.seed,
        feature_converter=converter,
        trim_output_features=False,
    )
    ds = ds.batch(spec.batch_size // hosts, drop_remainder=spec.repeat)
    if skip_batches:
        ds = ds.skip(skip_batches)
    return ds.as_numpy_iterator()


def to_global(batch: Mapping[str, np.ndarray], mesh: Mesh, rules: Rules) -> dict[str, jax.Array]:
    """Assemble every host's local rows into global arrays sharded on the `batch` rule."""
    out = {}
    for key, value in batch.items():
        sharding = batch_sharding(mesh, rules, value.ndim)
        global_shape = (value.shape[0] * jax.process_count(),) + value.shape[1:]
        out[key] = jax.make_array_from_process_local_data(sharding, value, global_shape)
    return out
