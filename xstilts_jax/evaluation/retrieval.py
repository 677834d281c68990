"""The retrieval splits tasks register: which examples of a retrieval eval task are queries, which are
candidates, their ids and the gold relation.

A retrieval eval task is one seqio task whose examples are single texts, each either a query
or a candidate; which is which, their ids and the gold relation come from a `RetrievalSplit`
read by the task's record (`TaskRecord.retrieval_reader`), keyed by the examples' `idx`, so the
engine never reads task files. The retrieval decoders (`evaluation.decoders.retrieval`) read
these splits.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import ConfigError, InputError


@dataclasses.dataclass(frozen=True)
class RetrievalSplit:
    """One split of a retrieval task: query and candidate examples (idx → id) and, per query id,
    the ids of its relevant candidates (mining: the gold target ids of a source id).

    `query_length` / `candidate_length`: the input length each side is embedded at (None: the
    run's eval length or the task's default). `candidate_set`: a name shared by every split whose
    candidates are the same texts under the same ids (e.g. one per Mewsli-X release), so that an
    evaluation embeds them once for all of them; None: not shared."""

    queries: Mapping[int, str]
    candidates: Mapping[int, str]
    relevant: Mapping[str, Sequence[str]]
    query_length: int | None = None
    candidate_length: int | None = None
    candidate_set: str | None = None


def retrieval_split(task: str, split: str) -> RetrievalSplit:
    """The `RetrievalSplit` of `task`/`split`, read by the task's record."""
    read = get_task_record(task).retrieval_reader
    if read is None:
        raise ConfigError(f"Task {task!r} is not a retrieval task: its record has no retrieval reader.")
    data = read(split)
    overlap = set(data.queries) & set(data.candidates)
    if overlap:
        raise InputError(f"{task} {split}: examples {sorted(overlap)[:5]} are both queries and candidates.")
    return data
