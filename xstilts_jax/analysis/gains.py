"""Gains of intermediate-task training over the baseline, per model size, and their trend with size.

At one size, the systems with intermediate task I are compared with the baseline systems of the same
source and model, on every seed that has the measure. When both sides have the same seeds the gain is
paired seed by seed (paired t-interval); otherwise the two groups are compared by Welch's interval, so
no seed is left out. The trend is fitted to the per-size mean gains (see ``stats``); its verdicts are
adjusted across the verdict table by ``correct``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from xstilts_jax.analysis import languages as lang_table
from xstilts_jax.analysis import methods, stats
from xstilts_jax.analysis.collect import Collected, System, is_aggregate
from xstilts_jax.experiments.targets import BASELINE

PUBLISHED = "published"


def family_of(model: str) -> str:
    """A model's family: its name up to the first underscore (``xlmr_xl`` -> ``xlmr``)."""
    return model.split("_", 1)[0]


@dataclasses.dataclass(frozen=True)
class SizeGain:
    """The gain of one intermediate task on one measure at one model size."""

    source: str
    model: str
    params: int
    intermediate: str
    measure: str
    baseline: float
    stats: stats.GainStats
    points: tuple[float, ...]  # per-seed gains when paired, else empty


@dataclasses.dataclass
class Trend:
    """The gain of one intermediate task on one measure across model sizes: tests and verdicts.

    ``adjusted`` holds the p-values of ``slope`` and ``beyond`` after correction across the verdict
    table (``correct``); aggregates and published points are derived and keep their own p-values.
    """

    source: str
    intermediate: str
    measure: str
    sizes: tuple[SizeGain, ...]
    slope: stats.Test
    beyond: stats.Test
    curvature: stats.Test
    relative_slope: stats.Test
    lack_of_fit: stats.LackOfFit | None
    tau2: float
    adjusted: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def derived(self) -> bool:
        """Aggregates of task headlines and published points are not counted as separate tests."""
        return is_aggregate(self.measure) or self.source == PUBLISHED

    @property
    def x(self) -> np.ndarray:
        """log10(parameters) per size."""
        return np.log10([g.params for g in self.sizes])

    @property
    def verdict(self) -> str:
        """The global-slope verdict of the absolute gain (adjusted p-value)."""
        return stats.direction(self.slope, self.adjusted.get("slope"))

    @property
    def beyond_verdict(self) -> str:
        """The verdict of the slope past the breakpoint (adjusted p-value)."""
        return stats.direction(self.beyond, self.adjusted.get("beyond"))

    @property
    def relative_verdict(self) -> str:
        """The global-slope verdict of the relative gain (unadjusted: a view of the same data)."""
        return stats.direction(self.relative_slope)

    @property
    def curvature_verdict(self) -> str:
        """Whether the gain bends in log N (quadratic term)."""
        return stats.curvature_verdict(self.curvature)


@dataclasses.dataclass(frozen=True)
class GroupGain:
    """Mean gain over the languages of one group (e.g. resource class 2) at one size."""

    source: str
    model: str
    params: int
    intermediate: str
    task: str
    grouping: str
    group: str
    languages: tuple[str, ...]
    stats: stats.GainStats


@dataclasses.dataclass(frozen=True)
class LanguageGain:
    """The gain on one language of one task at one size, with its interval over seeds."""

    source: str
    model: str
    params: int
    intermediate: str
    task: str
    language: str
    stats: stats.GainStats


@dataclasses.dataclass(frozen=True)
class Dropped:
    """A size left out of a trend, and why."""

    source: str
    model: str
    params: int
    intermediate: str
    measure: str
    why: str


@dataclasses.dataclass
class Analysis:
    """Everything computed from one database."""

    size_gains: list[SizeGain]
    trends: list[Trend]
    language_gains: list[LanguageGain]
    group_gains: list[GroupGain]
    notes: list[str]
    dropped: list[Dropped]
    breakpoint: float
    correction: str
    subsets: dict[tuple[str, str], tuple[str, ...]] = dataclasses.field(default_factory=dict)  # see Collected
    # The paper's alternatives against X-STILTs on the task they build on (``methods``): per size, the
    # difference alternative - X-STILTs (``SizeGain.baseline`` is the X-STILTs mean); across sizes, its
    # trend (secondary comparisons, not in the corrected family of verdicts).
    comparisons: list[SizeGain] = dataclasses.field(default_factory=list)
    comparison_trends: list[Trend] = dataclasses.field(default_factory=list)

    def subset_text(self, source: str, measure: str) -> str:
        """``"subset: udpos on 4 of 38 XTREME-R languages"``, or ``""`` when the measure covers every official language."""
        flags = self.subsets.get((source, measure), ())
        return "subset: " + "; ".join(flags) if flags else ""


def _by_intermediate(collected: Collected) -> dict[tuple[str, int, str], dict[str, list[System]]]:
    """(source, params, model) -> intermediate -> its systems, seeds in order."""
    groups: dict[tuple[str, int, str], dict[str, list[System]]] = {}
    for system in sorted(collected.measures, key=lambda s: s.sort_key):
        groups.setdefault((system.source, system.params, system.model), {}).setdefault(system.intermediate, []).append(system)
    return dict(sorted(groups.items()))


def _groups(collected: Collected, notes: list[str]) -> dict[tuple[str, int, str, str], tuple[list[System], list[System]]]:
    """(source, params, model, intermediate) -> its systems and the baseline systems."""
    pairs = {}
    for (source, params, model), by_intermediate in _by_intermediate(collected).items():
        base = by_intermediate.get(BASELINE)
        if not base:
            if any(i != BASELINE for i in by_intermediate):
                notes.append(f"{source} {model}: no baseline runs (intermediate {BASELINE!r}), so no gains")
            continue
        for intermediate, systems in sorted(by_intermediate.items()):
            if intermediate != BASELINE:
                pairs[(source, params, model, intermediate)] = (systems, base)
    return pairs


def _alternative_groups(collected: Collected, notes: list[str]) -> dict[tuple[str, int, str, str], tuple[list[System], list[System]]]:
    """(source, params, model, alternative) -> its systems and those of the X-STILTs task it builds on."""
    pairs = {}
    for (source, params, model), by_intermediate in _by_intermediate(collected).items():
        for intermediate, systems in sorted(by_intermediate.items()):
            method, base = methods.method_of(intermediate)
            if method == methods.XSTILTS:
                continue
            if base in by_intermediate:
                pairs[(source, params, model, intermediate)] = (systems, by_intermediate[base])
            else:
                notes.append(f"{source} {model}: {intermediate} ({method.label}) has no X-STILTs runs of {base} to compare with")
    return pairs


def _sides(with_side: Sequence[System], base_side: Sequence[System]) -> tuple[list[System], list[System], bool]:
    """Paired (same order) when both sides have exactly the same seeds, else both groups whole."""
    base_by_seed = {s.seed: s for s in base_side}
    if {s.seed for s in with_side} == set(base_by_seed) and None not in base_by_seed:
        return list(with_side), [base_by_seed[s.seed] for s in with_side], True
    return list(with_side), list(base_side), False


def _size_gain(
    collected: Collected, measure: str, where: tuple[str, str, int, str], all_with: Sequence[System],
    all_base: Sequence[System], reference: str, notes: list[str], dropped: list[Dropped],
) -> tuple[SizeGain, list[System], list[System], bool] | None:
    """``measure`` of the systems ``all_with`` against ``reference``'s systems ``all_base`` at one size (every seed
    that has it, paired when the seeds match), with the sides used; ``None`` when a side lacks the measure."""
    source, model, params, intermediate = where
    with_side = [s for s in all_with if measure in collected.measures[s]]
    base_side = [s for s in all_base if measure in collected.measures[s]]
    if not with_side or not base_side:
        if with_side or base_side:
            side = reference if with_side else intermediate
            dropped.append(Dropped(source, model, params, intermediate, measure, f"no {side} run has it"))
        return None
    lost = [s.seed for s in list(all_with) + list(all_base) if s not in with_side + base_side]
    if lost:
        notes.append(f"{source} {model} {intermediate} vs {reference}: {measure} is missing from seeds {lost}; the other seeds are used")
    with_side, base_side, paired = _sides(with_side, base_side)
    if not paired:
        notes.append(
            f"{source} {model} {intermediate} {measure}: seeds {[s.seed for s in with_side]} vs {reference} seeds "
            f"{[s.seed for s in base_side]} do not all match; compared as groups (Welch) so every seed is used"
        )
    with_values = np.array([collected.measures[s][measure] for s in with_side])
    base_values = np.array([collected.measures[s][measure] for s in base_side])
    result = stats.gain_stats(with_values, base_values, paired=paired)
    points = tuple((with_values - base_values).tolist()) if paired else ()
    gain = SizeGain(source, model, params, intermediate, measure, float(base_values.mean()), result, points)
    return gain, with_side, base_side, paired


def analyze(collected: Collected, *, breakpoint: float = stats.BREAKPOINT, correction: str = "holm") -> Analysis:
    """Gains per size, trends with size (corrected across the table), per-language and per-group gains, and
    the paper's alternatives against X-STILTs."""
    notes = list(collected.notes)
    size_gains: list[SizeGain] = []
    language_gains: list[LanguageGain] = []
    group_gains: list[GroupGain] = []
    dropped: list[Dropped] = []
    for (source, params, model, intermediate), (all_with, all_base) in _groups(collected, notes).items():
        where = (source, model, params, intermediate)
        for measure in collected.measure_order:
            found = _size_gain(collected, measure, where, all_with, all_base, "baseline", notes, dropped)
            if found is None:
                continue
            gain, with_side, base_side, paired = found
            size_gains.append(gain)
            per_lang = _language_matrix(collected, measure, with_side, base_side)
            if per_lang is not None:
                language_gains += _per_language(where, measure, *per_lang, paired)
                group_gains += _per_group(where, measure, *per_lang, paired)
    trends = _trends(size_gains, breakpoint)
    correct(trends, correction)
    comparisons = []
    for (source, params, model, alternative), (all_with, all_base) in _alternative_groups(collected, notes).items():
        reference = methods.method_of(alternative)[1]
        for measure in collected.measure_order:
            found = _size_gain(collected, measure, (source, model, params, alternative), all_with, all_base, reference, notes, [])
            if found is not None:
                comparisons.append(found[0])
    return Analysis(
        size_gains, trends, language_gains, group_gains, notes, dropped, breakpoint, correction, collected.subsets,
        comparisons, _trends(comparisons, breakpoint),
    )


def _language_matrix(
    collected: Collected, task: str, with_side: Sequence[System], base_side: Sequence[System]
) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """Seeds × languages matrices of a task's per-language headlines (``None`` for aggregates or
    scores published as language averages)."""
    tables = [collected.per_language.get(s, {}).get(task) for s in list(with_side) + list(base_side)]
    if any(not table for table in tables):
        return None
    langs = list(tables[0])  # type: ignore[arg-type]
    with_matrix = np.array([[collected.per_language[s][task][lang] for lang in langs] for s in with_side])
    base_matrix = np.array([[collected.per_language[s][task][lang] for lang in langs] for s in base_side])
    return langs, with_matrix, base_matrix


def _per_language(
    where: tuple[str, str, int, str], task: str, langs: Sequence[str], with_matrix: np.ndarray,
    base_matrix: np.ndarray, paired: bool,
) -> list[LanguageGain]:
    return [
        LanguageGain(*where, task, lang, stats.gain_stats(with_matrix[:, j], base_matrix[:, j], paired=paired))
        for j, lang in enumerate(langs)
    ]


def _per_group(
    where: tuple[str, str, int, str], task: str, langs: Sequence[str], with_matrix: np.ndarray,
    base_matrix: np.ndarray, paired: bool,
) -> list[GroupGain]:
    """Per seed, the mean over the group's languages; the interval is over seeds (languages are the
    group's definition, not a sample)."""
    out = []
    for grouping in lang_table.GROUPINGS:
        members: dict[str, list[int]] = {}
        for j, lang in enumerate(langs):
            members.setdefault(lang_table.group_of(lang, grouping), []).append(j)
        for group, columns in sorted(members.items()):
            result = stats.gain_stats(with_matrix[:, columns].mean(1), base_matrix[:, columns].mean(1), paired=paired)
            chosen = tuple(langs[j] for j in columns)
            out.append(GroupGain(*where, task, grouping, group, chosen, result))
    return out


def _pooled_variance(gains: Sequence[SizeGain]) -> tuple[float, int]:
    """Per-seed gain variance pooled over the sizes with paired replicates, and its df."""
    replicated = [np.array(g.points) for g in gains if len(g.points) >= 2]
    df = sum(len(p) - 1 for p in replicated)
    if not df:
        return math.nan, 0
    return float(sum(((p - p.mean()) ** 2).sum() for p in replicated) / df), df


def _trends(size_gains: Sequence[SizeGain], breakpoint: float) -> list[Trend]:
    by_key: dict[tuple[str, str, str], list[SizeGain]] = {}
    for gain in size_gains:
        by_key.setdefault((gain.source, gain.intermediate, gain.measure), []).append(gain)
    trends = []
    for (source, intermediate, measure), gains in by_key.items():
        gains.sort(key=lambda g: g.params)
        sigma2, df = _pooled_variance(gains)
        if df and any(len(g.points) == 1 for g in gains):
            gains = [dataclasses.replace(g, stats=stats.borrowed(g.stats, sigma2, df)) if len(g.points) == 1 else g for g in gains]
        x = np.log10([g.params for g in gains])
        means = np.array([g.stats.gain.mean for g in gains])
        relative = np.array([g.stats.relative.mean for g in gains])
        finite = np.isfinite(relative)
        families = [family_of(g.model) for g in gains]
        lof = stats.lack_of_fit(x, [np.array(g.points) for g in gains if g.points]) if all(g.points for g in gains) else None
        n_seeds = np.array([max(1, len(g.points)) for g in gains], dtype=float)
        tau2 = stats.size_variance(x, means, n_seeds, sigma2) if df and len(gains) >= 3 else math.nan
        trends.append(
            Trend(
                source, intermediate, measure, tuple(gains), stats.slope(x, means),
                stats.slope_beyond(x, means, families, breakpoint), stats.curvature(x, means),
                stats.slope(x[finite], relative[finite]), lof, tau2,
            )
        )
    return trends


def correct(trends: Sequence[Trend], method: str = "holm") -> None:
    """Adjust the global and beyond-breakpoint p-values of the primary (non-derived) trends together."""
    tests = [(t, name) for t in trends if not t.derived for name in ("slope", "beyond")]
    adjusted = stats.adjust(np.array([getattr(t, name).p for t, name in tests]), method) if tests else []
    for (trend, name), p in zip(tests, adjusted):
        trend.adjusted[name] = float(p)


def sizes_by_source(size_gains: Sequence[SizeGain]) -> Mapping[str, list[tuple[int, str]]]:
    """Source -> its model sizes (params, model name), smallest first."""
    out: dict[str, set[tuple[int, str]]] = {}
    for gain in size_gains:
        out.setdefault(gain.source, set()).add((gain.params, gain.model))
    return {source: sorted(sizes) for source, sizes in sorted(out.items())}
