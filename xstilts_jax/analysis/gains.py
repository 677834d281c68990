"""Gains of intermediate-task training over the baseline, per model size, and their trend with size.

At one size, the systems with intermediate task I are compared with the baseline systems of the same
source and model. Seeds present on both sides are paired (gain per seed = with − baseline of the same
seed); seeds on one side only are left out, and if no seed matches the two sides are compared as
groups (difference of means). The trend fits every per-seed gain against log10(parameters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from xstilts_jax.analysis import languages as lang_table
from xstilts_jax.analysis import stats
from xstilts_jax.analysis.collect import Collected, System
from xstilts_jax.experiments.targets import BASELINE


@dataclasses.dataclass(frozen=True)
class SizeGain:
    """The gain of one intermediate task on one measure at one model size."""

    source: str
    model: str
    params: int
    intermediate: str
    measure: str
    baseline: float
    over_seeds: stats.GainStats
    over_languages: stats.GainStats | None  # tasks only: languages resampled too
    points: tuple[float, ...]  # per-seed gains (the trend's data at this size)
    relative_points: tuple[float, ...]

    @property
    def interval_basis(self) -> str:
        """What the drawn interval resamples: ``seeds`` when it exists, else ``languages`` (one seed)."""
        if self.over_seeds.gain.has_ci or self.over_languages is None:
            return "seeds"
        return "languages"

    @property
    def interval(self) -> stats.Interval:
        """The interval to draw (see ``interval_basis``)."""
        if self.interval_basis == "seeds" or self.over_languages is None:
            return self.over_seeds.gain
        return self.over_languages.gain


@dataclasses.dataclass(frozen=True)
class Trend:
    """The gain of one intermediate task on one measure across model sizes: fits and verdicts."""

    source: str
    intermediate: str
    measure: str
    sizes: tuple[SizeGain, ...]
    linear: stats.LinearFit | None
    saturating: stats.SaturatingFit | None
    relative_linear: stats.LinearFit | None

    @property
    def verdict(self) -> str:
        """The scaling verdict of the absolute gain."""
        return stats.verdict(self.linear)

    @property
    def relative_verdict(self) -> str:
        """The scaling verdict of the relative gain."""
        return stats.verdict(self.relative_linear)

    @property
    def fit_comparison(self) -> str:
        """The AICc comparison of the log-linear and saturating forms."""
        return stats.compare_fits(self.linear, self.saturating)


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


Sides = tuple[list[System], list[System], bool]  # with, baseline, paired


def _sides(with_systems: Sequence[System], base_systems: Sequence[System]) -> Sides:
    """Paired (same seeds, same order) when seeds match, otherwise the two groups as they are."""
    with_systems = sorted(with_systems, key=lambda s: s.sort_key)
    base_by_seed = {s.seed: s for s in base_systems}
    paired = [s for s in with_systems if s.seed in base_by_seed]
    if not paired:
        return with_systems, sorted(base_systems, key=lambda s: s.sort_key), False
    return paired, [base_by_seed[s.seed] for s in paired], True


def _points(with_values: np.ndarray, base_values: np.ndarray, paired: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed gains and relative gains (paired seed by seed, else each run against the baseline mean)."""
    base = base_values if paired else np.full_like(with_values, base_values.mean())
    gains = with_values - base
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(100.0 - base > 0, gains / (100.0 - base), np.nan)
    return gains, relative


@dataclasses.dataclass
class Analysis:
    """Everything computed from one database."""

    size_gains: list[SizeGain]
    trends: list[Trend]
    language_gains: list[LanguageGain]
    group_gains: list[GroupGain]
    notes: list[str]


def _pairs(collected: Collected, notes: list[str]) -> dict[tuple[str, int, str, str], Sides]:
    """(source, params, model, intermediate) -> the two sides of its comparison with the baseline."""
    groups: dict[tuple[str, int, str], dict[str, list[System]]] = {}
    for system in collected.measures:
        by_intermediate = groups.setdefault((system.source, system.params, system.model), {})
        by_intermediate.setdefault(system.intermediate, []).append(system)
    pairs = {}
    for (source, params, model), by_intermediate in sorted(groups.items()):
        base = by_intermediate.get(BASELINE)
        if not base:
            if any(i != BASELINE for i in by_intermediate):
                notes.append(f"{source} {model}: no baseline runs (intermediate {BASELINE!r}), so no gains")
            continue
        for intermediate, systems in sorted(by_intermediate.items()):
            if intermediate == BASELINE:
                continue
            with_side, base_side, paired = _sides(systems, base)
            if paired and (len(with_side) < len(systems) or len(base_side) < len(base)):
                notes.append(
                    f"{source} {model} {intermediate}: paired on seeds {[s.seed for s in with_side]}; "
                    "runs of other seeds have no partner and are left out"
                )
            pairs[(source, params, model, intermediate)] = (with_side, base_side, paired)
    return pairs


def analyze(collected: Collected, n_boot: int = stats.N_BOOT, seed: int = stats.RNG_SEED) -> Analysis:
    """Gains per size, trends with size, and per-language and per-group gains."""
    notes = list(collected.notes)
    size_gains: list[SizeGain] = []
    language_gains: list[LanguageGain] = []
    group_gains: list[GroupGain] = []
    for (source, params, model, intermediate), (with_side, base_side, paired) in _pairs(collected, notes).items():
        for measure in collected.measure_order:
            having = [measure in collected.measures[s] for s in with_side + base_side]
            if not all(having):
                if any(having):
                    notes.append(f"{source} {model} {intermediate}: {measure} is missing from some seeds; left out")
                continue
            key = f"{source}|{model}|{intermediate}|{measure}"
            with_values = np.array([collected.measures[s][measure] for s in with_side])
            base_values = np.array([collected.measures[s][measure] for s in base_side])
            over_seeds = stats.gain_stats(
                with_values[:, None], base_values[:, None], paired=paired, over_languages=False,
                rng=stats.rng_for(key, seed), n_boot=n_boot,
            )
            over_languages = None
            per_lang = _language_matrix(collected, measure, with_side, base_side)
            if per_lang is not None:
                langs, with_matrix, base_matrix = per_lang
                over_languages = stats.gain_stats(
                    with_matrix, base_matrix, paired=paired, over_languages=True,
                    rng=stats.rng_for(key + "|languages", seed), n_boot=n_boot,
                )
                where = (source, model, params, intermediate, measure)
                language_gains += _per_language(where, langs, with_matrix, base_matrix, paired, n_boot, seed)
                group_gains += _per_group(where, langs, with_matrix, base_matrix, paired, n_boot, seed)
            gains, relative = _points(with_values, base_values, paired)
            size_gains.append(
                SizeGain(
                    source, model, params, intermediate, measure, float(base_values.mean()), over_seeds,
                    over_languages, tuple(gains.tolist()), tuple(relative.tolist()),
                )
            )
    return Analysis(size_gains, _trends(size_gains), language_gains, group_gains, notes)


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
    where: tuple[str, str, int, str, str], langs: Sequence[str], with_matrix: np.ndarray, base_matrix: np.ndarray,
    paired: bool, n_boot: int, seed: int,
) -> list[LanguageGain]:
    source, model, params, intermediate, task = where
    out = []
    for j, lang in enumerate(langs):
        result = stats.gain_stats(
            with_matrix[:, [j]], base_matrix[:, [j]], paired=paired, over_languages=False,
            rng=stats.rng_for(f"{source}|{model}|{intermediate}|{task}|{lang}", seed), n_boot=n_boot,
        )
        out.append(LanguageGain(source, model, params, intermediate, task, lang, result))
    return out


def _per_group(
    where: tuple[str, str, int, str, str], langs: Sequence[str], with_matrix: np.ndarray, base_matrix: np.ndarray,
    paired: bool, n_boot: int, seed: int,
) -> list[GroupGain]:
    source, model, params, intermediate, task = where
    out = []
    for grouping in lang_table.GROUPINGS:
        members: dict[str, list[int]] = {}
        for j, lang in enumerate(langs):
            members.setdefault(lang_table.group_of(lang, grouping), []).append(j)
        for group, columns in sorted(members.items()):
            result = stats.gain_stats(
                with_matrix[:, columns], base_matrix[:, columns], paired=paired, over_languages=True,
                rng=stats.rng_for(f"{source}|{model}|{intermediate}|{task}|{grouping}|{group}", seed), n_boot=n_boot,
            )
            chosen = tuple(langs[j] for j in columns)
            out.append(GroupGain(source, model, params, intermediate, task, grouping, group, chosen, result))
    return out


def _trends(size_gains: Sequence[SizeGain]) -> list[Trend]:
    by_key: dict[tuple[str, str, str], list[SizeGain]] = {}
    for gain in size_gains:
        by_key.setdefault((gain.source, gain.intermediate, gain.measure), []).append(gain)
    trends = []
    for (source, intermediate, measure), gains in by_key.items():
        gains.sort(key=lambda g: g.params)
        x = np.array([np.log10(g.params) for g in gains for _ in g.points])
        y = np.array([p for g in gains for p in g.points])
        rel = np.array([p for g in gains for p in g.relative_points])
        finite = np.isfinite(rel)
        trends.append(
            Trend(
                source, intermediate, measure, tuple(gains), stats.fit_linear(x, y), stats.fit_saturating(x, y),
                stats.fit_linear(x[finite], rel[finite]),
            )
        )
    return trends


def sizes_by_source(size_gains: Sequence[SizeGain]) -> Mapping[str, list[tuple[int, str]]]:
    """Source -> its model sizes (params, model name), smallest first."""
    out: dict[str, set[tuple[int, str]]] = {}
    for gain in size_gains:
        out.setdefault(gain.source, set()).add((gain.params, gain.model))
    return {source: sorted(sizes) for source, sizes in sorted(out.items())}
