"""Official-equivalent retrieval metrics, in seqio's metric-fn form `fn(targets, predictions)`, as percentages.

- `bucc_f1`: precision / recall / F1 of mined pairs against the gold pairs (xtreme
  `third_party/utils_retrieve.py:bucc_eval`). Tatoeba is plain accuracy (`metrics.accuracy`).
- `map_at_20`: LAReQA's mean average precision over the top 20, each query's sum of
  precision@i at relevant ranks divided by min(|relevant|, 20) (xtreme
  `third_party/utils_lareqa.py:average_precision_at_k`: a repeated candidate id counts once).
  It also reports `queries`, the number of questions scored, so that a benchmark can pool
  the questions of all languages as `mean_avg_prec_at_k` does.
- `mrr_at_20`: Mewsli-X's mean reciprocal rank of the single gold entity among the top 20
  (xtreme `third_party/utils_mewslix.py:evaluate`), reported also under evaluate.py's name `map@20`.

Ranking targets are `{query id: [relevant candidate ids]}` and predictions `{query id:
[candidate ids, best first]}`; a query without a prediction scores 0, a prediction for an
unknown query is ignored, as in the reference code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

TOP_K = 20


def bucc_f1(targets: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mined [source id, target id] pairs against the gold pairs."""
    gold = {tuple(p) for p in targets}
    mined = {tuple(p) for p in predictions}
    if not gold:
        raise ValueError("bucc_f1: there are no gold pairs to score against")
    correct = len(gold & mined)
    if not correct:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    precision, recall = correct / len(mined), correct / len(gold)
    return {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * 2 * precision * recall / (precision + recall)}


def _queries(targets: Mapping[str, Sequence[str]], name: str) -> None:
    if not targets:
        raise ValueError(f"{name}: no queries to score")
    empty = [q for q, relevant in targets.items() if not relevant]
    if empty:
        raise ValueError(f"{name}: queries {empty[:5]} have no relevant candidate; every query needs one")


def map_at_20(targets: Mapping[str, Sequence[str]], predictions: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Mean over queries of AP@20 = sum of precision@i at each first relevant rank i <= 20, / min(|relevant|, 20)."""
    _queries(targets, "map_at_20")
    total = 0.0
    for query, relevant in targets.items():
        relevant_set = set(relevant)
        hits, precision_sum, seen = 0, 0.0, set()
        for rank, candidate in enumerate(predictions.get(query, [])[:TOP_K], start=1):
            if candidate in relevant_set and candidate not in seen:
                hits += 1
                precision_sum += hits / rank
            seen.add(candidate)
        total += precision_sum / min(len(relevant_set), TOP_K)
    return {"map_at_20": 100 * total / len(targets), "queries": float(len(targets))}


def mrr_at_20(targets: Mapping[str, Sequence[str]], predictions: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Mean over queries of 1 / rank of the gold entity (the first listed) within the top 20, else 0."""
    _queries(targets, "mrr_at_20")
    total = 0.0
    for query, relevant in targets.items():
        gold = relevant[0].strip()
        for rank, candidate in enumerate(predictions.get(query, [])[:TOP_K], start=1):
            if candidate == gold:
                total += 1.0 / rank
                break
    score = 100 * total / len(targets)
    return {"mrr_at_20": score, "map@20": score}
