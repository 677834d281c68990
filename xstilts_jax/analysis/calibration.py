"""Calibration of the analysis statistics against a known truth, by Monte Carlo.

``python -m xstilts_jax.analysis.calibration`` simulates thousands of studies at once (arrays over
draws) and applies the very functions of ``stats`` that the report uses, printing each false-verdict
rate or coverage with its Monte Carlo margin ``2·sqrt(p(1−p)/n)``. A study: K model sizes, S seeds
per size for the baseline and the intermediate task, L languages; each run has a seed effect shared by
all its languages plus noise per language; each size's true gain may deviate from the line.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from xstilts_jax.analysis import stats

DRAWS = 4000
RNG_SEED = 2026
SIZES = np.log10([3e8, 1e9, 3e9, 1e10, 3e10, 6e10, 1e11])
FAMILIES = ("xlmr",) * 4 + ("ours",) * 3  # XLM-R up to 10.7B, encoders pretrained here above


@dataclasses.dataclass(frozen=True)
class Study:
    """One simulated design; ``seeds`` per size (a tuple) and ``noise`` (per-language sd) per size."""

    name: str
    x: np.ndarray = dataclasses.field(default_factory=lambda: SIZES[:5])
    seeds: tuple[int, ...] | int = 3
    languages: int = 10
    noise: tuple[float, ...] | float = 2.0
    seed_sd: float = 0.5
    size_sd: float = 0.0
    matched: bool = True
    truth: Callable[[np.ndarray], np.ndarray] = lambda x: np.full_like(x, 2.0)
    family_shift: float = 0.0


@dataclasses.dataclass(frozen=True)
class Simulated:
    """Per-size estimates of many studies: mean gains (D, K), true gains (D, K), interval halves."""

    means: np.ndarray
    true: np.ndarray
    half: np.ndarray


def _per_size(value: tuple | int | float, k: int) -> list:
    return list(value) if isinstance(value, tuple) else [value] * k


def simulate(study: Study, draws: int, rng: np.random.Generator) -> Simulated:
    """Simulate ``draws`` studies and estimate each size's gain with ``stats.paired_t`` (matched seeds)
    or ``stats.welch`` (the intermediate runs use other seeds than the baseline)."""
    k = len(study.x)
    true = study.truth(study.x)[None, :] + rng.normal(0, study.size_sd, (draws, k))
    true = true + study.family_shift * np.array([f != FAMILIES[0] for f in FAMILIES[:k]])[None, :]
    means, half = np.empty((draws, k)), np.empty((draws, k))
    for j, (s, sd) in enumerate(zip(_per_size(study.seeds, k), _per_size(study.noise, k))):

        def runs(n: int) -> np.ndarray:  # per-seed scores averaged over languages: seed effect + language noise
            return rng.normal(0, study.seed_sd, (draws, n)) + rng.normal(0, sd, (draws, n, study.languages)).mean(-1)

        base, with_ = 60.0 + runs(s), 60.0 + true[:, [j]] + runs(s)
        mean, se, df = stats.paired_t(with_ - base) if study.matched else stats.welch(with_, base)
        means[:, j], half[:, j] = mean, stats.t_quantile(df) * se
    return Simulated(means, true, half)


def slope_p(x: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global slopes and p-values of many studies, by the report's least squares on size means."""
    est, se, df = stats.linear_test(stats.slope_design(x), means, np.array([0.0, 1.0]))
    return est, stats.p_value(est, se, df)


def beyond_p(x: np.ndarray, means: np.ndarray, breakpoint: float = stats.BREAKPOINT) -> np.ndarray:
    """p-values of the hinge slope past ``breakpoint`` of many studies (family term included)."""
    design = stats.hinge_design(x, FAMILIES[: len(x)], breakpoint)
    est, se, df = stats.linear_test(design, means, stats.hinge_contrast(design.shape[1]))
    return stats.p_value(est, se, df)


def margin(p: float, n: int) -> float:
    """The Monte Carlo margin of a rate ``p`` from ``n`` draws: 2·sqrt(p(1−p)/n)."""
    return 2 * math.sqrt(max(p * (1 - p), 0.05 * 0.95) / n)


def _flat_after(x: np.ndarray) -> np.ndarray:
    return 4.0 - 1.5 * (np.minimum(x, math.log10(stats.BREAKPOINT)) - 8.5)


NUISANCES = {
    "textbook (3 seeds, paired)": Study("textbook"),
    "size-level deviation sd 0.5, 10 seeds": Study("deviation", seeds=10, size_sd=0.5),
    "unmatched seeds (Welch per size)": Study("unmatched", matched=False, size_sd=0.25),
    "unequal seeds (2-6) and noise (sd 3-1) across sizes": Study("unequal", seeds=(2, 3, 4, 5, 6), noise=(3.0, 2.5, 2.0, 1.5, 1.0)),
    "one seed, shared seed effect": Study("one seed", seeds=1, seed_sd=1.0),
    "7 sizes, deviation sd 0.5": Study("seven", x=SIZES, size_sd=0.5),
}
# Beyond what the equal-weight fit absorbs: seed counts 2-10 with noise sd 4-0.5 (variance ratio ~35).
EXTREME = Study("extreme", seeds=(2, 3, 5, 8, 10), noise=(4.0, 3.0, 2.0, 1.0, 0.5))


def false_trend_rate(study: Study, draws: int, rng: np.random.Generator) -> float:
    """Share of flat-truth studies whose global slope is called diminishing or growing."""
    _, p = slope_p(study.x, simulate(study, draws, rng).means)
    return float((p < stats.ALPHA).mean())


def corrected_family_rate(study: Study, trends: int, draws: int, rng: np.random.Generator, method: str = "holm") -> float:
    """Share of reports with ``trends`` flat trends where any verdict is false after correction."""
    means = simulate(study, draws * trends, rng).means.reshape(draws, trends, len(study.x))
    _, p = slope_p(study.x, means)
    return float((stats.adjust(p, method) < stats.ALPHA).any(axis=-1).mean())


def coverage(study: Study, draws: int, rng: np.random.Generator) -> float:
    """Share of per-size intervals that cover the size's true gain."""
    sim = simulate(study, draws, rng)
    return float((np.abs(sim.means - sim.true) <= sim.half).mean())


def flat_beyond_rate(draws: int, rng: np.random.Generator, size_sd: float = 0.25) -> float:
    """Share of studies (7 sizes, two families) where the gain falls up to 30B and is flat after,
    whose slope past the breakpoint is called diminishing or growing."""
    study = Study("flat after", x=SIZES, truth=_flat_after, size_sd=size_sd, family_shift=1.0)
    return float((beyond_p(study.x, simulate(study, draws, rng).means) < stats.ALPHA).mean())


def planned_power(effect: float, draws: int, rng: np.random.Generator) -> tuple[int | None, float]:
    """Seeds per size that ``stats.seeds_needed`` plans for a slope ``effect`` past 30B, and the power
    measured by simulating that design."""
    study = Study("power", x=SIZES, size_sd=0.1, family_shift=1.0, truth=lambda x: 2.0 + effect * np.maximum(0, x - math.log10(stats.BREAKPOINT)))
    sigma2 = 2 * (study.seed_sd**2 + float(study.noise) ** 2 / study.languages)  # per-seed gain variance
    seeds = stats.seeds_needed(effect, study.x, FAMILIES, sigma2, study.size_sd**2)
    if seeds is None:
        return None, math.nan
    sim = simulate(dataclasses.replace(study, seeds=seeds), draws, rng)
    return seeds, float((beyond_p(study.x, sim.means) < stats.ALPHA).mean())


def main() -> None:
    """Print every calibration number with its Monte Carlo margin."""
    rng = np.random.default_rng(RNG_SEED)
    print(f"{DRAWS} simulated studies per line, generator seed {RNG_SEED}; margin = 2·sqrt(p(1-p)/n)")
    for label, study in NUISANCES.items():
        rate = false_trend_rate(study, DRAWS, rng)
        print(f"false trend verdicts, {label}: {rate:.3f} ± {margin(rate, DRAWS):.3f}")
    rate = false_trend_rate(EXTREME, DRAWS, rng)
    print(f"limit: false trend verdicts, seeds 2-10 with noise sd 4-0.5: {rate:.3f} ± {margin(rate, DRAWS):.3f}")
    for trends in (10, 50):
        rate = corrected_family_rate(NUISANCES["textbook (3 seeds, paired)"], trends, DRAWS // 4, rng)
        print(f"any false verdict among {trends} flat trends, Holm: {rate:.3f} ± {margin(rate, DRAWS // 4):.3f}")
    for seeds in (2, 3, 5, 10):
        cover = coverage(Study("coverage", seeds=seeds), DRAWS, rng)
        print(f"per-size paired t-interval coverage, {seeds} seeds: {cover:.3f} ± {margin(cover, DRAWS * 5):.3f}")
    cover = coverage(dataclasses.replace(NUISANCES["unmatched seeds (Welch per size)"], name="w"), DRAWS, rng)
    print(f"per-size Welch interval coverage, 3 unmatched seeds: {cover:.3f} ± {margin(cover, DRAWS * 5):.3f}")
    rate = flat_beyond_rate(DRAWS, rng)
    print(f"false verdicts past 30B when the gain is flat after 30B (hinge): {rate:.3f} ± {margin(rate, DRAWS):.3f}")
    seeds, achieved = planned_power(-5.0, DRAWS, rng)
    print(f"power plan for -5 points/decade past 30B: {seeds} seeds per size, simulated power {achieved:.3f} ± {margin(achieved, DRAWS):.3f}")


if __name__ == "__main__":
    main()
