"""Label and tag metrics against hand-computed values and the official scorer's seqeval calls."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import f1_score, precision_score, recall_score

from xstilts_jax.evaluation.metrics import accuracy, pos_f1, span_f1
from xstilts_jax.experiments.results.records import scorer


def _official_f1(labels, predictions):
    """What google-research/xtreme evaluate.py:f1 returns: seqeval's default-mode scores times 100."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "f1": f1_score(labels, predictions) * 100,
            "precision": precision_score(labels, predictions) * 100,
            "recall": recall_score(labels, predictions) * 100,
        }


# ---------------------------------------------------------------- accuracy


def test_accuracy_hand_computed():
    # 3 of 4 predictions match (index 1 is wrong): 3 / 4 * 100 = 75.
    assert accuracy([0, 1, 2, 1], [0, 2, 2, 1]) == {"accuracy": 75.0}


def test_accuracy_string_bytes_and_numpy_labels():
    # 2 of 3 match: 2 / 3 * 100.
    assert accuracy(["entailment", b"neutral", "contradiction"], [b"entailment", "neutral", "neutral"]) == {
        "accuracy": 2 / 3 * 100
    }
    assert accuracy(np.array([1, 0, 1]), np.array([1, 1, 1])) == {"accuracy": 2 / 3 * 100}


def test_accuracy_unicode_labels():
    assert accuracy(["是", "否", "ja"], ["是", "否", "nein"]) == {"accuracy": 2 / 3 * 100}


def test_accuracy_rejects_empty_mismatched_and_mixed_types():
    with pytest.raises(ValueError, match="no examples"):
        accuracy([], [])
    with pytest.raises(ValueError, match="3 targets but 2 predictions"):
        accuracy([0, 1, 1], [0, 1])
    with pytest.raises(ValueError, match="example 1: .*different label types"):
        accuracy(["0", "1"], ["0", 1])
    with pytest.raises(ValueError, match="example 0: label"):
        accuracy([[0, 1]], [[0, 1]])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=40))
def test_accuracy_is_a_percentage_of_matches(pairs):
    targets, predictions = zip(*pairs)
    value = accuracy(list(targets), list(predictions))["accuracy"]
    assert 0.0 <= value <= 100.0
    assert value == pytest.approx(100 * sum(t == p for t, p in pairs) / len(pairs))
    assert accuracy(list(targets), list(targets))["accuracy"] == 100.0


# ---------------------------------------------------------------- span F1 (NER)


def test_span_f1_bio_hand_computed():
    targets = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"]]
    predictions = [["B-PER", "I-PER", "O", "O"], ["O", "B-ORG", "O"]]
    # Gold: PER[0:1], LOC[3], ORG[1:2] (3 entities). Predicted: PER[0:1], ORG[1] (2 entities).
    # Correct: PER only. P = 1/2, R = 1/3, F1 = 2 * (1/2 * 1/3) / (1/2 + 1/3) = (1/3) / (5/6) = 0.4.
    scores = span_f1(targets, predictions)
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(40.0)
    assert scores == _official_f1(targets, predictions)


def test_span_f1_reads_iob1_and_iobes_like_conlleval():
    # IOB1: an I- after O opens a chunk, so I-PER I-PER is the same PER[0:1] as B-PER I-PER.
    assert span_f1([["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])["f1"] == 100.0
    # IOBES: S-LOC is LOC[0]; B-PER E-PER is PER[1:2], the same span as B-PER I-PER.
    assert span_f1([["S-LOC", "B-PER", "E-PER"]], [["S-LOC", "B-PER", "I-PER"]])["f1"] == 100.0
    # Type change inside a run closes the chunk: gold PER[0:1]; predicted PER[0], LOC[1] -> P = 0/2, R = 0/1.
    assert span_f1([["B-PER", "I-PER"]], [["B-PER", "I-LOC"]])["f1"] == 0.0


def test_span_f1_entities_do_not_cross_examples():
    # The trailing I-PER of example 1 starts a new PER entity, it does not extend example 0's.
    # Gold: PER[ex0:0], PER[ex1:0]; predicted the same two -> 100.
    assert span_f1([["B-PER"], ["I-PER"]], [["B-PER"], ["B-PER"]])["f1"] == 100.0


def test_span_f1_all_outside_is_zero_like_the_official_scorer():
    # No entity in gold or prediction: seqeval divides 0 by 0 and returns 0.0 for all three scores.
    targets = [["O", "O"], ["O"]]
    assert span_f1(targets, targets) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert span_f1(targets, targets) == _official_f1(targets, targets)
    # Gold has no entity but one is predicted: P = 0/1, R undefined -> 0.
    assert span_f1([["O", "O"]], [["B-LOC", "O"]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_span_f1_empty_sentences_and_unicode_types():
    targets = [["B-人名", "I-人名", "O"], [], ["B-ÖRT"]]
    predictions = [["B-人名", "I-人名", "O"], [], [b"B-\xc3\x96RT"]]
    assert span_f1(targets, predictions)["f1"] == 100.0


def test_span_f1_rejects_bad_input():
    with pytest.raises(ValueError, match="no examples"):
        span_f1([], [])
    with pytest.raises(ValueError, match="2 targets but 1 predictions"):
        span_f1([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="example 1: target has 3 tags but prediction has 2"):
        span_f1([["O"], ["B-PER", "I-PER", "O"]], [["O"], ["B-PER", "O"]])
    with pytest.raises(ValueError, match="example 0: tag ''"):
        span_f1([["B-PER", ""]], [["B-PER", "O"]])


_NER_TAG = st.sampled_from(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-LOC", "S-ORG", "I-ORG"])


@st.composite
def _aligned_tag_sequences(draw, tag_strategy):
    lengths = draw(st.lists(st.integers(0, 8), min_size=1, max_size=6))
    targets = [draw(st.lists(tag_strategy, min_size=n, max_size=n)) for n in lengths]
    predictions = [draw(st.lists(tag_strategy, min_size=n, max_size=n)) for n in lengths]
    return targets, predictions


@settings(max_examples=60, deadline=None)
@given(_aligned_tag_sequences(_NER_TAG))
def test_span_f1_equals_the_official_seqeval_calls(pair):
    targets, predictions = pair
    scores = span_f1(targets, predictions)
    assert scores == _official_f1(targets, predictions)
    assert all(0.0 <= value <= 100.0 for value in scores.values())


# ---------------------------------------------------------------- UD-POS


def test_pos_f1_is_chunk_f1_not_tag_accuracy():
    # 2 of 3 tags are right (token accuracy 66.7), yet no chunk matches: seqeval merges runs of the same
    # tag, so gold is OUN[0:1], ERB[2] and the prediction OUN[0], ERB[1:2] -> F1 = 0, as XTREME reports it.
    assert pos_f1([["NOUN", "NOUN", "VERB"]], [["NOUN", "VERB", "VERB"]])["f1"] == 0.0


def test_pos_f1_hand_computed():
    # Gold ET[0], OUN[1], ERB[2] (3 chunks); predicted ET[0], OUN[1:2] (2 chunks); 1 correct (DET).
    # P = 1/2, R = 1/3, F1 = 0.4.
    targets, predictions = [["DET", "NOUN", "VERB"]], [["DET", "NOUN", "NOUN"]]
    scores = pos_f1(targets, predictions)
    assert scores["f1"] == pytest.approx(40.0)
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(100 / 3)


def test_pos_f1_follows_the_pinned_seqeval_not_the_official_tests_version():
    # Scores follow seqeval 1.2.2 (pinned; stored with every score as records.scorer()): gold CCONJ vs
    # predicted SCONJ are both type CONJ -> F1 100. xtreme's evaluate_test.py encodes seqeval 0.0.12,
    # where the type is the whole tag (CCONJ != SCONJ) -> F1 0.
    assert scorer() == "seqeval==1.2.2"
    assert pos_f1([["CCONJ"]], [["SCONJ"]])["f1"] == 100.0


def test_pos_f1_keeps_seqeval_prefix_quirks():
    # SCONJ reads as prefix S (single-token chunk) of type CONJ, the same type as CCONJ. A CCONJ right
    # before an SCONJ is opened but never closed, so gold has one chunk: CONJ[1].
    # Predicted SCONJ SCONJ -> CONJ[0], CONJ[1]: P = 1/2, R = 1/1, F1 = 2 * 0.5 / 1.5 = 2/3.
    scores = pos_f1([["CCONJ", "SCONJ"]], [["SCONJ", "SCONJ"]])
    assert scores["f1"] == pytest.approx(200 / 3)
    assert scores["precision"] == pytest.approx(50.0)
    assert scores["recall"] == pytest.approx(100.0)


_UPOS = st.sampled_from(
    "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
)


@settings(max_examples=60, deadline=None)
@given(_aligned_tag_sequences(_UPOS))
def test_pos_f1_equals_the_official_seqeval_calls(pair):
    targets, predictions = pair
    assert pos_f1(targets, predictions) == _official_f1(targets, predictions)


def test_tag_metrics_do_not_warn():
    # seqeval warns per bare POS tag and on 0/0; neither is news to a caller of these metrics.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pos_f1([["NOUN", "VERB"]], [["NOUN", "NOUN"]])
        span_f1([["O"]], [["O"]])


def test_pos_f1_perfect_prediction():
    tags = [["PRON", "AUX", "PRON", "PUNCT"], ["PROPN", "PROPN", "VERB"]]
    assert pos_f1(tags, tags) == {"f1": 100.0, "precision": 100.0, "recall": 100.0}
