"""Known truth through the whole analysis: synthetic stores whose gain shrinks, stays or grows with size."""

import pytest
from analysis_stores import write_store

from xstilts_jax.analysis import stats
from xstilts_jax.analysis.collect import collect
from xstilts_jax.analysis.gains import analyze
from xstilts_jax.experiments.results.store import ResultsStore
from xstilts_jax.experiments.targets import BASELINE


def _trend(path, measure="xnli"):
    with ResultsStore(path, create=False) as store:
        analysis = analyze(collect(store))
    (trend,) = [t for t in analysis.trends if t.measure == measure]
    return trend


@pytest.mark.parametrize(
    ("gain", "expected"),
    [
        (lambda x: 14.0 - 1.2 * x, stats.DIMINISHING),  # a - b·log10(N) + noise
        (lambda x: 2.0, stats.NO_EVIDENCE),
        (lambda x: -8.0 + 1.0 * x, stats.GROWING),
    ],
    ids=["diminishing", "constant", "growing"],
)
def test_verdict_from_synthetic_gains(tmp_path, gain, expected):
    write_store(tmp_path / "r.sqlite", gain)
    trend = _trend(tmp_path / "r.sqlite")
    assert trend.verdict == expected
    assert len(trend.sizes) == 4 and trend.slope.df == 2


def test_slope_estimates_the_true_slope(tmp_path):
    write_store(tmp_path / "r.sqlite", lambda x: 14.0 - 1.2 * x, noise=0.2)
    trend = _trend(tmp_path / "r.sqlite")
    assert trend.slope.estimate.low < -1.2 < trend.slope.estimate.high


def test_one_seed_per_size_gives_a_verdict_but_no_per_size_interval(tmp_path):
    write_store(tmp_path / "r.sqlite", lambda x: 14.0 - 1.2 * x, seeds=(0,), noise=0.1)
    trend = _trend(tmp_path / "r.sqlite")
    assert trend.slope.df == 2 and trend.verdict == stats.DIMINISHING
    # One seed: no interval over languages as if they were replicates, and no replicates to borrow from.
    assert all(not g.stats.gain.has_ci and g.stats.basis.startswith("one seed") for g in trend.sizes)


def test_gain_is_paired_by_seed(tmp_path):
    write_store(tmp_path / "r.sqlite", lambda x: 3.0, sizes={"xlmr_base": 278_043_648}, noise=1.0)
    with ResultsStore(tmp_path / "r.sqlite", create=False) as store:
        rows = store.scores()
        analysis = analyze(collect(store))
    (gain,) = [g for g in analysis.size_gains if g.measure == "xnli"]
    assert gain.stats.paired and gain.stats.n_with == 3
    by_run = {}
    for row in rows:
        by_run.setdefault((row.intermediate, row.seed), []).append(row.value)
    expected = [sum(by_run[("mnli", s)]) / 4 - sum(by_run[(BASELINE, s)]) / 4 for s in (0, 1, 2)]
    assert gain.points == pytest.approx(expected)
    assert gain.stats.gain.mean == pytest.approx(sum(expected) / 3)


def test_seeds_that_do_not_match_are_compared_as_groups(tmp_path):
    from xstilts_jax.experiments.results.records import RunInfo

    values = {(BASELINE, 0): 60.0, (BASELINE, 1): 62.0, ("mnli", 7): 64.0, ("mnli", 8): 65.0, ("mnli", 9): 66.0}
    with ResultsStore(tmp_path / "r.sqlite") as store:
        for (intermediate, seed), value in values.items():
            run_id = f"{intermediate}/{seed}"
            store.record_run(RunInfo(run_id, "xlmr_base", 278_043_648, "xnli", intermediate, seed))
            store.record_scores(run_id, "eval", "xnli", "validation", {"en": {"accuracy": value}})
        analysis = analyze(collect(store))
    (gain,) = [g for g in analysis.size_gains if g.measure == "xnli"]
    assert not gain.stats.paired and (gain.stats.n_with, gain.stats.n_baseline) == (3, 2)
    assert gain.stats.gain.mean == pytest.approx(65.0 - 61.0)
    assert gain.points == ()  # no per-seed pairs
    assert gain.stats.basis == "Welch t" and gain.stats.gain.has_ci


def _record(store, model, params, intermediate, seed, task, value):
    from xstilts_jax.experiments.results.records import RunInfo

    run_id = f"{model}/{intermediate}/{seed}/{task}"
    store.record_run(RunInfo(run_id, model, params, task, intermediate, seed))
    store.record_scores(run_id, "eval", task, "validation", {"en": {"accuracy": value}, "de": {"accuracy": value - 2}})


def test_missing_cells_use_every_seed_and_a_lost_size_past_the_breakpoint_is_warned(tmp_path):
    from xstilts_jax.analysis import report

    with ResultsStore(tmp_path / "r.sqlite") as store:
        for seed, (base, with_) in enumerate(((60.0, 63.0), (61.0, 63.5), (62.0, 64.0))):
            _record(store, "xlmr_base", 278_043_648, BASELINE, seed, "xnli", base)
            _record(store, "xlmr_base", 278_043_648, "mnli", seed, "xnli" if seed < 2 else "pawsx", with_)
        _record(store, "ours_60b", 60_000_000_000, BASELINE, 0, "xnli", 70.0)
        _record(store, "ours_60b", 60_000_000_000, "mnli", 0, "pawsx", 71.0)
        analysis = analyze(collect(store))
    (gain,) = [g for g in analysis.size_gains if g.measure == "xnli"]
    # mnli seed 2 has no XNLI score: seeds 0, 1 against baseline seeds 0, 1, 2, as groups (Welch).
    assert (gain.stats.n_with, gain.stats.n_baseline, gain.stats.basis) == (2, 3, "Welch t")
    assert gain.stats.gain.mean == pytest.approx((63.0 + 63.5) / 2 - 61.0)
    assert any("xnli is missing from seeds [2]" in note for note in analysis.notes)
    warned = report.warnings(analysis)
    assert any("ours_60b (60,000,000,000 parameters, past the breakpoint) is missing from the xnli trend" in w for w in warned)


def test_one_seed_size_borrows_the_seed_variance_of_the_others(tmp_path):
    sizes = {"xlmr_base": 278_043_648, "xlmr_large": 559_890_432, "xlmr_xl": 3_500_000_000}
    write_store(tmp_path / "r.sqlite", lambda x: 2.0, sizes=sizes)
    write_store(tmp_path / "r.sqlite", lambda x: 2.0, sizes={"xlmr_xxl": 10_700_000_000}, seeds=(0,), rng_seed=1)
    trend = _trend(tmp_path / "r.sqlite")
    assert [g.stats.basis.split(" (")[0] for g in trend.sizes] == ["paired t"] * 3 + ["seed variance borrowed from other sizes"]
    assert trend.sizes[-1].stats.gain.has_ci
    assert (trend.lack_of_fit.df_fit, trend.lack_of_fit.df_error) == (2, 6)  # pure error: 3 sizes × (3 − 1) seeds


def test_correction_counts_task_trends_and_marks_aggregates_derived(tmp_path):
    write_store(tmp_path / "r.sqlite", lambda x: 14.0 - 1.2 * x)
    write_store(tmp_path / "r.sqlite", lambda x: 1.0, task="pawsx", rng_seed=1)  # with XNLI: XTREME classification
    with ResultsStore(tmp_path / "r.sqlite", create=False) as store:
        holm = analyze(collect(store))
        none = analyze(collect(store), correction="none")
    assert {t.derived for t in holm.trends} == {True, False}  # xnli, pawsx, and the category they complete
    for trend in holm.trends:
        if trend.derived:
            assert trend.adjusted == {}
        else:
            assert trend.adjusted["slope"] >= trend.slope.p and "beyond" in trend.adjusted
    assert all(t.adjusted.get("slope") == t.slope.p for t in none.trends if not t.derived)
