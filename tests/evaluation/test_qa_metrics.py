"""SQuAD v1.1, SQuAD 2.0 and MLQA metrics against values worked out by hand from the official scripts."""

import pytest

from xstilts_jax.evaluation import qa_metrics


def test_squad_v1_exact_match_and_f1():
    targets = [["the North Sea", "North Sea"], ["about 1,230 kilometres"], ["Rotterdam"]]
    predictions = ["North Sea.", "1,230 kilometres long", "Basel"]
    # "north sea" == "north sea"; {1230, kilometres} shared of 3 and 3 tokens: F1 2/3; no overlap.
    scores = qa_metrics.squad_v1(targets, predictions)
    assert scores == {"exact_match": pytest.approx(100 / 3), "f1": pytest.approx(100 * (1 + 2 / 3) / 3)}
    # ASCII punctuation only: guillemets stay, so the token differs.
    assert qa_metrics.squad_v1([["Rotterdam"]], ["«Rotterdam»"]) == {"exact_match": 0.0, "f1": 0.0}
    assert qa_metrics.normalize_squad("  The  Rhine's delta, an estuary ") == "rhines delta estuary"


def test_squad_v2_splits_has_answer_and_no_answer():
    targets = [["about 1,230 kilometres", "1,230 kilometres"], [], ["Rotterdam"], ["a"], []]
    predictions = ["1,230 kilometres", "", "Rotterdam, Netherlands", "the", "Basel"]
    # exact: 1, 1 (both empty), 0, 1 ("a" normalizes to nothing: gold is "", and "the" is too), 0
    # f1:    1, 1, 2/3 (1 of 2 predicted tokens, all gold tokens), 1 (both empty), 0
    scores = qa_metrics.squad_v2(targets, predictions)
    assert scores == pytest.approx(
        {
            "exact_match": 60.0,
            "f1": 100 * (3 + 2 / 3) / 5,
            "has_answer_exact_match": 200 / 3,
            "has_answer_f1": 100 * (2 + 2 / 3) / 3,
            "no_answer_exact_match": 50.0,
            "no_answer_f1": 50.0,
        }
    )
    assert set(qa_metrics.squad_v2([["x"]], ["x"])) == {"exact_match", "f1", "has_answer_exact_match", "has_answer_f1"}


def test_mlqa_is_language_aware():
    # Chinese: one token per character; 8 of 9 gold characters predicted: F1 = 2 * 1 * 8/9 / (1 + 8/9) = 16/17.
    assert qa_metrics.mlqa("zh")([["约一千二百三十公里"]], ["一千二百三十公里"]) == pytest.approx(
        {"exact_match": 0.0, "f1": 100 * 16 / 17}
    )
    # German articles go: "in nordsee" vs "nordsee" is F1 2/3 (SQuAD's English rules give 1/2).
    assert qa_metrics.mlqa("de")([["in die Nordsee"]], ["Nordsee"])["f1"] == pytest.approx(200 / 3)
    assert qa_metrics.squad_v1([["in die Nordsee"]], ["Nordsee"])["f1"] == pytest.approx(50.0)
    # Arabic: every "ال" becomes a space, also inside words: "بحر الشمال" → "بحر شم".
    assert qa_metrics.normalize_mlqa("بحر الشمال", "ar") == "بحر شم"
    assert qa_metrics.mlqa("ar")([["بحر الشمال"]], ["الشمال"])["f1"] == pytest.approx(200 / 3)
    # Spanish articles; Unicode punctuation (guillemets) is removed.
    assert qa_metrics.mlqa("es")([["en el mar del Norte"]], ["mar del Norte"])["f1"] == pytest.approx(600 / 7)
    assert qa_metrics.mlqa("en")([["Rotterdam"]], ["«Rotterdam»"]) == {"exact_match": 100.0, "f1": 100.0}
    assert qa_metrics.normalize_mlqa("北京大学, Peking University!", "zh") == "北 京 大 学 peking university"


def test_metric_input_errors():
    with pytest.raises(ValueError, match="not 'fr'"):
        qa_metrics.mlqa("fr")
    with pytest.raises(ValueError, match="2 targets but 1 predictions"):
        qa_metrics.squad_v1([["a"], ["b"]], ["a"])
    with pytest.raises(ValueError, match="example 0: no gold answers; .* squad_v2"):
        qa_metrics.squad_v1([[]], [""])
    with pytest.raises(ValueError, match="example 0: gold answers must be a list of strings"):
        qa_metrics.squad_v1(["Rotterdam"], ["Rotterdam"])
    with pytest.raises(ValueError, match="no examples"):
        qa_metrics.squad_v2([], [])


def test_squad_v2_best_thresholds_as_the_official_script():
    # evaluate-v2.0.py find_best_thresh, by hand. Questions by no-answer probability:
    # q0 (0.1) answered right (EM 1, F1 1); q3 (0.3) unanswerable, predicted "" (0);
    # q2 (0.5) "big cat" vs "the big dog" (EM 0, F1 0.5); q1 (0.7) unanswerable, predicted "London" (-1).
    targets = [["Paris"], [], ["the big dog"], []]
    predictions = ["Paris", "London", "big cat", ""]
    no_answer = [0.1, 0.7, 0.5, 0.3]
    # Start at 2 (both unanswerable right). EM: 3 after q0, stays 3, then 2 -> 3/4 at threshold 0.1.
    # F1: 3 after q0, 3.5 after q2, then 2.5 -> 3.5/4 at threshold 0.5.
    assert qa_metrics.squad_v2_best_thresholds(targets, predictions, no_answer) == {
        "best_exact": 75.0,
        "best_exact_thresh": 0.1,
        "best_f1": 87.5,
        "best_f1_thresh": 0.5,
    }
    # Without thresholding the same predictions score EM 2/4 and F1 2.5/4.
    plain = qa_metrics.squad_v2(targets, predictions)
    assert (plain["exact_match"], plain["f1"]) == (50.0, 62.5)
    with pytest.raises(ValueError, match="3 no-answer probabilities for 4 questions"):
        qa_metrics.squad_v2_best_thresholds(targets, predictions, no_answer[:3])


def test_squad_v2_thresholds_is_the_metric_fn_of_id_keyed_decoder_output():
    # The example above keyed by question id, as span decoding gives it, with the no-answer scores in
    # aux_values (seqio's third metric-fn argument); the same hand-computed official values.
    targets = {"q0": ["Paris"], "q1": [], "q2": ["the big dog"], "q3": []}
    predictions = {"q1": "London", "q0": "Paris", "q3": "", "q2": "big cat"}  # any order: paired by id
    aux = {"no_answer_score": {"q0": 0.1, "q1": 0.7, "q2": 0.5, "q3": 0.3}}
    assert qa_metrics.squad_v2_thresholds(targets, predictions, aux) == {
        "best_exact": 75.0, "best_exact_thresh": 0.1, "best_f1": 87.5, "best_f1_thresh": 0.5,
    }
    assert (qa_metrics.squad_v2(targets, predictions)["f1"], qa_metrics.squad_v1({"a": ["x y"]}, {"a": "x"})["f1"]) == (
        62.5, 100.0 * ((2 * 1.0 * 0.5) / (1.0 + 0.5)) / 1,  # "x" vs "x y": precision 1, recall 0.5
    )
    import seqio

    import tasks  # noqa: F401  (the catalog wires it as squad_v2's (targets, predictions, aux_values) metric fn)

    assert seqio.get_mixture_or_task("squad_v2").predict_with_aux_metric_fns == [qa_metrics.squad_v2_thresholds]
    with pytest.raises(ValueError, match=r"predictions and targets name different questions \(missing: \['q3'\]"):
        qa_metrics.squad_v1({"q0": ["a"], "q3": ["b"]}, {"q0": "a"})
    with pytest.raises(ValueError, match=r"needs aux_values\['no_answer_score'\]"):
        qa_metrics.squad_v2_thresholds(targets, predictions, {})
