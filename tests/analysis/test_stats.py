"""Statistics: bootstrap intervals, the slope and its t-interval, the saturating fit, the verdict rule."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from xstilts_jax.analysis import stats


def test_slope_and_interval_match_scipy_linregress():
    rng = np.random.default_rng(3)
    x = np.repeat(np.log10([2.8e8, 5.6e8, 3.5e9, 1.07e10]), 3)
    y = 4.0 - 0.7 * x + rng.normal(0, 0.2, x.size)
    fit = stats.fit_linear(x, y)
    reference = scipy_stats.linregress(x, y)
    half = scipy_stats.t.ppf(0.975, x.size - 2) * reference.stderr
    assert fit.slope.mean == pytest.approx(reference.slope)
    assert fit.intercept == pytest.approx(reference.intercept)
    assert (fit.slope.low, fit.slope.high) == pytest.approx((reference.slope - half, reference.slope + half))


def test_fit_needs_two_sizes_and_three_points_for_an_interval():
    assert stats.fit_linear(np.array([8.0, 8.0, 8.0]), np.array([1.0, 2.0, 3.0])) is None
    two = stats.fit_linear(np.array([8.0, 9.0]), np.array([1.0, 0.5]))
    assert two.slope.mean == pytest.approx(-0.5) and not two.slope.has_ci
    assert stats.verdict(None) == stats.NEEDS_SIZES
    assert stats.verdict(two) == stats.NO_EVIDENCE


@pytest.mark.parametrize(
    ("low", "high", "mean", "expected"),
    [(-2.0, -0.1, -1.0, stats.DIMINISHING), (0.1, 2.0, 1.0, stats.GROWING), (-1.0, 2.0, 0.5, stats.NO_EVIDENCE)],
)
def test_verdict_rule(low, high, mean, expected):
    fit = stats.LinearFit(0.0, stats.Interval(mean, low, high), 12, 4, 1.0)
    assert stats.verdict(fit) == expected


def test_paired_bootstrap_is_reproducible_and_covers_the_mean():
    with_scores = np.array([[71.0, 60.0], [72.5, 61.0], [70.0, 59.5]])
    base_scores = np.array([[70.0, 59.0], [70.5, 60.0], [69.5, 58.0]])
    first = stats.gain_stats(with_scores, base_scores, paired=True, over_languages=False, rng=stats.rng_for("k"))
    again = stats.gain_stats(with_scores, base_scores, paired=True, over_languages=False, rng=stats.rng_for("k"))
    assert first == again
    assert first.gain.mean == pytest.approx(with_scores.mean() - base_scores.mean())
    assert first.gain.low <= first.gain.mean <= first.gain.high
    # Paired resampling keeps each seed's difference: per-seed gains are 1.0, 1.5 and 1.0.
    assert first.gain.low >= 1.0 - 1e-9 and first.gain.high <= 1.5 + 1e-9
    headroom = 100.0 - base_scores.mean()
    assert first.relative.mean == pytest.approx((with_scores.mean() - base_scores.mean()) / headroom)


def test_one_seed_has_no_seed_interval_but_a_language_interval():
    with_scores, base_scores = np.array([[60.0, 50.0, 40.0]]), np.array([[58.0, 49.0, 41.0]])
    seeds = stats.gain_stats(with_scores, base_scores, paired=True, over_languages=False, rng=stats.rng_for("a"))
    langs = stats.gain_stats(with_scores, base_scores, paired=True, over_languages=True, rng=stats.rng_for("a"))
    assert not seeds.gain.has_ci
    assert langs.gain.has_ci and langs.gain.low >= -1.0 - 1e-9 and langs.gain.high <= 2.0 + 1e-9


def test_saturating_fit_recovers_a_saturating_curve_and_wins_on_aicc():
    x = np.repeat(np.linspace(8.0, 11.0, 6), 2)
    y = 1.0 + 4.0 * (10.0 ** (x - 8.0)) ** -0.8 + np.tile([0.01, -0.01], 6)
    fit = stats.fit_saturating(x, y)
    assert (fit.a, fit.b, fit.c) == pytest.approx((1.0, 4.0, 0.8), abs=0.05)
    assert stats.compare_fits(stats.fit_linear(x, y), fit).startswith("saturating preferred")
    assert stats.fit_saturating(x[:4], y[:4]) is None  # two sizes only
