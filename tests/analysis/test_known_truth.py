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
