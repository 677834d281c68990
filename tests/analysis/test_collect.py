"""Reading a store: official headlines and aggregates, language matching, published reference rows."""

import pytest

from xstilts_jax.analysis.collect import System, collect
from xstilts_jax.analysis.example import published_csv
from xstilts_jax.analysis.gains import analyze
from xstilts_jax.evaluation.aggregation import Benchmark, aggregate
from xstilts_jax.experiments.results.records import RunInfo
from xstilts_jax.experiments.results.store import ResultsStore
from xstilts_jax.experiments.targets import BASELINE
from xstilts_jax.models.ladder import PUBLISHED_PARAMS

# DESIGN.md §1, Phang et al. 2020: XLM-R Large -> X-STILTs test scores (QA: F1).
PUBLISHED = {
    "xnli": (79.2, 80.4),
    "pawsx": (86.4, 87.7),
    "panx": (65.4, 64.7),
    "xquad": (76.6, 77.2),
    "mlqa": (71.6, 72.3),
    "tydiqa": (65.1, 76.0),
}


@pytest.fixture
def published_store(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        assert store.import_csv(published_csv()) == (12, 12)
        yield store


def _system(collected, intermediate):
    (system,) = [s for s in collected.measures if s.intermediate == intermediate]
    return system


def test_published_rows_are_the_design_numbers_for_xlmr_large(published_store):
    runs = published_store.runs()
    assert {r.source for r in runs} == {"published"}
    assert {(r.model, r.model_params) for r in runs} == {("xlmr_large", PUBLISHED_PARAMS["xlmr_large"])}
    collected = collect(published_store)
    baseline, xstilts = _system(collected, BASELINE), _system(collected, "best_per_target")
    for task, (before, after) in PUBLISHED.items():
        assert collected.measures[baseline][task] == before
        assert collected.measures[xstilts][task] == after
    assert any("xquad headline from f1 only" in note for note in collected.notes)


def test_published_aggregate_is_the_plain_mean_as_the_official_scorer_computes_it(published_store):
    collected = collect(published_store)
    for system, column in ((_system(collected, BASELINE), 0), (_system(collected, "best_per_target"), 1)):
        values = [scores[column] for scores in PUBLISHED.values()]
        # evaluate.py: sum(...) / len(...) over the task headlines, in task order.
        plain_mean = sum(values) / len(values)
        six = Benchmark("published_six", {"all": tuple(PUBLISHED)}, {t: ("f1",) for t in PUBLISHED})
        nested = {
            t: {"all": {"f1": v}} for t, v in ((t, collected.measures[system][t]) for t in PUBLISHED)
        }
        assert aggregate(nested, six).overall == plain_mean
        # XTREME's classification category is complete in the published rows: PAWS-X and XNLI.
        assert collected.measures[system]["xtreme:classification"] == (values[1] + values[0]) / 2
        assert "xtreme:overall" not in collected.measures[system]  # 6 of 9 tasks: no overall score
    gains = {g.measure: g.stats.gain.mean for g in analyze(collected).size_gains}
    assert gains["tydiqa"] == pytest.approx(10.9)
    assert gains["xtreme:classification"] == pytest.approx(1.25)


def test_qa_headline_and_categories_follow_the_official_scorer(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        for intermediate in (BASELINE, "squad"):
            bump = 0.0 if intermediate == BASELINE else 2.0
            for target, metrics in (
                ("xquad", {"en": {"exact_match": 60.0 + bump, "f1": 70.0 + bump}, "de": {"exact_match": 50.0, "f1": 64.0}}),
                ("mlqa", {"en": {"exact_match": 56.0, "f1": 68.0}, "de": {"exact_match": 44.0, "f1": 58.0 + bump}}),
                ("tydiqa", {"en": {"exact_match": 48.0, "f1": 62.0}, "fi": {"exact_match": 40.0, "f1": 52.0}}),
            ):
                run_id = f"{intermediate}/{target}"
                store.record_run(RunInfo(run_id, "xlmr_base", 278_043_648, target, intermediate, 1))
                store.record_scores(run_id, "eval", target, "test" if target == "xquad" else "validation", metrics)
        collected = collect(store)
    base = collected.measures[System("ours", 278_043_648, "xlmr_base", BASELINE, 1)]
    assert base["xquad"] == pytest.approx((55.0 + 67.0) / 2)  # (mean EM + mean F1) / 2
    assert base["xtreme_r:qa"] == pytest.approx((61.0 + 56.5 + 50.5) / 3)
    assert "xtreme_r:overall" not in base
    per_language = collected.per_language[System("ours", 278_043_648, "xlmr_base", "squad", 1)]["xquad"]
    assert per_language == {"en": pytest.approx(67.0), "de": pytest.approx(57.0)}


def test_languages_missing_from_a_run_are_left_out_everywhere(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        for intermediate, langs in ((BASELINE, ("en", "de", "sw")), ("mnli", ("en", "de"))):
            store.record_run(RunInfo(intermediate, "xlmr_base", 278_043_648, "xnli", intermediate, 0))
            store.record_scores(intermediate, "eval", "xnli", "validation", {lang: {"accuracy": 50.0} for lang in langs})
        collected = collect(store)
    assert all(set(tables["xnli"]) == {"en", "de"} for tables in collected.per_language.values())
    assert any("left out ['sw']" in note for note in collected.notes)


def test_subset_flags_name_each_task_short_of_its_official_languages():
    from xstilts_jax.analysis.collect import subset_flags
    from xstilts_jax.evaluation.aggregation import XTREME, XTREME_R

    four = {"udpos": ["en", "de", "ar", "zh"], "panx": ["en", "fr", "hi", "ru"]}
    assert subset_flags("udpos", four) == ("udpos on 4 of 38 XTREME-R languages",)
    assert subset_flags("xtreme:tagging", four) == ("udpos on 4 of 33 XTREME languages", "panx on 4 of 40 XTREME languages")
    # only official languages count; a complete task, a published average and an unknown task are not flagged
    assert subset_flags("udpos", {"udpos": ["en", "de", "xx"]}) == ("udpos on 2 of 38 XTREME-R languages",)
    assert subset_flags("udpos", {"udpos": list(XTREME_R.languages["udpos"])}) == ()
    assert subset_flags("pawsx", {"pawsx": list(XTREME.languages["pawsx"])}) == ()
    assert subset_flags("xnli", {"xnli": ["all"]}) == ()
    assert subset_flags("socialiqa", {"socialiqa": ["en"]}) == ()
