"""Retrieval decoding: embed every example of a task, search, and decode for the task's metric fns.

A retrieval eval task is one seqio task whose examples are single texts, each either a query
or a candidate; which is which, their ids and the gold relation come from the `RetrievalSplit`
the task catalog registers (`evaluation.retrieval`), keyed by the examples' `idx`. Label kinds
(the decoder and output format), scored by `evaluation.retrieval_metrics` (and
`metrics.accuracy` for "nearest"):

- "nearest" (Tatoeba): each query's single best candidate, as the candidate's position in
  candidate order; gold is the position of its relevant candidate. Scored by accuracy.
- "ranking" (LAReQA, Mewsli-X): `{query id: [top-20 candidate ids]}` against `{query id:
  [relevant ids]}`. Scored by mAP@20 / MRR@20.
- "mining" (BUCC): queries are source sentences, candidates target sentences; pairs are mined
  by ratio margin and kept at or above a threshold tuned for F1 on the task's `validation`
  split (on itself when that is the split scored); gold and predictions are [source id,
  target id] lists. An empty id marks an example that is a neighbour but never output (BUCC:
  a sentence text listed under several ids, which xtreme's scorer drops).

Embeddings stay on the mesh: the forward's pooled embeddings are L2-normalized on device, kept
in `EvalSettings.embedding_dtype` (bf16 by default) and stacked into one array whose rows are
sharded over every device; the search (`evaluation.retrieval_search.search`) is sharded the same
way, so no chip holds all of them and nothing is all-gathered but the top-k.

Each side is embedded at its own length: the run's eval length when it sets one, else the
lengths the task's split names (XTREME-R's: Mewsli-X 64 for mentions and entities; LAReQA 96
for questions, 256 for answer sentences with their paragraph), else the task's default (512).
A candidate set that several tasks share (`RetrievalSplit.candidate_set`: Mewsli-X's entities,
LAReQA's answer pool) is embedded once per evaluation and reused for every language, through
the evaluation's `EmbeddingCache` (`evaluation.embedding_cache`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from xstilts_jax.data.batches import default_length
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import InputError
from xstilts_jax.evaluation.embedding_cache import CachedCandidates, candidate_key
from xstilts_jax.evaluation.forward import EvalSettings, eval_spec, forward_steps
from xstilts_jax.evaluation.retrieval import RetrievalSplit, retrieval_split
from xstilts_jax.evaluation.retrieval_metrics import TOP_K
from xstilts_jax.evaluation.retrieval_mining import NEIGHBOURHOOD, extract_pairs, mine_neighbours, optimize_threshold
from xstilts_jax.evaluation.retrieval_search import Side, padded_rows, row_sharding, search
from xstilts_jax.models.model import Model

TUNING_SPLIT = "validation"
_STACK = 256  # batches stacked per jitted concatenation


@dataclasses.dataclass(frozen=True)
class Embedded:
    """The embeddings of one pass: `vectors` [rows, d] sharded over the mesh's devices, and the idx of
    each row on every host (-1: a padding row)."""

    vectors: jax.Array
    idx: np.ndarray

    def rows(self, task: str, split: str, wanted: Sequence[int]) -> np.ndarray:
        """The rows of examples `wanted` (idx), in that order; InputError naming the first idx not embedded."""
        row_of = np.full(max(int(self.idx.max(initial=-1)), max(wanted, default=-1)) + 1, -1, np.int64)
        real = self.idx >= 0
        row_of[self.idx[real]] = np.nonzero(real)[0]
        rows = row_of[np.asarray(wanted, np.int64)]
        if (rows < 0).any():
            missing = [int(i) for i in np.asarray(wanted)[rows < 0][:5]]
            raise InputError(
                f"{task} {split}: examples {missing} of the retrieval split were not embedded; the task's source "
                "and its retrieval split reader must number examples alike."
            )
        return rows


def normalized_embedding(outputs: Mapping[str, jax.Array]) -> Mapping[str, jax.Array]:
    """The forward's selection for retrieval: the pooled embedding, L2-normalized in float32 (cosine = inner product)."""
    x = outputs["embedding"].astype(jnp.float32)
    return {"embedding": x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)}


def _stack(parts: list[jax.Array], fill: float | int, mesh: Mesh, sharding: NamedSharding) -> jax.Array:
    """Concatenate batch-sharded arrays along rows, padded to a multiple of the mesh's devices, rows sharded over it."""
    while len(parts) > 1:
        parts = [_concat(tuple(parts[i : i + _STACK]), sharding) for i in range(0, len(parts), _STACK)]
    rows = padded_rows(parts[0].shape[0], mesh)
    return _pad_to(parts[0], rows, fill, sharding)


def _concat(parts: tuple[jax.Array, ...], sharding: NamedSharding) -> jax.Array:
    return _concat_fn(sharding)(*parts)


def _pad_to(x: jax.Array, rows: int, fill: float | int, sharding: NamedSharding) -> jax.Array:
    return _pad_fn(sharding)(x, rows=rows, fill=fill)


@functools.lru_cache(maxsize=None)
def _concat_fn(sharding: NamedSharding):
    return jax.jit(lambda *xs: jnp.concatenate(xs), out_shardings=sharding)


@functools.lru_cache(maxsize=None)
def _pad_fn(sharding: NamedSharding):
    def pad(x: jax.Array, rows: int, fill: float | int) -> jax.Array:
        return jnp.pad(x, [(0, rows - x.shape[0])] + [(0, 0)] * (x.ndim - 1), constant_values=fill)

    return jax.jit(pad, static_argnames=("rows", "fill"), out_shardings=sharding)


def _on_every_host(x: jax.Array) -> np.ndarray:
    if jax.process_count() == 1:
        return np.asarray(x)
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def embed(
    model: Model, task: str, split: str, settings: EvalSettings, length: int | None, idx_range: tuple[int, int] | None
) -> Embedded:
    """The normalized pooled embedding of every example of `task`/`split` (those numbered in `idx_range`),
    at `length` (None: the run's or task's), kept on the mesh in `settings.embedding_dtype`."""
    head = get_task_record(task).head
    spec = eval_spec(task, split, settings, length=length, idx_range=idx_range)
    partitioner, mesh = settings.partitioner, settings.partitioner.mesh
    dtype = jnp.dtype(settings.embedding_dtype)
    vectors, idx = [], []
    for local, rows, out in forward_steps(model, spec, head, settings, normalized_embedding):
        local_idx = np.asarray(local["idx"], np.int32).copy()
        local_idx[rows:] = -1
        idx.append(partitioner.to_global({"idx": local_idx})["idx"])
        vectors.append(out["embedding"].astype(dtype))
    if not vectors:
        raise InputError(f"{task} {split}: the split has no examples to embed.")
    stacked = _stack(vectors, 0, mesh, row_sharding(mesh))
    stacked_idx = _stack(idx, -1, mesh, NamedSharding(mesh, P(mesh.axis_names)))
    return Embedded(stacked, _on_every_host(stacked_idx).astype(np.int64))


def _span(idx: Sequence[int]) -> tuple[int, int]:
    """The smallest [start, stop) holding every idx (a side's examples; others in it are read, then left out)."""
    return int(min(idx)), int(max(idx)) + 1


def embedded_sides(model: Model, task: str, split: str, settings: EvalSettings, data: RetrievalSplit) -> tuple[Side, Side]:
    """(queries, candidates) of `data`, each in idx order, embedded at their lengths; a shared candidate
    set comes from the evaluation's cache when an earlier task of it embedded it."""
    if not data.queries or not data.candidates:
        raise InputError(f"{task} {split}: {len(data.queries)} queries and {len(data.candidates)} candidates; both sides need examples.")
    queries, candidates = sorted(data.queries), sorted(data.candidates)
    query_length = settings.length or data.query_length
    candidate_length = settings.length or data.candidate_length
    cache = settings.embedding_cache
    candidate_ids = [data.candidates[i] for i in candidates]
    key = None
    # shared by id: a set whose ids repeat (BUCC's repeated sentences) is never shared
    if cache is not None and data.candidate_set is not None and len(set(candidate_ids)) == len(candidate_ids):
        length = candidate_length or default_length(task, settings.input_lengths)
        key = candidate_key(get_task_record(task).head, data.candidate_set, candidate_ids, length, settings)
    if key is None and query_length == candidate_length:
        both = embed(model, task, split, settings, query_length, None)
        expected = set(queries) | set(candidates)
        extra = sorted(set(both.idx[both.idx >= 0].tolist()) - expected)
        if extra:
            raise InputError(
                f"{task} {split}: examples {extra[:5]} are neither queries nor candidates of the retrieval split; the "
                "task's source and its retrieval split reader must number examples alike."
            )
        return Side(both.vectors, both.rows(task, split, queries)), Side(both.vectors, both.rows(task, split, candidates))
    asked = embed(model, task, split, settings, query_length, _span(queries))
    query_side = Side(asked.vectors, asked.rows(task, split, queries))
    cached = cache.get(key, row_sharding(settings.partitioner.mesh)) if key is not None else None
    if cached is None:
        pool = embed(model, task, split, settings, candidate_length, _span(candidates))
        cached = CachedCandidates(pool.vectors, dict(zip(candidate_ids, pool.rows(task, split, candidates).tolist())))
        if key is not None:
            cache.put(key, cached)
    return query_side, Side(cached.vectors, np.asarray([cached.row_of[c] for c in candidate_ids], np.int64))


def _ranked_split(task: str, split: str) -> RetrievalSplit:
    """The split, checked: every query has relevant candidates, all of them in the pool."""
    data = retrieval_split(task, split)
    pool = set(data.candidates.values())
    for query in data.queries.values():
        unknown = [c for c in data.relevant.get(query, ()) if c not in pool]
        if not data.relevant.get(query) or unknown:
            raise InputError(
                f"{task} {split}: query {query!r} has relevant candidates {list(data.relevant.get(query, ()))[:5]}, "
                f"of which {unknown[:5]} are not in the candidate pool; every query needs at least one, all in the pool."
            )
    return data


def decode_nearest(model: Model, task: str, split: str, settings: EvalSettings) -> tuple[list[int], list[int]]:
    """Each query's nearest candidate by cosine, as its position in candidate (idx) order."""
    data = _ranked_split(task, split)
    queries, candidates = embedded_sides(model, task, split, settings, data)
    position = {cid: p for p, cid in enumerate(data.candidates[i] for i in sorted(data.candidates))}
    _, ids = search(queries, candidates, 1, settings.partitioner.mesh)
    gold = [position[data.relevant[data.queries[i]][0]] for i in sorted(data.queries)]
    return gold, [int(i) for i in ids[:, 0]]


def decode_ranking(
    model: Model, task: str, split: str, settings: EvalSettings
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Each query's top-20 candidate ids by cosine, best first."""
    data = _ranked_split(task, split)
    queries, candidates = embedded_sides(model, task, split, settings, data)
    candidate_ids = [data.candidates[i] for i in sorted(data.candidates)]
    _, ids = search(queries, candidates, TOP_K, settings.partitioner.mesh)
    query_ids = [data.queries[i] for i in sorted(data.queries)]
    predicted = {q: [candidate_ids[j] for j in row] for q, row in zip(query_ids, ids)}
    return {q: list(data.relevant[q]) for q in query_ids}, predicted


def _mined_scores(model: Model, task: str, split: str, settings: EvalSettings, data: RetrievalSplit) -> dict[tuple[str, str], float]:
    sources, targets = embedded_sides(model, task, split, settings, data)
    mesh = settings.partitioner.mesh
    forward = search(sources, targets, min(NEIGHBOURHOOD, len(targets)), mesh)
    backward = search(targets, sources, min(NEIGHBOURHOOD, len(sources)), mesh)
    source_ids = [data.queries[i] for i in sorted(data.queries)]
    target_ids = [data.candidates[i] for i in sorted(data.candidates)]
    scored: dict[tuple[str, str], float] = {}
    for s, t, score in mine_neighbours(forward, backward):
        if source_ids[s] and target_ids[t]:
            pair = (source_ids[s], target_ids[t])
            scored[pair] = max(score, scored.get(pair, score))
    return scored


def _gold_pairs(data: RetrievalSplit) -> list[tuple[str, str]]:
    return sorted((s, t) for s, targets in data.relevant.items() for t in targets)


def decode_mining(model: Model, task: str, split: str, settings: EvalSettings) -> tuple[list[list[str]], list[list[str]]]:
    """Mined [source id, target id] pairs of `split` at or above the threshold with the best F1 on the
    validation split (xtreme's BUCC: tuned on dev, applied to test)."""
    data = retrieval_split(task, split)
    scored = _mined_scores(model, task, split, settings, data)
    if split == TUNING_SPLIT:
        tuning, tuning_scored = data, scored
    else:
        tuning = retrieval_split(task, TUNING_SPLIT)
        tuning_scored = _mined_scores(model, task, TUNING_SPLIT, settings, tuning)
    threshold = optimize_threshold(tuning_scored, _gold_pairs(tuning))
    predicted = [list(p) for p in extract_pairs(scored, threshold)]
    return [list(p) for p in _gold_pairs(data)], predicted
