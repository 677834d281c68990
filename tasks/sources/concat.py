"""One source made of several sources of the same schema and labels (ANLI+: ANLI r1-r3, MNLI, SNLI)."""

from __future__ import annotations

from typing import Sequence

import seqio
import tensorflow as tf

from tasks.sources.common import SourceSpec, canonical
from xstilts_jax.errors import ConfigError


class _ConcatSource(seqio.DataSource):
    """The parts' canonical examples (their own `idx` dropped): sampled by size when shuffled, else in order."""

    def __init__(self, parts: Sequence[SourceSpec], splits: Sequence[str]):
        self._parts = tuple(parts)
        super().__init__(splits=splits, num_input_examples=None)

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return False

    def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None, shard_info=None, *args, **kwargs):
        datasets = [
            p.canonicalize(p.source.get_dataset(split, shuffle=shuffle, seed=seed)).map(
                lambda ex: {k: v for k, v in ex.items() if k != "idx"}
            )
            for p in self._parts
        ]
        if not shuffle:
            ds = datasets[0]
            for other in datasets[1:]:
                ds = ds.concatenate(other)
            return ds
        sizes = [float(p.source.num_input_examples(split)) for p in self._parts]
        weights = [s / sum(sizes) for s in sizes]
        return tf.data.Dataset.sample_from_datasets(datasets, weights=weights, seed=seed, stop_on_empty_dataset=False)

    def num_input_examples(self, split: str = "train") -> int:
        return sum(p.source.num_input_examples(split) for p in self._parts)

    def list_shards(self, split: str) -> Sequence[str]:
        return [split]


def concatenated(parts: Sequence[SourceSpec], citation: str) -> SourceSpec:
    """One spec over `parts` (same schema and label names) with the splits they all have.

    Examples keep their part's canonical form and are numbered again (`idx`) in the order read.
    """
    first = parts[0]
    mismatched = [p.citation for p in parts if (p.schema, p.label_names) != (first.schema, first.label_names)]
    if mismatched:
        raise ConfigError(f"{citation}: {mismatched} differ from {first.citation} in schema or label names.")
    splits = [s for s in first.splits if all(s in p.splits for p in parts)]
    return SourceSpec(
        source=_ConcatSource(parts, splits),
        canonicalize=canonical(lambda ex: ex),
        schema=first.schema,
        label_names=first.label_names,
        splits={s: s for s in splits},
        citation=citation,
        license="; ".join(dict.fromkeys(p.license for p in parts)),
        how_to_obtain="as each part: " + "; ".join(dict.fromkeys(p.citation for p in parts)),
    )
