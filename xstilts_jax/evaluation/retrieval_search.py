"""Exact nearest-neighbour search in JAX: the k largest inner products per query.

Candidates stream through the device in fixed-size blocks and every query keeps a running
top-k, so a pool of a million candidates needs one block of device memory, not the whole
matrix; each block is sent once. Search runs on this host's default device; every host that
calls it gets the same answer (retrieval predictors gather both sides' embeddings on every
host first, see `xstilts_jax.evaluation.retrieval`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from xstilts_jax.errors import InputError


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine similarity = inner product); zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@functools.partial(jax.jit, static_argnames=("k",))
def _merge_block(
    best_scores: jax.Array, best_ids: jax.Array, queries: jax.Array, block: jax.Array, offset: jax.Array, valid: jax.Array, k: int
) -> tuple[jax.Array, jax.Array]:
    """Fold one candidate block into the running top-k; earlier (lower-index) entries win ties."""
    sims = jnp.einsum("qd,cd->qc", queries, block, precision=jax.lax.Precision.HIGHEST)
    sims = jnp.where(jnp.arange(block.shape[0])[None, :] < valid, sims, -jnp.inf)
    block_scores, block_ids = jax.lax.top_k(sims, min(k, block.shape[0]))
    scores = jnp.concatenate([best_scores, block_scores], axis=1)
    ids = jnp.concatenate([best_ids, block_ids + offset], axis=1)
    top_scores, pos = jax.lax.top_k(scores, k)
    return top_scores, jnp.take_along_axis(ids, pos, axis=1)


def _pad_rows(x: np.ndarray, rows: int) -> np.ndarray:
    return np.concatenate([x, np.zeros((rows - len(x),) + x.shape[1:], x.dtype)]) if len(x) < rows else x


def top_k_similar(
    queries: np.ndarray,
    candidates: np.ndarray,
    k: int,
    *,
    query_block: int = 4096,
    candidate_block: int = 65536,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the k candidates with the largest inner product: (scores [Q, k], indices [Q, k]),
    best first, ties to the lower candidate index. k larger than the pool is cut to the pool size.

    Normalize both sides first (`l2_normalize`) for cosine similarity.
    """
    queries = np.asarray(queries, np.float32)
    candidates = np.asarray(candidates, np.float32)
    if queries.ndim != 2 or candidates.ndim != 2 or queries.shape[1] != candidates.shape[1]:
        raise InputError(f"top_k_similar needs [Q, d] queries and [C, d] candidates; got {queries.shape} and {candidates.shape}.")
    if len(candidates) == 0:
        raise InputError("top_k_similar: the candidate pool is empty; check the task's candidate files.")
    if k < 1:
        raise InputError(f"top_k_similar: k must be >= 1, got {k}.")
    k = min(k, len(candidates))
    qb = min(query_block, max(len(queries), 1))
    cb = min(candidate_block, len(candidates))
    q_starts = range(0, len(queries), qb)
    q_blocks = [jnp.asarray(_pad_rows(queries[s : s + qb], qb)) for s in q_starts]
    best = [(jnp.full((qb, k), -jnp.inf, jnp.float32), jnp.zeros((qb, k), jnp.int32)) for _ in q_blocks]
    c_starts = range(0, len(candidates), cb)
    for start in tqdm(c_starts, desc="search", unit="block", disable=len(c_starts) < 4):
        chunk = candidates[start : start + cb]
        block = jnp.asarray(_pad_rows(chunk, cb))
        offset, valid = jnp.int32(start), jnp.int32(len(chunk))
        best = [_merge_block(s, i, q, block, offset, valid, k) for (s, i), q in zip(best, q_blocks)]
    scores = np.concatenate([np.asarray(s) for s, _ in best])[: len(queries)] if best else np.zeros((0, k), np.float32)
    ids = np.concatenate([np.asarray(i) for _, i in best])[: len(queries)] if best else np.zeros((0, k), np.int32)
    return scores, ids
