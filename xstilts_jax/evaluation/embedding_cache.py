"""Candidate embeddings shared by the tasks of one evaluation: Mewsli-X's entity set and LAReQA's
answer pool are the same for every language, so they are embedded once and reused.

An `EmbeddingCache` lives for one evaluation of one set of parameters (`evaluator.evaluate_tasks`
makes one per call, `evaluate_and_write` one for all its tasks), so an entry in memory never
outlives the parameters that computed it. Entries are keyed by the head, the candidate set's
name (what the task catalog says is the same texts under the same ids,
`RetrievalSplit.candidate_set`), a fingerprint of its ids, the input length and the embedding
settings.

With a `directory` (`evaluate_and_write` given the checkpoint it scores: `<eval dir>/embeddings/
<hash of the checkpoint path>/`), entries are also saved there, the vectors with orbax (sharded,
every host writing its rows; local or gs://) and `ids.json` last as the completeness marker,
so a rerun of an evaluation that stopped reloads them instead of embedding again. The checkpoint
path names its step, so parameters of another step or run never share a directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Hashable, Mapping, Sequence

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from xstilts_jax.storage import PathLike, as_path, write_text_atomic

IDS_FILE, VECTORS_DIR = "ids.json", "vectors"


@dataclasses.dataclass(frozen=True)
class CachedCandidates:
    """A candidate set's embeddings ([rows, d], rows sharded over the mesh) and the row of each candidate id."""

    vectors: jax.Array
    row_of: Mapping[str, int]


def candidate_key(head: str, candidate_set: str, ids: Sequence[str], length: int, settings: Any) -> Hashable:
    """The cache key of candidate set `candidate_set` (ids in idx order) embedded by `head` at `length`."""
    fingerprint = hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()
    mesh = settings.partitioner.mesh
    return (head, candidate_set, fingerprint, length, settings.representation, settings.embedding_dtype, mesh.size)


def params_directory(eval_dir: PathLike, checkpoint: str) -> epath.Path:
    """Where the candidate embeddings of `checkpoint`'s parameters are kept under an eval directory."""
    return as_path(eval_dir) / "embeddings" / hashlib.sha256(checkpoint.encode("utf-8")).hexdigest()[:16]


def _on_every_host(flag: bool) -> bool:
    """Whether `flag` holds on every host."""
    if jax.process_count() == 1:
        return flag
    from jax.experimental import multihost_utils

    return bool(np.all(multihost_utils.process_allgather(np.array([flag]))))


class EmbeddingCache:
    """Candidate embeddings of one evaluation, in memory and optionally on disk (see the module docstring)."""

    def __init__(self, directory: PathLike | None = None) -> None:
        self._entries: dict[Hashable, CachedCandidates] = {}
        self._directory = as_path(directory) if directory is not None else None
        self.hits = self.loads = 0

    def _entry_dir(self, key: Hashable) -> epath.Path | None:
        if self._directory is None:
            return None
        return self._directory / hashlib.sha256(repr(key).encode("utf-8")).hexdigest()[:24]

    def get(self, key: Hashable, sharding: jax.sharding.NamedSharding) -> CachedCandidates | None:
        """The entry under `key` (from memory, else from disk onto `sharding`), or None."""
        found = self._entries.get(key)
        if found is None:
            found = self._load(key, sharding)
        self.hits += found is not None
        return found

    def put(self, key: Hashable, value: CachedCandidates) -> None:
        """Keep `value` under `key` (and save it when the cache has a directory)."""
        self._entries[key] = value
        where = self._entry_dir(key)
        if where is None:
            return
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(where / VECTORS_DIR, {"vectors": value.vectors}, force=True)
        meta = {"shape": list(value.vectors.shape), "dtype": str(value.vectors.dtype), "row_of": dict(value.row_of)}
        if jax.process_index() == 0:
            write_text_atomic(where / IDS_FILE, json.dumps(meta))

    def _load(self, key: Hashable, sharding: jax.sharding.NamedSharding) -> CachedCandidates | None:
        where = self._entry_dir(key)
        if where is None or not _on_every_host((where / IDS_FILE).exists()):
            return None  # every host must take the same path: a directory one host cannot see is not used
        meta = json.loads((where / IDS_FILE).read_text())
        target = {"vectors": jax.ShapeDtypeStruct(tuple(meta["shape"]), np.dtype(meta["dtype"]), sharding=sharding)}
        with ocp.StandardCheckpointer() as checkpointer:
            vectors = checkpointer.restore(where / VECTORS_DIR, target)["vectors"]
        self.loads += 1
        found = CachedCandidates(vectors, meta["row_of"])
        self._entries[key] = found
        return found
