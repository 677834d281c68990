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

Multi-host: each host embeds its data shard; the embeddings are all-gathered so every host
holds both sides and runs the same exact search (memory: 4 bytes × dim per example per host).
"""

from __future__ import annotations

from typing import Mapping

import jax
import numpy as np
from jax.experimental import multihost_utils

from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import InputError
from xstilts_jax.evaluation.forward import EvalSettings, forward_batches
from xstilts_jax.evaluation.retrieval import RetrievalSplit, retrieval_split
from xstilts_jax.evaluation.retrieval_metrics import TOP_K
from xstilts_jax.evaluation.retrieval_mining import extract_pairs, mine_pairs, optimize_threshold
from xstilts_jax.evaluation.retrieval_search import l2_normalize, top_k_similar
from xstilts_jax.models.model import Model

TUNING_SPLIT = "validation"


def _allgather_rows(idx: np.ndarray, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every host's (idx, embedding) rows on every host."""
    if jax.process_count() == 1:
        return idx, emb
    counts = multihost_utils.process_allgather(np.array([len(idx)], np.int64)).reshape(-1)
    rows = int(counts.max())
    pad = rows - len(idx)
    all_idx = multihost_utils.process_allgather(np.concatenate([idx, np.full(pad, -1, idx.dtype)]))
    all_emb = multihost_utils.process_allgather(np.concatenate([emb, np.zeros((pad, emb.shape[1]), emb.dtype)]))
    keep = [slice(0, int(n)) for n in counts]
    return np.concatenate([a[k] for a, k in zip(all_idx, keep)]), np.concatenate([e[k] for e, k in zip(all_emb, keep)])


def pooled_embedding(outputs: Mapping[str, jax.Array]) -> Mapping[str, jax.Array]:
    """The forward's selection for retrieval: the pooled embedding only."""
    return {"embedding": outputs["embedding"]}


def embed_task(model: Model, task: str, split: str, settings: EvalSettings) -> dict[int, np.ndarray]:
    """idx → pooled embedding of every example of `task`/`split`, on every host."""
    head = get_task_record(task).head
    idx_parts, emb_parts = [], []
    for batch, out in forward_batches(model, task, split, head, settings, pooled_embedding):
        idx_parts.append(np.asarray(batch["idx"], np.int64))
        emb_parts.append(np.asarray(out["embedding"], np.float32))
    if not idx_parts:
        raise InputError(f"{task} {split}: the split has no examples to embed.")
    idx, emb = _allgather_rows(np.concatenate(idx_parts), np.concatenate(emb_parts))
    return {int(i): e for i, e in zip(idx, emb)}


def _sides(task: str, split: str, data: RetrievalSplit, emb: Mapping[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(query matrix, candidate matrix), rows in idx order, checked against the embedded examples."""
    expected = set(data.queries) | set(data.candidates)
    if set(emb) != expected:
        missing, extra = sorted(expected - set(emb)), sorted(set(emb) - expected)
        raise InputError(
            f"{task} {split}: the embedded examples and the retrieval split disagree (idx missing: {missing[:5]}, "
            f"unexpected: {extra[:5]}); the task's source and its retrieval split reader must number examples alike."
        )
    if not data.queries or not data.candidates:
        raise InputError(f"{task} {split}: {len(data.queries)} queries and {len(data.candidates)} candidates; both sides need examples.")
    queries = np.stack([emb[i] for i in sorted(data.queries)])
    candidates = np.stack([emb[i] for i in sorted(data.candidates)])
    return l2_normalize(queries), l2_normalize(candidates)


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
    queries, candidates = _sides(task, split, data, embed_task(model, task, split, settings))
    position = {cid: p for p, cid in enumerate(data.candidates[i] for i in sorted(data.candidates))}
    _, ids = top_k_similar(queries, candidates, 1)
    gold = [position[data.relevant[data.queries[i]][0]] for i in sorted(data.queries)]
    return gold, [int(i) for i in ids[:, 0]]


def decode_ranking(
    model: Model, task: str, split: str, settings: EvalSettings
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Each query's top-20 candidate ids by cosine, best first."""
    data = _ranked_split(task, split)
    queries, candidates = _sides(task, split, data, embed_task(model, task, split, settings))
    candidate_ids = [data.candidates[i] for i in sorted(data.candidates)]
    _, ids = top_k_similar(queries, candidates, TOP_K)
    query_ids = [data.queries[i] for i in sorted(data.queries)]
    predicted = {q: [candidate_ids[j] for j in row] for q, row in zip(query_ids, ids)}
    return {q: list(data.relevant[q]) for q in query_ids}, predicted


def _mined_scores(model: Model, task: str, split: str, settings: EvalSettings, data: RetrievalSplit) -> dict[tuple[str, str], float]:
    queries, candidates = _sides(task, split, data, embed_task(model, task, split, settings))
    source_ids = [data.queries[i] for i in sorted(data.queries)]
    target_ids = [data.candidates[i] for i in sorted(data.candidates)]
    scored: dict[tuple[str, str], float] = {}
    for s, t, score in mine_pairs(queries, candidates):
        if source_ids[s] and target_ids[t]:
            pair = (source_ids[s], target_ids[t])
            scored[pair] = max(score, scored.get(pair, score))
    return scored


def _gold_pairs(data: RetrievalSplit) -> list[tuple[str, str]]:
    return sorted((s, t) for s, targets in data.relevant.items() for t in targets)


def decode_mining(model: Model, task: str, split: str, settings: EvalSettings) -> tuple[list[list[str]], list[list[str]]]:
    """Mined [source id, target id] pairs at or above the F1-optimal threshold of the validation split."""
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
