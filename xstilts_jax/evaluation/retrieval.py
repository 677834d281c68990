"""The retrieval splits tasks register: which examples of a retrieval eval task are queries, which are
candidates, their ids and the gold relation.

A retrieval eval task is one seqio task whose examples are single texts, each either a query
or a candidate; the task catalog registers a reader per task (`register_retrieval_split`),
keyed by the examples' `idx`, so the engine never reads task files. The retrieval decoders
(`evaluation.decoders.retrieval`) read these splits.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

from xstilts_jax.errors import ConfigError, InputError


@dataclasses.dataclass(frozen=True)
class RetrievalSplit:
    """One split of a retrieval task: query and candidate examples (idx → id) and, per query id,
    the ids of its relevant candidates (mining: the gold target ids of a source id)."""

    queries: Mapping[int, str]
    candidates: Mapping[int, str]
    relevant: Mapping[str, Sequence[str]]


_SPLITS: dict[str, Callable[[str], RetrievalSplit]] = {}


def register_retrieval_split(task: str, read: Callable[[str], RetrievalSplit]) -> None:
    """Record how to read the queries, candidates and gold of `task` for a split name."""
    _SPLITS[task] = read


def retrieval_split(task: str, split: str) -> RetrievalSplit:
    """The registered `RetrievalSplit` of `task`/`split` (import the task catalog first)."""
    if task not in _SPLITS:
        raise ConfigError(f"Task {task!r} registered no retrieval split reader; is the task catalog imported (`import tasks`)?")
    data = _SPLITS[task](split)
    overlap = set(data.queries) & set(data.candidates)
    if overlap:
        raise InputError(f"{task} {split}: examples {sorted(overlap)[:5]} are both queries and candidates.")
    return data
