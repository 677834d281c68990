"""Retrieval metrics and BUCC mining on hand-computed cases (xtreme utils_retrieve / utils_lareqa / utils_mewslix)."""

import numpy as np
import pytest

from xstilts_jax.evaluation.retrieval_metrics import bucc_f1, map_at_20, mrr_at_20
from xstilts_jax.evaluation.retrieval_mining import extract_pairs, mine_pairs, optimize_threshold


def test_bucc_f1_counts_mined_pairs_against_gold():
    gold = [["de-1", "en-1"], ["de-2", "en-2"], ["de-3", "en-3"], ["de-4", "en-4"]]
    mined = [["de-1", "en-1"], ["de-2", "en-9"], ["de-3", "en-3"]]
    # P = 2/3, R = 2/4, F1 = 2PR / (P + R) = 4/7
    assert bucc_f1(gold, mined) == pytest.approx({"precision": 200 / 3, "recall": 50.0, "f1": 400 / 7})
    assert bucc_f1(gold, [["de-1", "en-2"]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    with pytest.raises(ValueError, match="no gold pairs"):
        bucc_f1([], mined)


def test_threshold_sits_between_the_best_f1_candidate_and_the_next():
    scored = {("a", "1"): 0.9, ("b", "2"): 0.8, ("c", "3"): 0.7, ("d", "4"): 0.6}
    gold = {("a", "1"), ("c", "3"), ("e", "5")}
    # F1 by prefix: 0.5, 0.4, 2/3 (best: after ("c", "3")), 4/7 -> threshold (0.7 + 0.6) / 2
    assert optimize_threshold(scored, gold) == pytest.approx(0.65)
    assert extract_pairs(scored, 0.65) == [("a", "1"), ("b", "2"), ("c", "3")]
    # best F1 at the last candidate: its own score; nothing correct: 0
    assert optimize_threshold({("a", "1"): 0.9, ("d", "4"): 0.6}, {("d", "4")}) == pytest.approx(0.6)
    assert optimize_threshold({("a", "1"): 0.9}, {("z", "9")}) == 0.0


def test_ratio_margin_max_mining_by_hand():
    # cosines: x0.y0 = 1, x0.y1 = 0, x1.y0 = .6, x1.y1 = .8, x2.y0 = .8, x2.y1 = .6; k = 2
    x = np.array([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6]])
    y = np.array([[2.0, 0.0], [0.0, 3.0]])  # lengths do not matter: cosine
    # forward means (both targets): .5, .7, .7; backward (2 best sources): y0 (1 + .8)/2 = .9, y1 (.8 + .6)/2 = .7
    # margins: x0y0 = 1/.7, x1y1 = .8/.7, x2y0 = .8/.8 = 1 (loses: y0 is taken by the better x0y0)
    pairs = mine_pairs(x, y, k=2)
    assert [(s, t) for s, t, _ in pairs] == [(0, 0), (1, 1)]
    assert [score for _, _, score in pairs] == pytest.approx([1 / 0.7, 0.8 / 0.7], rel=1e-6)
    assert [(s, t) for s, t, _ in mine_pairs(x, y, k=2, threshold=1.2)] == [(0, 0)]


def test_map_at_20_divides_by_min_relevant_20():
    targets = {
        "q1": ["a", "b", "c"],
        "q2": [f"r{i}" for i in range(25)],  # 25 relevant: AP@20 divides by 20
        "q3": ["z"],
    }
    predictions = {
        "q1": ["a", "x", "b", "y"],  # (1/1 + 2/3) / 3
        "q2": [f"r{i}" for i in range(20)] + ["r20"],  # all 20 relevant -> 1 (divisor 25 would give 0.8)
        "q3": ["a"] * 3,  # 0
    }
    expected = 100 * ((1 + 2 / 3) / 3 + 1.0 + 0.0) / 3
    assert map_at_20(targets, predictions) == {"map_at_20": pytest.approx(expected), "queries": 3.0}
    with pytest.raises(ValueError, match="no relevant candidate"):
        map_at_20({"q": []}, {})


def test_mrr_at_20_counts_the_gold_entity_within_the_top_20():
    targets = {"m1": ["Q3"], "m2": ["Q21"], "m3": ["Q1"], "m4": ["Q7"]}
    predictions = {
        "m1": ["Q1", "Q2", "Q3"],  # 1/3
        "m2": [f"Q{i}" for i in range(1, 22)],  # gold at rank 21: 0
        "m4": ["Q7", "Q7"],  # 1; m3 has no prediction: 0
        "unknown": ["Q1"],  # ignored
    }
    expected = pytest.approx(100 * (1 / 3 + 1) / 4)
    assert mrr_at_20(targets, predictions) == {"mrr_at_20": expected, "map@20": expected}  # evaluate.py's name


def test_map_at_20_counts_a_repeated_candidate_once():
    # utils_lareqa.average_precision_at_k skips a prediction already seen higher in the ranking:
    # ranking [a, a, b] against {a, b}: hits at ranks 1 and 3 -> (1/1 + 2/3) / 2 = 83.33 (not 137.5 or 100+).
    score = map_at_20({"q": ["a", "b"]}, {"q": ["a", "a", "b"]})["map_at_20"]
    assert score == pytest.approx(100 * (1 + 2 / 3) / 2)
    assert map_at_20({"q": ["a"]}, {"q": ["a"] * 20})["map_at_20"] == pytest.approx(100.0)
