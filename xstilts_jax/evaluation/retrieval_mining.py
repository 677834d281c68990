"""Bitext mining as BUCC is scored in XTREME (google-research/xtreme `third_party/utils_retrieve.py`,
from LASER): ratio-margin scores over k = 4 neighbours in both directions, "max" retrieval
(each sentence's best partner in either direction, kept greedily one-to-one by score), a
threshold tuned on gold pairs for the best F1, and pairs at or above it extracted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from xstilts_jax.evaluation.retrieval_search import l2_normalize, top_k_similar

NEIGHBOURHOOD = 4

Pair = tuple[str, str]


def _best_by_margin(
    sims: np.ndarray, ids: np.ndarray, own_mean: np.ndarray, other_mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's best neighbour under ratio margin: cos / ((own mean + neighbour's mean) / 2)."""
    margins = sims / ((own_mean[:, None] + other_mean[ids]) / 2)
    best = np.argmax(margins, axis=1)  # first maximum, as numpy's argmax in the reference
    rows = np.arange(len(ids))
    return ids[rows, best], margins[rows, best]


def mine_pairs(
    source: np.ndarray, target: np.ndarray, k: int = NEIGHBOURHOOD, threshold: float = 0.0
) -> list[tuple[int, int, float]]:
    """Candidate pairs (source row, target row, margin score) by ratio-margin "max" mining, best first,
    of host embeddings compared by cosine (`mine_neighbours` on their k nearest neighbours)."""
    x, y = l2_normalize(source), l2_normalize(target)
    return mine_neighbours(top_k_similar(x, y, min(k, len(y))), top_k_similar(y, x, min(k, len(x))), threshold)


def mine_neighbours(
    forward: tuple[np.ndarray, np.ndarray], backward: tuple[np.ndarray, np.ndarray], threshold: float = 0.0
) -> list[tuple[int, int, float]]:
    """Candidate pairs (source position, target position, margin score), best first, from each source's k
    nearest targets (`forward`: cosines and target positions) and each target's k nearest sources (`backward`).

    Every source's best target and every target's best source (by margin among their k nearest
    neighbours) compete by score; a pair is kept when neither side was taken by a better pair and
    its score exceeds `threshold`.
    """
    (fwd_sims, fwd_ids), (bwd_sims, bwd_ids) = forward, backward
    fwd_mean, bwd_mean = fwd_sims.mean(axis=1), bwd_sims.mean(axis=1)
    fwd_best, fwd_score = _best_by_margin(fwd_sims, fwd_ids, fwd_mean, bwd_mean)
    bwd_best, bwd_score = _best_by_margin(bwd_sims, bwd_ids, bwd_mean, fwd_mean)
    src = np.concatenate([np.arange(len(fwd_ids)), bwd_best])
    trg = np.concatenate([fwd_best, np.arange(len(bwd_ids))])
    scores = np.concatenate([fwd_score, bwd_score])
    taken_src: set[int] = set()
    taken_trg: set[int] = set()
    pairs = []
    for i in np.argsort(-scores, kind="stable"):
        s, t = int(src[i]), int(trg[i])
        if s in taken_src or t in taken_trg:
            continue
        taken_src.add(s)
        taken_trg.add(t)
        if scores[i] > threshold:
            pairs.append((s, t, float(scores[i])))
    return pairs


def optimize_threshold(scored: Mapping[Pair, float], gold: Collection[Pair]) -> float:
    """The score threshold with the best F1 against `gold` (xtreme's `bucc_optimize`).

    Sweeping candidates by falling score, the threshold sits halfway between the candidate
    where F1 peaks and the next one (at the last candidate's own score when the peak is last);
    0 when no candidate is correct.
    """
    gold = set(gold)
    items = sorted(scored.items(), key=lambda item: -item[1])
    extracted = correct = 0
    best_f1, threshold = 0.0, 0.0
    for i, (pair, score) in enumerate(items):
        extracted += 1
        correct += pair in gold
        if correct:
            precision, recall = correct / extracted, correct / len(gold)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    return threshold


def extract_pairs(scored: Mapping[Pair, float], threshold: float) -> list[Pair]:
    """The candidate pairs scoring at least `threshold`, sorted."""
    return sorted(pair for pair, score in scored.items() if score >= threshold)
