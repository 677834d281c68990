"""XTREME / XTREME-R aggregation against means computed by hand the way evaluate.py computes them."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xstilts_jax.evaluation.aggregation import (
    BENCHMARKS,
    XTREME,
    XTREME_R,
    Benchmark,
    aggregate,
    aggregate_task,
)


def _qa(exact_match, f1):
    return {"exact_match": exact_match, "f1": f1}


# Made-up per-language scores for every task of both benchmarks.
SCORES = {
    "pawsx": {"en": {"accuracy": 90.0}, "de": {"accuracy": 80.0}},
    "xnli": {"en": {"accuracy": 80.0}, "de": {"accuracy": 70.0}, "fr": {"accuracy": 75.0}},
    "xcopa": {"et": {"accuracy": 60.0}, "id": {"accuracy": 70.0}},
    "udpos": {
        "en": {"f1": 96.0, "precision": 95.0, "recall": 97.0},
        "de": {"f1": 88.0, "precision": 87.0, "recall": 89.0},
    },
    "panx": {
        "en": {"f1": 84.0, "precision": 80.0, "recall": 88.0},
        "de": {"f1": 76.0, "precision": 72.0, "recall": 80.0},
    },
    "xquad": {"en": _qa(70.0, 82.0), "de": _qa(60.0, 74.0)},
    "mlqa": {"en": _qa(66.0, 80.0), "de": _qa(50.0, 64.0)},
    "tydiqa": {"en": _qa(56.0, 70.0), "fi": _qa(48.0, 62.0)},
    "bucc2018": {"de": {"f1": 80.0}, "fr": {"f1": 76.0}},
    "tatoeba": {"de": {"accuracy": 90.0}, "fr": {"accuracy": 84.0}},
    "mewslix": {"en": {"mrr_at_20": 50.0}, "de": {"mrr_at_20": 40.0}},
    "lareqa": {"en": {"map_at_20": 40.0, "queries": 3.0}, "de": {"map_at_20": 30.0, "queries": 1.0}},
}
EXPECTED = {task: list(languages) for task, languages in SCORES.items()}


def test_xtreme_matches_hand_computed_official_means():
    result = aggregate(SCORES, XTREME, EXPECTED)
    headlines = {task: score.headline for task, score in result.tasks.items()}
    assert headlines == {
        "pawsx": 85.0,  # (90 + 80) / 2
        "xnli": 75.0,  # (80 + 70 + 75) / 3
        "udpos": 92.0,  # F1 (96 + 88) / 2
        "panx": 80.0,  # F1 (84 + 76) / 2
        "xquad": 71.5,  # EM (70 + 60) / 2 = 65, F1 (82 + 74) / 2 = 78, (65 + 78) / 2
        "mlqa": 65.0,  # EM 58, F1 72, (58 + 72) / 2
        "tydiqa": 59.0,  # EM 52, F1 66, (52 + 66) / 2
        "bucc2018": 78.0,  # (80 + 76) / 2
        "tatoeba": 87.0,  # (90 + 84) / 2
    }
    # Every metric keeps its own language mean, as evaluate.py's avg_<metric>.
    assert result.tasks["udpos"].metric_means == {"f1": 92.0, "precision": 91.0, "recall": 93.0}
    assert result.tasks["xquad"].metric_means == {"exact_match": 65.0, "f1": 78.0}
    assert result.categories == {
        "classification": 80.0,  # (85 + 75) / 2
        "tagging": 86.0,  # (92 + 80) / 2
        "qa": pytest.approx(195.5 / 3),  # (71.5 + 65 + 59) / 3
        "retrieval": 82.5,  # (78 + 87) / 2
    }
    # Overall is the mean over the 9 tasks (evaluate.py's all_task), not over the 4 categories:
    # (85 + 75 + 92 + 80 + 71.5 + 65 + 59 + 78 + 87) / 9 = 692.5 / 9 = 76.94, categories would give 78.42.
    assert result.overall == pytest.approx(692.5 / 9)
    assert result.complete
    assert result.missing_tasks == () and result.incomplete_tasks == ()
    assert result.ignored_tasks == ("xcopa", "mewslix", "lareqa")


def test_xtreme_r_matches_hand_computed_official_means():
    result = aggregate(SCORES, XTREME_R, EXPECTED)
    assert result.tasks["xcopa"].headline == 65.0  # (60 + 70) / 2
    assert result.tasks["mewslix"].headline == 45.0  # (50 + 40) / 2
    # LAReQA pools all questions (utils_lareqa.mean_avg_prec_at_k): 3 en at 40, 1 de at 30 ->
    # (3 * 40 + 30) / 4 = 37.5, not the language mean 35.
    assert result.tasks["lareqa"].headline == 37.5
    assert result.tasks["lareqa"].metric_means == {"map_at_20": 37.5, "queries": 4.0}
    assert result.categories == {
        "classification": 70.0,  # XNLI 75, XCOPA 65
        "tagging": 86.0,  # UD-POS 92, PAN-X 80
        "qa": pytest.approx(195.5 / 3),  # 71.5, 65, 59
        "retrieval": 66.0,  # evaluate.py: Tatoeba 87, Mewsli-X 45
        "multi_choice": 65.0,  # evaluate.py: XCOPA alone
        "retrieval_paper": pytest.approx(169.5 / 3),  # XTREME-R paper: Mewsli-X 45, LAReQA 37.5, Tatoeba 87
    }
    # (75 + 65 + 92 + 80 + 71.5 + 65 + 59 + 45 + 37.5 + 87) / 10 = 677 / 10
    assert result.overall == pytest.approx(67.7)
    assert result.ignored_tasks == ("pawsx", "bucc2018")


def test_published_categories_differ_between_benchmarks():
    # XTREME (Hu et al. 2020; evaluate.py GROUP2TASK).
    assert dict(XTREME.categories) == {
        "classification": ("pawsx", "xnli"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("bucc2018", "tatoeba"),
    }
    # evaluate.py XTREME_R_GROUP2TASK, plus the paper's retrieval group with LAReQA.
    assert dict(XTREME_R.categories) == {
        "classification": ("xnli", "xcopa"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("tatoeba", "mewslix"),
        "multi_choice": ("xcopa",),
        "retrieval_paper": ("tatoeba", "mewslix", "lareqa"),
    }
    assert len(XTREME.tasks) == 9 and len(XTREME_R.tasks) == 10
    assert BENCHMARKS == {"xtreme": XTREME, "xtreme_r": XTREME_R}
    for benchmark in (XTREME, XTREME_R):
        for task in ("xquad", "mlqa", "tydiqa"):
            assert benchmark.headline_metrics[task] == ("exact_match", "f1")


def test_missing_language_voids_task_category_and_overall():
    scores = {**SCORES, "xquad": {"en": _qa(70.0, 82.0)}}
    result = aggregate(scores, XTREME, EXPECTED)
    xquad = result.tasks["xquad"]
    assert not xquad.complete
    assert xquad.missing_languages == ("de",)
    assert xquad.metric_means is None and xquad.headline is None
    assert xquad.per_language == {"en": {"exact_match": 70.0, "f1": 82.0}}
    assert result.incomplete_tasks == ("xquad",)
    assert result.categories["qa"] is None
    assert result.overall is None and not result.complete
    # Categories without the gap are still reported.
    assert result.categories["classification"] == 80.0


def test_missing_task_voids_its_category_and_overall():
    scores = {task: value for task, value in SCORES.items() if task != "tydiqa"}
    result = aggregate(scores, XTREME, EXPECTED)
    assert result.missing_tasks == ("tydiqa",)
    assert "tydiqa" not in result.tasks
    assert result.categories["qa"] is None
    assert result.overall is None
    assert result.categories["retrieval"] == 82.5


def test_task_with_no_languages_counts_as_missing():
    result = aggregate({**SCORES, "panx": {}}, XTREME)
    assert result.missing_tasks == ("panx",)
    assert result.categories["tagging"] is None


def test_extra_languages_are_ignored_when_expected_languages_are_given():
    # XQuAD ships Romanian, which XTREME's language list does not score: mean stays (65 + 78) / 2.
    scores = {**SCORES, "xquad": {**SCORES["xquad"], "ro": _qa(0.0, 0.0)}}
    xquad = aggregate(scores, XTREME, EXPECTED).tasks["xquad"]
    assert xquad.ignored_languages == ("ro",)
    assert xquad.languages == ("en", "de")
    assert xquad.headline == 71.5
    # Without a language list every given language counts: EM (70 + 60 + 0) / 3, F1 (82 + 74 + 0) / 3.
    unchecked = aggregate_task("xquad", scores["xquad"], ("exact_match", "f1"))
    assert unchecked.headline == pytest.approx((130 / 3 + 156 / 3) / 2)


def test_inconsistent_inputs_are_errors():
    with pytest.raises(ValueError, match="'de' lacks metrics \\['exact_match'\\]"):
        aggregate_task("xquad", {"en": _qa(1.0, 2.0), "de": {"f1": 2.0}}, ("exact_match", "f1"))
    with pytest.raises(ValueError, match="headline needs \\['exact_match', 'f1'\\]"):
        aggregate_task("xquad", {"en": {"f1": 2.0}}, ("exact_match", "f1"))
    with pytest.raises(ValueError, match="headline needs"):  # caught even while languages are missing
        aggregate_task("xquad", {"en": {"f1": 2.0}}, ("exact_match", "f1"), expected_languages=["en", "de"])
    with pytest.raises(ValueError, match="no per-language scores"):
        aggregate_task("xnli", {}, ("accuracy",))
    with pytest.raises(ValueError, match="expected language list is empty"):
        aggregate_task("xnli", {"en": {"accuracy": 1.0}}, ("accuracy",), expected_languages=[])
    with pytest.raises(ValueError, match="pools its languages by 'queries', which its scores lack"):
        aggregate_task("lareqa", {"en": {"map_at_20": 1.0}, "de": {"map_at_20": 2.0}}, ("map_at_20",), weight_metric="queries")
    # A single language (a published overall row) is its own pooled mean.
    assert aggregate_task("lareqa", {"all": {"map_at_20": 1.0}}, ("map_at_20",), weight_metric="queries").headline == 1.0


def test_benchmark_definition_is_validated():
    with pytest.raises(ValueError, match="that have no headline metrics"):
        Benchmark("broken", {"classification": ("xnli", "pawsx")}, {"xnli": ("accuracy",)})
    with pytest.raises(ValueError, match="at least one headline metric"):
        Benchmark("broken", {"a": ("xnli",)}, {"xnli": ()})


def test_each_version_uses_its_own_official_languages_by_default():
    # evaluate.py XTREME_TASK2LANGS vs XTREME_R_TASK2LANGS.
    counts = {task: (len(XTREME.languages[task]), len(XTREME_R.languages[task])) for task in ("udpos", "panx", "xquad", "tatoeba")}
    assert counts == {"udpos": (33, 38), "panx": (40, 48), "xquad": (11, 12), "tatoeba": (36, 41)}
    assert set(XTREME.languages) == set(XTREME.tasks) and set(XTREME_R.languages) == set(XTREME_R.tasks)
    # A run recorded on every XTREME-R language: 50 on XTREME's languages, 0 on those only XTREME-R has.
    all_languages = {task: XTREME_R.languages.get(task, XTREME.languages.get(task)) for task in SCORES}
    scores = {}
    for task, languages in all_languages.items():
        metrics = XTREME.headline_metrics.get(task) or XTREME_R.headline_metrics[task]
        old = XTREME.languages.get(task, languages)
        scores[task] = {
            lang: {metric: 50.0 if lang in old else 0.0 for metric in (*metrics, "queries")} for lang in languages
        }
    # Official XTREME (hand-computed): every task averages its 50s only -> overall 50.
    xtreme = aggregate(scores, XTREME)
    assert xtreme.overall == 50.0 and xtreme.tasks["udpos"].ignored_languages == ("lt", "pl", "uk", "wo", "ro")
    # XTREME-R counts its own lists: UD-POS 33 * 50 / 38, PAN-X 40 * 50 / 48, XQuAD 11 * 50 / 12,
    # Tatoeba 36 * 50 / 41; the other six tasks 50 -> overall (6 * 50 + those four) / 10.
    expected = (6 * 50 + 33 * 50 / 38 + 40 * 50 / 48 + 11 * 50 / 12 + 36 * 50 / 41) / 10
    assert aggregate(scores, XTREME_R).overall == pytest.approx(expected)
    # An explicit list still overrides the default, task by task.
    assert aggregate(scores, XTREME_R, {"udpos": XTREME.languages["udpos"]}).tasks["udpos"].headline == 50.0


_LANGUAGE_SCORES = st.dictionaries(
    st.sampled_from("af ar bg de en es fi hi ja sw th zh".split()),
    st.floats(0.0, 100.0, allow_nan=False),
    min_size=1,
)


@settings(max_examples=80, deadline=None)
@given(_LANGUAGE_SCORES, st.randoms(use_true_random=False))
def test_language_mean_is_order_free_and_bounded(by_language, rng: random.Random):
    per_language = {lang: {"accuracy": value} for lang, value in by_language.items()}
    shuffled_langs = list(per_language)
    rng.shuffle(shuffled_langs)
    shuffled = {lang: per_language[lang] for lang in shuffled_langs}

    headline = aggregate_task("xnli", per_language, ("accuracy",)).headline
    assert headline == pytest.approx(aggregate_task("xnli", shuffled, ("accuracy",)).headline)
    assert headline == pytest.approx(sum(by_language.values()) / len(by_language))
    assert min(by_language.values()) - 1e-9 <= headline <= max(by_language.values()) + 1e-9
    # Given an official order, the mean follows it whatever order the scores arrive in.
    in_order = aggregate_task("xnli", shuffled, ("accuracy",), expected_languages=sorted(by_language))
    assert in_order.languages == tuple(sorted(by_language))
