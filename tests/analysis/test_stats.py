"""Statistics against scipy and hand-computed values: per-size intervals, the trend tests on size means,
the lack-of-fit test, multiple-comparison adjustment and the verdict rules."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from xstilts_jax.analysis import stats

X = np.log10([2.8e8, 5.6e8, 3.5e9, 1.07e10, 3e10, 1e11])


def test_paired_gain_interval_is_the_paired_t_interval():
    w, b = np.array([71.0, 72.5, 70.0]), np.array([69.0, 71.0, 69.5])
    result = stats.gain_stats(w, b, paired=True)
    ci = scipy_stats.ttest_rel(w, b).confidence_interval(0.95)
    assert (result.gain.low, result.gain.high) == pytest.approx((ci.low, ci.high))
    assert result.basis == "paired t" and result.gain.mean == pytest.approx(4.0 / 3.0)


def test_unmatched_gain_interval_is_welch():
    w, b = np.array([64.0, 65.0, 66.0]), np.array([60.0, 62.0])
    result = stats.gain_stats(w, b, paired=False)
    ci = scipy_stats.ttest_ind(w, b, equal_var=False).confidence_interval(0.95)
    assert (result.gain.low, result.gain.high) == pytest.approx((ci.low, ci.high))
    assert result.relative.mean == pytest.approx(4.0 / 39.0)


def test_one_seed_has_no_interval_unless_variance_is_borrowed():
    one = stats.gain_stats(np.array([70.0]), np.array([68.0]), paired=True)
    assert not one.gain.has_ci and one.basis.startswith("one seed")
    lent = stats.borrowed(one, sigma2=0.25, df=4)
    half = scipy_stats.t.ppf(0.975, 4) * 0.5
    assert (lent.gain.low, lent.gain.high) == pytest.approx((2.0 - half, 2.0 + half))
    assert "borrowed" in lent.basis


def test_slope_on_size_means_matches_linregress_with_k_minus_2_df():
    means = np.array([3.1, 2.4, 1.9, 1.0, 0.7, 0.2])
    test = stats.slope(X, means)
    reference = scipy_stats.linregress(X, means)
    assert test.estimate.mean == pytest.approx(reference.slope) and test.p == pytest.approx(reference.pvalue)
    assert test.df == 4 and stats.direction(test) == stats.DIMINISHING
    assert not stats.slope(X[:2], means[:2]).tested  # two sizes: a slope but no test


def test_hinge_slope_past_the_breakpoint_with_family_term():
    families = ["xlmr"] * 4 + ["ours"] * 2
    truth = 5.0 - 1.0 * np.minimum(X, 10.0) + 0.8 * (np.array(families) == "ours") - 2.0 * np.maximum(0, X - 10.0)
    test = stats.slope_beyond(X, truth + np.array([0.01, -0.02, 0.01, 0.0, 0.02, -0.01]), families, 1e10)
    assert test.df == 2 and test.estimate.low < -2.0 < test.estimate.high
    too_few = stats.slope_beyond(X[:5], truth[:5], families[:5], 1e11)
    assert not too_few.tested and "needs ≥ 2 sizes" in too_few.why


def test_curvature_needs_four_sizes_and_sees_a_bend():
    assert stats.curvature_verdict(stats.curvature(X[:3], np.array([1.0, 2.0, 2.5]))).startswith(stats.INSUFFICIENT)
    bent = 3.0 - 0.8 * (X - 9.5) ** 2 + np.array([0.02, -0.01, 0.0, 0.01, -0.02, 0.01])
    assert stats.curvature_verdict(stats.curvature(X, bent)) == stats.CONCAVE


def test_lack_of_fit_f_test_by_hand():
    points = [np.array([1.0, 1.2]), np.array([2.0, 1.6]), np.array([0.5, 0.7]), np.array([1.1, 0.9])]
    x = X[:4]
    lof = stats.lack_of_fit(x, points)
    xs, ys = np.repeat(x, 2), np.concatenate(points)
    fit = scipy_stats.linregress(xs, ys)
    rss = ((ys - fit.intercept - fit.slope * xs) ** 2).sum()
    pure = sum(((p - p.mean()) ** 2).sum() for p in points)
    f = ((rss - pure) / 2) / (pure / 4)
    assert (lof.f, lof.df_fit, lof.df_error) == pytest.approx((f, 2, 4))
    assert lof.p == pytest.approx(scipy_stats.f.sf(f, 2, 4))


def test_holm_and_bh_adjustment_by_hand():
    p = np.array([0.01, 0.04, 0.03, math.nan, 0.005])
    assert stats.adjust(p, "holm")[[4, 0, 2, 1]] == pytest.approx([0.02, 0.03, 0.06, 0.06])
    assert stats.adjust(p, "bh")[[4, 0, 2, 1]] == pytest.approx([0.02, 0.02, 0.04, 0.04])
    assert math.isnan(stats.adjust(p)[3])
    with pytest.raises(ValueError, match="correction 'bonf': use one of holm, bh, none"):
        stats.adjust(p, "bonf")


def test_power_grows_with_seeds_and_is_capped_by_size_level_noise():
    families = ["xlmr"] * 6
    low, high = stats.power(-3.0, X, families, sigma2=1.0, tau2=0.0, seeds=np.array([1, 20]))
    assert 0.0 < low < high <= 1.0
    assert stats.seeds_needed(-3.0, X, families, sigma2=1.0, tau2=100.0) is None
