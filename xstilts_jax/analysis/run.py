"""``run_analysis``: read a results database, compute gains, trends and verdicts, draw the figures
and write ``report.html`` (self-contained) and ``summary.md``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from xstilts_jax.analysis import plots, report
from xstilts_jax.analysis.collect import DEFAULT_PHASE, collect, open_store
from xstilts_jax.analysis.gains import Analysis, analyze
from xstilts_jax.analysis.stats import BREAKPOINT
from xstilts_jax.progress import PhaseBar

TITLE = "Does the gain from intermediate-task training shrink with model size?"
# Figures this module writes; earlier ones in the output folder are replaced, nothing else is touched.
_FIGURE_PATTERNS = ("gain_*.png", "heatmap_*.png", "languages_*.png")


def _figure_jobs(analysis: Analysis, measures: Sequence[str], out: Path) -> dict[str, list[tuple[Path, Callable[[], Path]]]]:
    """Section -> (file, drawing function) pairs, so drawing can run under one progress bar."""
    sections = ("Gain vs parameters", "Heatmaps", "Per-language gains")
    jobs: dict[str, list[tuple[Path, Callable[[], Path]]]] = {section: [] for section in sections}
    for measure in measures:
        trends = [t for t in analysis.trends if t.measure == measure]
        if trends:
            path = out / f"gain_{plots.file_stem(measure)}.png"
            subset = "; ".join(sorted({f for t in trends for f in analysis.subsets.get((t.source, measure), ())}))
            draw_gain = lambda p=path, m=measure, t=trends, s=subset: plots.gain_vs_params(m, t, p, subset=s)  # noqa: E731
            jobs["Gain vs parameters"].append((path, draw_gain))
    for source, params, model in sorted({(g.source, g.params, g.model) for g in analysis.size_gains}):
        gains = [g for g in analysis.size_gains if (g.source, g.params) == (source, params)]
        path = out / f"heatmap_{plots.file_stem(source, model)}.png"
        title = f"gain (points), intermediate task × measure\n{model} ({params:,} parameters, {source})"
        subsets = {m: analysis.subsets[(source, m)] for m in measures if (source, m) in analysis.subsets}
        draw_map = lambda p=path, t=title, g=gains, s=subsets: plots.heatmap(t, g, measures, p, subsets=s)  # noqa: E731
        jobs["Heatmaps"].append((path, draw_map))
    for source, task, intermediate in sorted({(g.source, g.task, g.intermediate) for g in analysis.language_gains}):
        lang = [g for g in analysis.language_gains if (g.source, g.task, g.intermediate) == (source, task, intermediate)]
        group = [g for g in analysis.group_gains if (g.source, g.task, g.intermediate) == (source, task, intermediate)]
        path = out / f"languages_{plots.file_stem(source, task, intermediate)}.png"
        title = f"{task}: gain from {intermediate} per language ({source})"
        draw = lambda p=path, t=title, lg=lang, gg=group: plots.language_bars(t, lg, gg, p)  # noqa: E731
        jobs["Per-language gains"].append((path, draw))
    return jobs


def analyze_into(
    db: str | Path, out_dir: str | Path, *, phase: str = DEFAULT_PHASE, breakpoint: float = BREAKPOINT, correction: str = "holm",
    power: float | None = None,
) -> tuple[Path, Analysis]:
    """``run_analysis`` that also returns the computed ``Analysis``."""
    db, out = Path(db), Path(out_dir)
    with open_store(db) as store:
        collected = collect(store, phase)
        runs = len(store.runs())
    analysis = analyze(collected, breakpoint=breakpoint, correction=correction)
    out.mkdir(parents=True, exist_ok=True)
    for pattern in _FIGURE_PATTERNS:
        for stale in out.glob(pattern):
            stale.unlink()
    jobs = _figure_jobs(analysis, collected.measure_order, out)
    total = sum(len(items) for items in jobs.values())
    figures: dict[str, list[Path]] = {}
    with PhaseBar(total=total, desc="figures", unit="png", disable=total == 0) as bar:
        for section, items in jobs.items():
            for path, draw in items:
                draw()
                figures.setdefault(section, []).append(path)
                bar.update()
    verdicts, gains, groups = (
        report.verdict_table(analysis.trends, analysis.subsets), report.gains_table(analysis), report.group_tables(analysis)
    )
    alternatives = (
        [report.alternatives_table(analysis), report.alternative_trends_table(analysis)] if analysis.comparisons else []
    )
    facts = report.facts(db, analysis, runs)
    warn = report.warnings(analysis)
    all_figures = [p for paths in figures.values() for p in paths]
    planned = [report.power_table(analysis, power)] if power is not None else []
    if power is not None:
        report.write_power_csv(out / "power.csv", analysis, power)
    report.write_markdown(
        out / "summary.md", TITLE, facts, warn, [verdicts, *planned, gains, *alternatives, *groups], all_figures, analysis.notes
    )
    sections = [
        report.Section("Verdicts", [verdicts, *planned], figures.get("Gain vs parameters", [])),
        report.Section("Gains per model size", [gains], figures.get("Heatmaps", [])),
        report.Section("X-STILTs and its alternatives", alternatives, []),
        report.Section("Per-language gains", groups, figures.get("Per-language gains", [])),
    ]
    html_path = report.write_html(out / "report.html", TITLE, facts, warn, sections, analysis.notes)
    return html_path, analysis


def run_analysis(
    db: str | Path, out_dir: str | Path, *, phase: str = DEFAULT_PHASE, breakpoint: float = BREAKPOINT, correction: str = "holm",
    power: float | None = None,
) -> Path:
    """Analyze results database ``db`` into ``out_dir``: ``report.html``, ``summary.md`` and the PNGs.

    Returns the path of ``report.html``. Works on any number of model sizes; with one, the report says
    that slopes need at least two and still shows gains per task and language.
    """
    return analyze_into(db, out_dir, phase=phase, breakpoint=breakpoint, correction=correction, power=power)[0]
