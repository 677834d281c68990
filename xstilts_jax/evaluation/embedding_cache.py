"""Candidate embeddings shared by the tasks of one evaluation: Mewsli-X's entity set and LAReQA's
answer pool are the same for every language, so they are embedded once and reused.

An `EmbeddingCache` lives for one evaluation of one set of parameters (`evaluator.evaluate_tasks`
makes one per call, `evaluate_and_write` one for all its tasks), so an entry can never outlive
the parameters that computed it. Entries are keyed by the head, the candidate set's name (what
the task catalog says is the same texts under the same ids, `RetrievalSplit.candidate_set`), a
fingerprint of its ids, the input length and the embedding settings.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any, Hashable, Mapping, Sequence

import jax


@dataclasses.dataclass(frozen=True)
class CachedCandidates:
    """A candidate set's embeddings ([rows, d], rows sharded over the mesh) and the row of each candidate id."""

    vectors: jax.Array
    row_of: Mapping[str, int]


def candidate_key(head: str, candidate_set: str, ids: Sequence[str], length: int, settings: Any) -> Hashable:
    """The cache key of candidate set `candidate_set` (ids in idx order) embedded by `head` at `length`."""
    fingerprint = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
    return (head, candidate_set, fingerprint, length, settings.representation, settings.embedding_dtype)


class EmbeddingCache:
    """In-memory candidate embeddings of one evaluation (see the module docstring)."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, CachedCandidates] = {}
        self.hits = 0

    def get(self, key: Hashable) -> CachedCandidates | None:
        """The entry under `key`, or None."""
        found = self._entries.get(key)
        self.hits += found is not None
        return found

    def put(self, key: Hashable, value: CachedCandidates) -> None:
        """Keep `value` under `key`."""
        self._entries[key] = value
