"""Calibration against a known truth: thousands of simulated studies (fixed generator seed) run through
the report's own statistics. Monte Carlo margin of a rate p from n draws: 2·sqrt(p(1−p)/n), ≈ 0.007 at
p = 0.05 and n = 4000, ≈ 0.014 for the 1000 simulated reports of the correction test."""

import numpy as np
import pytest

from xstilts_jax.analysis import calibration as cal

DRAWS = 4000


@pytest.fixture
def rng():
    return np.random.default_rng(cal.RNG_SEED)


@pytest.mark.parametrize("label", list(cal.NUISANCES))
def test_flat_truth_gives_at_most_7_percent_false_trend_verdicts(label, rng):
    assert cal.false_trend_rate(cal.NUISANCES[label], DRAWS, rng) <= 0.07


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_ten_flat_trends_after_correction(method, rng):
    study = cal.NUISANCES["textbook (3 seeds, paired)"]
    assert cal.corrected_family_rate(study, 10, 1000, rng, method) <= 0.07
    # Without correction the chance of some false verdict among ten is about 1 - 0.95^10 = 40%.
    assert cal.corrected_family_rate(study, 10, 1000, rng, "none") > 0.3


@pytest.mark.parametrize("study", [cal.Study("paired", seeds=3), cal.Study("welch", seeds=3, matched=False)], ids=lambda study: study.name)
def test_per_size_interval_covers_at_3_seeds(study, rng):
    assert cal.coverage(study, DRAWS, rng) >= 0.90


def test_hinge_gives_at_most_7_percent_false_verdicts_when_flat_past_30b(rng):
    assert cal.flat_beyond_rate(DRAWS, rng) <= 0.07


def test_power_plan_delivers_80_percent(rng):
    seeds, achieved = cal.planned_power(-5.0, DRAWS, rng)
    assert seeds is not None and abs(achieved - 0.8) <= 0.05
