"""Exact nearest-neighbour search in JAX, sharded over every device of the mesh.

Embeddings stay where the forward pass left them: one `[rows, d]` array (bf16 in evaluation)
whose rows are sharded over all devices of the mesh (`row_sharding`), never gathered onto one
chip. A search takes its queries in blocks (each block summed from the devices that hold its rows
onto every device, a few MB),
and each device scores the block against its own candidate rows, keeps its local top-k, and the
k × devices local winners are all-gathered and merged into the global top-k (`shard_map`).
Scores accumulate in float32.

Ties go to the lower candidate position (the side's order, idx order in evaluation), whatever
row or device holds it: each device sorts its scores with the position as second key, as a
stable brute-force sort does, so the answer does not depend on the number of devices or hosts
or on the order examples were embedded in (length buckets).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from xstilts_jax.errors import InputError

QUERY_BLOCK = 1024


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine similarity = inner product); zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def device_mesh() -> Mesh:
    """A one-axis mesh over every device (for searches that are given no mesh)."""
    return Mesh(np.asarray(jax.devices()), ("devices",))


def row_sharding(mesh: Mesh) -> NamedSharding:
    """Rows split over every device of `mesh` (all its axes, in order), the rest of the array whole."""
    return NamedSharding(mesh, P(mesh.axis_names, None))


def padded_rows(rows: int, mesh: Mesh) -> int:
    """`rows` rounded up to a multiple of the mesh's device count (so rows split evenly)."""
    return -(-max(rows, 1) // mesh.size) * mesh.size


@dataclasses.dataclass(frozen=True)
class Side:
    """One side of a search: the rows of `vectors` ([R, d], rows sharded over the mesh) that belong to
    it, in the side's order (`rows[i]` is the row of its i-th example)."""

    vectors: jax.Array
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


def place(vectors: np.ndarray, mesh: Mesh, dtype: jnp.dtype | None = None) -> Side:
    """Host vectors (the same on every host) as a `Side` of every row, rows sharded over `mesh`."""
    vectors = np.asarray(vectors, dtype or np.asarray(vectors).dtype)
    padded = np.zeros((padded_rows(len(vectors), mesh), vectors.shape[1]), vectors.dtype)
    padded[: len(vectors)] = vectors
    array = jax.make_array_from_callback(padded.shape, row_sharding(mesh), lambda index: padded[index])
    return Side(array, np.arange(len(vectors)))


def _best(scores: jax.Array, positions: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """The k best (score, position) per row: highest score first, ties to the lower position."""
    neg, pos = jax.lax.sort((-scores, positions), dimension=1, num_keys=2)
    return -neg[:, :k], pos[:, :k]


@functools.lru_cache(maxsize=None)
def _local_then_merge(mesh: Mesh, k: int, local_k: int):
    """The jitted search step over a block of query rows: the block gathered from the devices that hold
    it, each device's best `local_k` over its candidate rows, then the merged best k."""
    axes = mesh.axis_names

    def step(
        query_vectors: jax.Array, query_rows: jax.Array, candidates: jax.Array, positions: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        # each device contributes the block's rows it holds; the sum is the block on every device
        # (a gather on the sharded array would make XLA replicate the whole array first)
        shard = query_vectors.shape[0]
        local = query_rows - jax.lax.axis_index(axes) * shard
        held = (local >= 0) & (local < shard)
        block = jnp.where(held[:, None], jnp.take(query_vectors, jnp.clip(local, 0, shard - 1), axis=0), 0)
        queries = jax.lax.psum(block.astype(jnp.float32), axes).astype(candidates.dtype)
        sims = jnp.einsum(
            "qd,cd->qc", queries, candidates, preferred_element_type=jnp.float32, precision=jax.lax.Precision.HIGHEST
        )
        valid = positions >= 0
        sims = jnp.where(valid[None, :], sims, -jnp.inf)
        keys = jnp.broadcast_to(jnp.where(valid, positions, jnp.iinfo(jnp.int32).max)[None, :], sims.shape)
        scores, found = _best(sims, keys, local_k)
        scores = jax.lax.all_gather(scores, axes, axis=1, tiled=True)
        found = jax.lax.all_gather(found, axes, axis=1, tiled=True)
        return _best(scores, found, k)

    sharded = jax.shard_map(
        step, mesh=mesh, in_specs=(P(axes, None), P(), P(axes, None), P(axes)), out_specs=(P(), P()), check_vma=False
    )
    return jax.jit(sharded, out_shardings=(NamedSharding(mesh, P()), NamedSharding(mesh, P())))


def _host(value: jax.Array) -> np.ndarray:
    """A replicated array as numpy on this host."""
    return np.asarray(value.addressable_data(0))


def search(queries: Side, candidates: Side, k: int, mesh: Mesh, *, query_block: int = QUERY_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the k candidates with the largest inner product: (scores [Q, k] float32, candidate
    positions [Q, k] in `candidates`' order), best first. k larger than the pool is cut to the pool size.

    Normalize both sides first for cosine similarity. Every host gets the same answer.
    """
    if not len(candidates):
        raise InputError("search: the candidate pool is empty; check the task's candidate files.")
    if k < 1:
        raise InputError(f"search: k must be >= 1, got {k}.")
    if queries.vectors.shape[1] != candidates.vectors.shape[1]:
        raise InputError(f"search: queries have dimension {queries.vectors.shape[1]} but candidates {candidates.vectors.shape[1]}.")
    total = candidates.vectors.shape[0]
    for name, side in (("candidate", candidates), ("query", queries)):
        if side.vectors.shape[0] % mesh.size:
            raise InputError(f"search: {side.vectors.shape[0]} {name} rows do not split over {mesh.size} devices; place them with `place`.")
    k = min(k, len(candidates))
    position = np.full(total, -1, np.int32)
    position[candidates.rows] = np.arange(len(candidates), dtype=np.int32)
    positions = jax.make_array_from_callback((total,), NamedSharding(mesh, P(mesh.axis_names)), lambda index: position[index])
    step = _local_then_merge(mesh, k, min(k, total // mesh.size))
    replicated = NamedSharding(mesh, P())
    block = max(1, min(query_block, len(queries)))
    scores, found = [], []
    for start in range(0, len(queries), block):
        rows = np.zeros(block, np.int32)
        chunk = queries.rows[start : start + block]
        rows[: len(chunk)] = chunk
        rows_array = jax.make_array_from_callback(rows.shape, replicated, lambda index: rows[index])
        best, at = step(queries.vectors, rows_array, candidates.vectors, positions)
        scores.append(_host(best)[: len(chunk)])
        found.append(_host(at)[: len(chunk)].astype(np.int64))
    if not scores:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.concatenate(scores), np.concatenate(found)


def top_k_similar(
    queries: np.ndarray, candidates: np.ndarray, k: int, *, mesh: Mesh | None = None, query_block: int = QUERY_BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """`search` over host arrays (the same on every host): (scores [Q, k], candidate indices [Q, k]),
    best first, ties to the lower candidate index; candidates sharded over `mesh` (default: every device)."""
    queries, candidates = np.asarray(queries, np.float32), np.asarray(candidates, np.float32)
    if queries.ndim != 2 or candidates.ndim != 2 or queries.shape[1] != candidates.shape[1]:
        raise InputError(f"top_k_similar needs [Q, d] queries and [C, d] candidates; got {queries.shape} and {candidates.shape}.")
    if len(candidates) == 0:
        raise InputError("top_k_similar: the candidate pool is empty; check the task's candidate files.")
    mesh = mesh or device_mesh()
    return search(place(queries, mesh), place(candidates, mesh), k, mesh, query_block=query_block)
