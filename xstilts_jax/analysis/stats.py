"""The statistics of the analysis, closed-form and vectorised (every function takes a leading batch of
studies, so the calibration simulations run the very functions the report uses).

Scores are percentages (0-100). A *gain* compares runs with and without an intermediate task at one
model size. Per size: a paired t-interval over matched seeds, or Welch's interval when seeds do not
match. Across sizes: least squares on the per-size mean gains against log10(parameters), with the
residual degrees of freedom of the size means (K − p), so a size-level deviation from the line widens
the interval instead of being averaged away by seeds. On that one design: the global slope, the hinge
slope past a breakpoint (with a family term), the quadratic (curvature) term, the lack-of-fit F test
from seed replicates, Holm/BH adjustment across a table, and power planning.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE
BREAKPOINT = 3e10  # parameters: the regime the question asks about starts here
POWER = 0.8
MAX_SEEDS = 64  # power planning searches 1..MAX_SEEDS seeds per size

DIMINISHING = "diminishing"
GROWING = "growing"
NO_EVIDENCE = "no evidence"
NEEDS_SIZES = "needs ≥ 2 model sizes"
INSUFFICIENT = "insufficient data"
CONCAVE = "levels off (concave in log N)"
CONVEX = "accelerates (convex in log N)"
STRAIGHT = "no evidence of curvature"
CORRECTIONS = ("holm", "bh", "none")


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


def _interval(mean: float, half: float) -> Interval:
    if not (math.isfinite(mean) and math.isfinite(half)):
        return Interval(mean)
    return Interval(mean, mean - half, mean + half)


def t_quantile(df: np.ndarray | float) -> np.ndarray:
    """The two-sided 95% t critical value (NaN where ``df`` < 1)."""
    df = np.asarray(df, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(df >= 1, scipy_stats.t.ppf(1 - ALPHA / 2, np.maximum(df, 1)), np.nan)


def paired_t(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error and df of per-seed values ``points`` (..., S): the paired t-interval is
    ``mean ± t(df) · se`` (se NaN with one seed)."""
    points = np.asarray(points, dtype=float)
    n = points.shape[-1]
    mean = points.mean(axis=-1)
    se = points.std(axis=-1, ddof=1) / math.sqrt(n) if n >= 2 else np.full_like(mean, np.nan)
    return mean, se, np.full_like(mean, n - 1.0)


def welch(with_values: np.ndarray, base_values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of means of two independent groups (..., n1), (..., n2), its standard error and the
    Welch–Satterthwaite df (NaN unless both groups have ≥ 2 seeds)."""
    a, b = np.asarray(with_values, dtype=float), np.asarray(base_values, dtype=float)
    n1, n2 = a.shape[-1], b.shape[-1]
    diff = a.mean(axis=-1) - b.mean(axis=-1)
    if n1 < 2 or n2 < 2:
        nan = np.full_like(diff, np.nan)
        return diff, nan, nan
    v1, v2 = a.var(axis=-1, ddof=1) / n1, b.var(axis=-1, ddof=1) / n2
    se = np.sqrt(v1 + v2)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
    return diff, se, df


@dataclasses.dataclass(frozen=True)
class GainStats:
    """Gain and relative gain at one size with their 95% intervals and what the interval rests on."""

    gain: Interval
    relative: Interval
    paired: bool
    n_with: int
    n_baseline: int
    basis: str  # "paired t", "Welch t", "seed variance borrowed", or "one seed: no interval"


def gain_stats(with_values: np.ndarray, base_values: np.ndarray, *, paired: bool) -> GainStats:
    """Gain of per-seed scores ``with_values`` over ``base_values`` (1-D, one value per seed, already
    averaged over languages). ``paired``: the same seeds in the same order, t-interval of the per-seed
    differences; otherwise Welch's interval. The relative gain divides by the baseline's headroom
    ``100 - baseline`` (per seed when paired, the mean headroom otherwise)."""
    w, b = np.asarray(with_values, dtype=float), np.asarray(base_values, dtype=float)
    headroom = 100.0 - b if paired else np.full(1, 100.0 - b.mean())
    if paired:
        mean, se, df = paired_t(w - b)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_mean, rel_se, _ = paired_t(np.where(headroom > 0, (w - b) / headroom, np.nan))
        basis = "paired t"
    else:
        mean, se, df = welch(w, b)
        rel_mean, rel_se = (mean / headroom[0], se / headroom[0]) if headroom[0] > 0 else (np.nan, np.nan)
        basis = "Welch t"
    t = float(t_quantile(df))
    if not math.isfinite(float(se)):
        basis = "one seed: no interval"
    gain = _interval(float(mean), t * float(se))
    relative = _interval(float(rel_mean), t * float(rel_se))
    return GainStats(gain, relative, paired, len(w), len(b), basis)


def borrowed(stats: GainStats, sigma2: float, df: float) -> GainStats:
    """A one-seed gain with the per-seed variance ``sigma2`` (df ``df``) pooled from the sizes that have
    replicates: the interval is ``gain ± t(df) · sqrt(sigma2)``."""
    if stats.gain.has_ci or not (math.isfinite(sigma2) and df >= 1):
        return stats
    half = float(t_quantile(df)) * math.sqrt(sigma2)
    scale = abs(stats.relative.mean / stats.gain.mean) if stats.gain.mean else math.nan
    return dataclasses.replace(
        stats, gain=_interval(stats.gain.mean, half), relative=_interval(stats.relative.mean, half * scale),
        basis=f"seed variance borrowed from other sizes (df {df:g})",
    )


# --- trends on per-size means ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Test:
    """One coefficient (or contrast) of a least-squares fit on the size means: estimate, 95% interval,
    two-sided p-value and residual df; ``why`` says why it is missing."""

    estimate: Interval
    p: float
    df: int
    why: str = ""

    @property
    def tested(self) -> bool:
        """Whether a p-value exists."""
        return math.isfinite(self.p)


def linear_test(design: np.ndarray, y: np.ndarray, contrast: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Ordinary least squares of ``y`` (..., K) on ``design`` (K, p) and the contrast ``c·β``: returns
    its estimate, standard error (residual variance with K − p df) and the df. Batched over ``y``."""
    y = np.asarray(y, dtype=float)
    k, p = design.shape
    xtx_inv = np.linalg.inv(design.T @ design)
    coef = y @ (design @ xtx_inv)  # (..., p)
    resid = y - coef @ design.T
    df = k - p
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = (resid**2).sum(axis=-1) / df if df > 0 else np.full(y.shape[:-1], np.nan)
    se = np.sqrt(s2 * float(contrast @ xtx_inv @ contrast))
    return coef @ contrast, se, df


def p_value(estimate: np.ndarray, se: np.ndarray, df: float) -> np.ndarray:
    """Two-sided t-test p-value of ``estimate / se`` (NaN without df)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(np.asarray(estimate) / np.asarray(se))
    return 2 * scipy_stats.t.sf(t, df) if df >= 1 else np.full(np.shape(t), np.nan)


def _test(design: np.ndarray, y: np.ndarray, contrast: np.ndarray, why: str) -> Test:
    if design.shape[0] <= design.shape[1] or np.linalg.matrix_rank(design) < design.shape[1]:
        return Test(Interval(math.nan), math.nan, 0, why)
    est, se, df = linear_test(design, y, contrast)
    return Test(_interval(float(est), float(t_quantile(df)) * float(se)), float(p_value(est, se, df)), df)


def slope_design(x: np.ndarray) -> np.ndarray:
    """Columns 1, log10 N."""
    return np.column_stack([np.ones_like(x), x])


def hinge_design(x: np.ndarray, families: Sequence[str], breakpoint: float = BREAKPOINT) -> np.ndarray:
    """Columns 1, log10 N, max(0, log10 N − log10 breakpoint), and one indicator per family after the
    first (sizes from different model families may differ by a constant)."""
    cols = [np.ones_like(x), x, np.maximum(0.0, x - math.log10(breakpoint))]
    names = list(dict.fromkeys(families))
    cols += [np.array([f == name for f in families], dtype=float) for name in names[1:]]
    return np.column_stack(cols)


def hinge_contrast(n_columns: int) -> np.ndarray:
    """The slope past the breakpoint: the log10 N coefficient plus the hinge coefficient."""
    c = np.zeros(n_columns)
    c[1] = c[2] = 1.0
    return c


def quadratic_design(x: np.ndarray) -> np.ndarray:
    """Columns 1, centred log10 N and its square."""
    xc = x - x.mean()
    return np.column_stack([np.ones_like(x), xc, xc**2])


def line(x: np.ndarray, means: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The least-squares line through the size means, evaluated at ``grid`` (log10 N)."""
    coef = np.linalg.lstsq(slope_design(x), means, rcond=None)[0]
    return slope_design(np.asarray(grid, dtype=float)) @ coef


def slope(x: np.ndarray, means: np.ndarray) -> Test:
    """Global slope per decade of the per-size mean gains (df K − 2)."""
    return _test(slope_design(x), means, np.array([0.0, 1.0]), "needs ≥ 3 model sizes")


def slope_beyond(x: np.ndarray, means: np.ndarray, families: Sequence[str], breakpoint: float = BREAKPOINT) -> Test:
    """Hinge model: the slope per decade past ``breakpoint`` (df K − 3 − family terms); missing with
    fewer than two sizes past the breakpoint."""
    beyond = int((x > math.log10(breakpoint) + 1e-9).sum())
    if beyond + int(abs(x - math.log10(breakpoint)).min() < 1e-9) < 2:
        return Test(Interval(math.nan), math.nan, 0, f"needs ≥ 2 sizes at or past {breakpoint:.0e} parameters")
    design = hinge_design(x, families, breakpoint)
    return _test(design, means, hinge_contrast(design.shape[1]), "needs more sizes than hinge-model terms")


def curvature(x: np.ndarray, means: np.ndarray) -> Test:
    """The quadratic coefficient in log10 N (df K − 3)."""
    return _test(quadratic_design(x), means, np.array([0.0, 0.0, 1.0]), "needs ≥ 4 model sizes")


def direction(test: Test, p: float | None = None) -> str:
    """*diminishing* / *growing* when the (adjusted) p-value is under 0.05, else *no evidence*."""
    p = test.p if p is None else p
    if not test.tested:
        return f"{INSUFFICIENT} ({test.why})"
    if p < ALPHA:
        return DIMINISHING if test.estimate.mean < 0 else GROWING
    return NO_EVIDENCE


def curvature_verdict(test: Test) -> str:
    """Concave / convex when the quadratic term's p-value is under 0.05; *insufficient data* without it."""
    if not test.tested:
        return f"{INSUFFICIENT} ({test.why})"
    if test.p < ALPHA:
        return CONCAVE if test.estimate.mean < 0 else CONVEX
    return STRAIGHT


@dataclasses.dataclass(frozen=True)
class LackOfFit:
    """F test of the log-linear line against per-size means, with the seed scatter as pure error."""

    f: float
    df_fit: int
    df_error: int
    p: float
    sigma2: float  # pooled per-seed variance (pure error)


def lack_of_fit(x: np.ndarray, points: Sequence[np.ndarray]) -> LackOfFit | None:
    """Pure error = seed scatter within sizes; lack of fit = size means around the line (weighted by
    seeds, the OLS line of all points). ``None`` without ≥ 3 sizes or any replicate."""
    n = np.array([len(p) for p in points], dtype=float)
    df_error = int((n - 1).sum())
    if len(points) < 3 or df_error < 1:
        return None
    means = np.array([np.mean(p) for p in points])
    sigma2 = float(sum(((np.asarray(p) - m) ** 2).sum() for p, m in zip(points, means)) / df_error)
    design = slope_design(x) * np.sqrt(n)[:, None]
    coef, *_ = np.linalg.lstsq(design, means * np.sqrt(n), rcond=None)
    ss_fit = float((n * (means - slope_design(x) @ coef) ** 2).sum())
    df_fit = len(points) - 2
    f = (ss_fit / df_fit) / sigma2 if sigma2 > 0 else math.inf
    return LackOfFit(f, df_fit, df_error, float(scipy_stats.f.sf(f, df_fit, df_error)), sigma2)


def adjust(p: np.ndarray, method: str = "holm") -> np.ndarray:
    """Holm (family-wise) or Benjamini–Hochberg (false discovery rate) adjusted p-values over the last
    axis; NaN entries are not tests and stay NaN."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction {method!r}: use one of {', '.join(CORRECTIONS)}")
    p = np.asarray(p, dtype=float)
    if method == "none":
        return p.copy()
    finite = np.isfinite(p)
    m = finite.sum(axis=-1, keepdims=True)
    order = np.argsort(np.where(finite, p, np.inf), axis=-1)
    ranked = np.take_along_axis(np.where(finite, p, np.inf), order, axis=-1)
    i = np.arange(1, p.shape[-1] + 1)
    with np.errstate(invalid="ignore"):
        if method == "holm":
            adjusted = np.maximum.accumulate(np.minimum(1.0, (m - i + 1) * ranked), axis=-1)
        else:
            scaled = np.minimum(1.0, ranked * m / i)
    if method == "bh":
        adjusted = np.flip(np.minimum.accumulate(np.flip(scaled, -1), axis=-1), -1)
    out = np.empty_like(p)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return np.where(finite, out, np.nan)


def size_variance(x: np.ndarray, means: np.ndarray, n_seeds: np.ndarray, sigma2: float) -> float:
    """Size-level variance around the line beyond seed noise (method of moments, ≥ 0)."""
    df = len(x) - 2
    resid = means - slope_design(x) @ np.linalg.lstsq(slope_design(x), means, rcond=None)[0]
    if df < 1:
        return 0.0
    return max(0.0, float((resid**2).sum() / df - sigma2 * np.mean(1.0 / n_seeds)))


def power(
    effect: float, x: np.ndarray, families: Sequence[str], sigma2: float, tau2: float, seeds: np.ndarray,
    breakpoint: float = BREAKPOINT,
) -> np.ndarray:
    """Power of the two-sided 5% hinge test to detect a slope ``effect`` (points/decade) past
    ``breakpoint``, with ``seeds`` per size, per-seed variance ``sigma2`` and size-level variance
    ``tau2`` (noncentral t)."""
    design = hinge_design(x, families, breakpoint)
    df = design.shape[0] - design.shape[1]
    if df < 1 or np.linalg.matrix_rank(design) < design.shape[1]:
        return np.zeros(np.shape(seeds))
    c = hinge_contrast(design.shape[1])
    var = float(c @ np.linalg.inv(design.T @ design) @ c) * (tau2 + sigma2 / np.asarray(seeds, dtype=float))
    delta = abs(effect) / np.sqrt(var)
    crit = float(t_quantile(df))
    return scipy_stats.nct.sf(crit, df, delta) + scipy_stats.nct.cdf(-crit, df, delta)


def seeds_needed(
    effect: float, x: np.ndarray, families: Sequence[str], sigma2: float, tau2: float, breakpoint: float = BREAKPOINT,
) -> int | None:
    """The fewest seeds per size (≤ MAX_SEEDS) giving 80% power, or ``None`` if none does (the
    size-level variance or too few sizes past the breakpoint limit it: more sizes are needed)."""
    seeds = np.arange(1, MAX_SEEDS + 1)
    enough = np.nonzero(power(effect, x, families, sigma2, tau2, seeds, breakpoint) >= POWER)[0]
    return int(seeds[enough[0]]) if enough.size else None
