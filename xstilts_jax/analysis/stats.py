"""The statistics of the analysis: bootstrap intervals for gains, the log-linear slope with its
t-interval, a saturating alternative compared by AICc, and the scaling verdict.

Scores are percentages (0-100). A *gain* compares runs with and without an intermediate task; its
statistic is ``mean(with) - mean(baseline)`` over seeds and languages, and the *relative gain* divides
it by the baseline's headroom, ``100 - mean(baseline)``.
"""

from __future__ import annotations

import dataclasses
import math
import zlib

import numpy as np
from scipy import optimize
from scipy import stats as scipy_stats

N_BOOT = 5000
RNG_SEED = 0
CONFIDENCE = 0.95

DIMINISHING = "diminishing"
GROWING = "growing"
NO_EVIDENCE = "no evidence"
NEEDS_SIZES = "needs ≥ 2 model sizes"


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate with a 95% interval; ``low``/``high`` are ``None`` when it cannot be formed."""

    mean: float
    low: float | None = None
    high: float | None = None

    @property
    def has_ci(self) -> bool:
        """Whether the interval exists."""
        return self.low is not None and self.high is not None


@dataclasses.dataclass(frozen=True)
class GainStats:
    """Gain and relative gain of one comparison, each with its bootstrap interval."""

    gain: Interval
    relative: Interval
    paired: bool
    n_with: int
    n_baseline: int
    n_languages: int


def rng_for(key: str, seed: int = RNG_SEED) -> np.random.Generator:
    """A generator seeded by ``seed`` and a stable hash of ``key``: each estimate is reproducible on its
    own, whatever else the database holds."""
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def _relative(with_mean: np.ndarray | float, base_mean: np.ndarray | float) -> np.ndarray:
    headroom = 100.0 - np.asarray(base_mean, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(headroom > 0, (np.asarray(with_mean) - base_mean) / headroom, np.nan)


def _percentile_interval(point: float, draws: np.ndarray) -> Interval:
    draws = draws[np.isfinite(draws)]
    if not math.isfinite(point) or draws.size == 0:
        return Interval(point)
    alpha = (1.0 - CONFIDENCE) / 2.0
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return Interval(point, float(low), float(high))


def gain_stats(
    with_scores: np.ndarray,
    base_scores: np.ndarray,
    *,
    paired: bool,
    over_languages: bool,
    rng: np.random.Generator,
    n_boot: int = N_BOOT,
) -> GainStats:
    """Gain of ``with_scores`` over ``base_scores`` (arrays seeds × languages, same language columns).

    The percentile bootstrap resamples seeds (the same seed indices on both sides when ``paired``, as
    the rows are then the same seeds in the same order; each side on its own otherwise) and, with
    ``over_languages``, the language columns too (the same columns on both sides). An interval needs at
    least two resampling units: two seeds per side, or two languages when resampling languages;
    otherwise only the point estimate is returned.
    """
    with_scores = np.atleast_2d(np.asarray(with_scores, dtype=float))
    base_scores = np.atleast_2d(np.asarray(base_scores, dtype=float))
    if with_scores.shape[1] != base_scores.shape[1]:
        raise ValueError(f"with {with_scores.shape} and baseline {base_scores.shape} need the same language columns")
    if paired and with_scores.shape != base_scores.shape:
        raise ValueError("paired gains need the same seeds on both sides")
    n_with, n_langs = with_scores.shape
    n_base = base_scores.shape[0]
    point_with, point_base = with_scores.mean(), base_scores.mean()
    gain_point = float(point_with - point_base)
    rel_point = float(_relative(point_with, point_base))

    seeds_vary = n_with >= 2 and n_base >= 2
    langs_vary = over_languages and n_langs >= 2
    if not (seeds_vary or langs_vary):
        return GainStats(Interval(gain_point), Interval(rel_point), paired, n_with, n_base, n_langs)

    def seed_draws(n: int) -> np.ndarray:
        return rng.integers(0, n, size=(n_boot, n)) if seeds_vary else np.tile(np.arange(n), (n_boot, 1))

    idx_with = seed_draws(n_with)
    idx_base = idx_with if paired else seed_draws(n_base)
    langs = rng.integers(0, n_langs, size=(n_boot, n_langs)) if langs_vary else np.tile(np.arange(n_langs), (n_boot, 1))
    # (boot, seeds, langs) gathers, then the mean over both axes of each resample.
    with_means = with_scores[idx_with[:, :, None], langs[:, None, :]].mean(axis=(1, 2))
    base_means = base_scores[idx_base[:, :, None], langs[:, None, :]].mean(axis=(1, 2))
    gain = _percentile_interval(gain_point, with_means - base_means)
    relative = _percentile_interval(rel_point, _relative(with_means, base_means))
    return GainStats(gain, relative, paired, n_with, n_base, n_langs)


@dataclasses.dataclass(frozen=True)
class LinearFit:
    """OLS fit ``y = intercept + slope · log10(N)``; the slope's interval is the t-interval."""

    intercept: float
    slope: Interval
    n_points: int
    n_sizes: int
    rss: float

    @property
    def aicc(self) -> float | None:
        """Small-sample AIC (3 parameters: intercept, slope, noise variance); ``None`` if undefined."""
        return _aicc(self.rss, self.n_points, 3)

    def predict(self, log10_params: np.ndarray) -> np.ndarray:
        """The fitted line at ``log10_params``."""
        return self.intercept + self.slope.mean * np.asarray(log10_params, dtype=float)


def _aicc(rss: float, n: int, k: int) -> float | None:
    if n - k - 1 <= 0:
        return None
    rss = max(rss, 1e-12 * n)  # an exact fit would give log(0)
    return n * math.log(rss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)


def fit_linear(log10_params: np.ndarray, gains: np.ndarray) -> LinearFit | None:
    """OLS of gains on log10(parameters) over every (size, seed) point; ``None`` with fewer than 2 sizes.

    The slope interval is ``slope ± t(0.975, n-2) · se`` with ``se = sqrt(RSS / (n-2) / Sxx)``; with
    two points (n - 2 = 0) there is no interval.
    """
    x = np.asarray(log10_params, dtype=float)
    y = np.asarray(gains, dtype=float)
    n_sizes = len(np.unique(x))
    if n_sizes < 2:
        return None
    n = len(x)
    sxx = float(((x - x.mean()) ** 2).sum())
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
    intercept = float(y.mean() - slope * x.mean())
    rss = float(((y - intercept - slope * x) ** 2).sum())
    if n <= 2:
        return LinearFit(intercept, Interval(slope), n, n_sizes, rss)
    se = math.sqrt(rss / (n - 2) / sxx)
    half = float(scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, n - 2)) * se
    return LinearFit(intercept, Interval(slope, slope - half, slope + half), n, n_sizes, rss)


@dataclasses.dataclass(frozen=True)
class SaturatingFit:
    """Least-squares fit ``y = a + b · (N / N0)^(-c)`` (``c > 0``, ``N0`` the smallest size): the gain
    approaches ``a`` as models grow."""

    a: float
    b: float
    c: float
    n0: float
    n_points: int
    rss: float

    @property
    def aicc(self) -> float | None:
        """Small-sample AIC (4 parameters: a, b, c and the noise variance); ``None`` if undefined."""
        return _aicc(self.rss, self.n_points, 4)

    def predict(self, log10_params: np.ndarray) -> np.ndarray:
        """The fitted curve at ``log10_params``."""
        ratio = 10.0 ** (np.asarray(log10_params, dtype=float) - math.log10(self.n0))
        return self.a + self.b * ratio ** (-self.c)


_C_RANGE = (1e-3, 3.0)


def fit_saturating(log10_params: np.ndarray, gains: np.ndarray) -> SaturatingFit | None:
    """Profile least squares over ``c`` (``a``, ``b`` solved linearly for each ``c``); ``None`` with fewer
    than 3 distinct sizes, where the curve is not identified."""
    x = np.asarray(log10_params, dtype=float)
    y = np.asarray(gains, dtype=float)
    if len(np.unique(x)) < 3:
        return None
    x0 = float(x.min())

    def solve(c: float) -> tuple[float, float, float]:
        basis = np.column_stack([np.ones_like(x), 10.0 ** (-c * (x - x0))])
        coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
        return float(coef[0]), float(coef[1]), float(((basis @ coef - y) ** 2).sum())

    # A coarse grid finds the basin (the profile can have several minima), a bounded search refines it.
    grid = np.geomspace(*_C_RANGE, 64)
    best = float(min(grid, key=lambda c: solve(float(c))[2]))
    bounds = (math.log(max(_C_RANGE[0], best / 1.2)), math.log(min(_C_RANGE[1], best * 1.2)))
    refined = math.exp(float(optimize.minimize_scalar(lambda lc: solve(math.exp(lc))[2], bounds=bounds, method="bounded").x))
    c = min((best, refined), key=lambda value: solve(value)[2])
    a, b, rss = solve(c)
    return SaturatingFit(a, b, c, 10.0**x0, len(x), rss)


def verdict(fit: LinearFit | None) -> str:
    """*diminishing* when the slope is negative and its interval excludes 0, *growing* when positive and
    excluding 0, *no evidence* otherwise; without two sizes, that they are needed."""
    if fit is None:
        return NEEDS_SIZES
    slope = fit.slope
    if not slope.has_ci:
        return NO_EVIDENCE
    assert slope.low is not None and slope.high is not None
    if slope.mean < 0 and slope.high < 0:
        return DIMINISHING
    if slope.mean > 0 and slope.low > 0:
        return GROWING
    return NO_EVIDENCE


def compare_fits(linear: LinearFit | None, saturating: SaturatingFit | None) -> str:
    """Which form the AICc prefers (a difference under 2 is called a tie), or why they are not compared."""
    if linear is None:
        return "not fitted (" + NEEDS_SIZES + ")"
    if saturating is None:
        return "saturating fit needs ≥ 3 model sizes"
    if linear.aicc is None or saturating.aicc is None:
        return "AICc needs ≥ 6 points (sizes × seeds)"
    delta = saturating.aicc - linear.aicc
    if delta < -2:
        return f"saturating preferred (ΔAICc {delta:+.1f})"
    if delta > 2:
        return f"log-linear preferred (ΔAICc {delta:+.1f})"
    return f"indistinguishable (ΔAICc {delta:+.1f})"
