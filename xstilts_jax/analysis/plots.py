"""The analysis figures (matplotlib, Agg backend, PNG): gain vs parameters per measure, an
intermediate × measure heatmap per model size, and per-language bars grouped by resource level."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from xstilts_jax.analysis import languages as lang_table  # noqa: E402
from xstilts_jax.analysis.gains import PUBLISHED, GroupGain, LanguageGain, SizeGain, Trend  # noqa: E402
from xstilts_jax.analysis import stats  # noqa: E402
from xstilts_jax.analysis.stats import Interval  # noqa: E402

DPI = 110
RESOURCE_GROUPING = next(iter(lang_table.GROUPINGS))


def file_stem(*parts: str) -> str:
    """A safe file name stem from parts (``xtreme_r:overall`` -> ``xtreme_r-overall``)."""
    return "_".join(re.sub(r"[^A-Za-z0-9._+-]+", "-", part).strip("-") for part in parts)


def _errors(intervals: Sequence[Interval]) -> np.ndarray | None:
    """Asymmetric error bar lengths, zero where an interval does not exist; ``None`` if none does."""
    if not any(i.has_ci for i in intervals):
        return None
    low = [i.mean - i.low if i.low is not None else 0.0 for i in intervals]
    high = [i.high - i.mean if i.high is not None else 0.0 for i in intervals]
    return np.array([low, high])


def params_label(params: int) -> str:
    """``560M``, ``3.5B``, ``144K``."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if params >= scale:
            value = params / scale
            return f"{value:.1f}{suffix}" if value < 10 else f"{value:,.0f}{suffix}"
    return str(params)


def _save(fig: plt.Figure, path: Path, bottom: float = 0.0) -> Path:
    """Lay out (leaving ``bottom`` of the height for a footnote), write the PNG, free the figure."""
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def gain_vs_params(measure: str, trends: Sequence[Trend], path: Path, subset: str = "") -> Path:
    """Gain and relative gain against parameters (log axis): per intermediate the per-size means with
    their 95% interval as a band and the least-squares line through the size means; published
    gains as stars. ``subset`` (e.g. ``udpos on 4 of 38 XTREME-R languages``) flags a measure
    computed on part of the official languages, in the title."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ours = [t for t in trends if t.source != PUBLISHED]
    for index, trend in enumerate(ours):
        color = colors[index % len(colors)]
        params = np.array([g.params for g in trend.sizes], dtype=float)
        for ax, relative in zip(axes, (False, True)):
            intervals = [g.stats.relative if relative else g.stats.gain for g in trend.sizes]
            means = np.array([i.mean for i in intervals])
            label = f"{trend.intermediate}: {trend.relative_verdict if relative else trend.verdict}"
            ax.errorbar(params, means, yerr=_errors(intervals), fmt="o", color=color, capsize=3, label=label)
            banded = [i for i in intervals if i.has_ci]
            if len(trend.sizes) > 1 and len(banded) == len(intervals):
                ax.fill_between(params, [i.low for i in banded], [i.high for i in banded], color=color, alpha=0.15)
            finite = np.isfinite(means)
            if finite.sum() >= 2:
                x = np.log10(params[finite])
                grid = np.linspace(x.min(), x.max(), 50)
                ax.plot(10**grid, stats.line(x, means[finite], grid), "-", color=color, lw=1)
    for trend in (t for t in trends if t.source == PUBLISHED):
        for ax, relative in zip(axes, (False, True)):
            for g in trend.sizes:
                value = g.stats.relative.mean if relative else g.stats.gain.mean
                ax.plot([g.params], [value], "*", color="black", ms=12, label=f"published: {trend.intermediate}")
    for ax, ylabel in zip(axes, ("gain (points)", "relative gain (gain / (100 − baseline))")):
        ax.set_xscale("log")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("parameters")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7, loc="best")
    single = all(len(t.sizes) == 1 for t in ours)
    note = " (one model size: no fit)" if single else " (line: least squares on the size means)"
    title = f"{measure}: gain from intermediate-task training vs model size{note}"
    if subset:
        title += f"\nlanguage subset: {subset}"
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


SUBSET_MARK = "*"


def heatmap(
    title: str, gains: Sequence[SizeGain], measures: Sequence[str], path: Path,
    subsets: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Mean gain per intermediate task (rows) and measure (columns) at one size; a measure in
    ``subsets`` (measure -> its subset flags) is marked with an asterisk, explained under the plot."""
    subsets = subsets or {}
    intermediates = sorted({g.intermediate for g in gains})
    columns = [m for m in measures if any(g.measure == m for g in gains)]
    table = np.full((len(intermediates), len(columns)), np.nan)
    for g in gains:
        table[intermediates.index(g.intermediate), columns.index(g.measure)] = g.stats.gain.mean
    limit = float(np.nanmax(np.abs(table))) if np.isfinite(table).any() else 1.0
    limit = limit or 1.0
    fig, ax = plt.subplots(figsize=(max(5.0, 2.5 + 0.9 * len(columns)), 2.0 + 0.5 * len(intermediates)))
    image = ax.imshow(table, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    labels = [f"{m} {SUBSET_MARK}" if m in subsets else m for m in columns]
    ax.set_xticks(range(len(columns)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(intermediates)), intermediates, fontsize=8)
    for (i, j), value in np.ndenumerate(table):
        if np.isfinite(value):
            color = "white" if abs(value) > 0.6 * limit else "black"
            ax.text(j, i, f"{value:+.1f}", ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image, ax=ax, label="gain (points)")
    ax.set_title(title, fontsize=9)
    flagged = sorted({flag for m in columns for flag in subsets.get(m, ())})
    if flagged:
        fig.text(0.01, 0.01, f"{SUBSET_MARK} language subset: " + "; ".join(flagged), fontsize=7, ha="left", va="bottom")
    return _save(fig, path, bottom=0.07 if flagged else 0.0)


def language_bars(
    title: str, language_gains: Sequence[LanguageGain], group_gains: Sequence[GroupGain], path: Path
) -> Path:
    """Per-language gains at each size (bars, languages ordered by resource class then family, error
    bars over seeds), and the mean gain per resource level with its interval over seeds."""
    sizes = sorted({(g.params, g.model) for g in language_gains})
    langs = sorted(
        {g.language for g in language_gains},
        key=lambda code: (-(lang_table.language(code).resource_class or -1), lang_table.language(code).family, code),
    )
    groups = sorted({g.group for g in group_gains if g.grouping == RESOURCE_GROUPING}, reverse=True)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(6.0, 0.45 * len(langs) * max(1, len(sizes)) ** 0.5 + 2), 7))
    width = 0.8 / len(sizes)
    for k, (params, model) in enumerate(sizes):
        offset = (k - (len(sizes) - 1) / 2) * width
        by_lang = {g.language: g.stats.gain for g in language_gains if g.params == params}
        intervals = [by_lang.get(code, Interval(float("nan"))) for code in langs]
        top.bar(np.arange(len(langs)) + offset, [i.mean for i in intervals], width, yerr=_errors(intervals),
                capsize=2, label=f"{model} ({params_label(params)})")
        by_group = {g.group: g.stats.gain for g in group_gains if g.params == params and g.grouping == RESOURCE_GROUPING}
        group_intervals = [by_group.get(group, Interval(float("nan"))) for group in groups]
        bottom.bar(np.arange(len(groups)) + offset, [i.mean for i in group_intervals], width,
                   yerr=_errors(group_intervals), capsize=3, label=model)
    classes = [lang_table.language(code).resource_class for code in langs]
    top.set_xticks(range(len(langs)), [f"{c}\n{'?' if k is None else k}" for c, k in zip(langs, classes)], fontsize=7)
    top.set_ylabel("gain (points)")
    top.set_title("per language (number: Joshi et al. 2020 resource class); error bars: 95% CI over seeds", fontsize=8)
    bottom.set_xticks(range(len(groups)), groups, fontsize=8)
    bottom.set_ylabel("mean gain (points)")
    bottom.set_title("by resource level; error bars: 95% t-interval over seeds", fontsize=8)
    for ax in (top, bottom):
        ax.axhline(0, color="grey", lw=0.8)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
