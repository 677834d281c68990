"""The analysis report: tables as rows of strings, rendered to a self-contained HTML page (figures
embedded as base64 PNG) and to a Markdown summary."""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from xstilts_jax.analysis import languages as lang_table
from xstilts_jax.analysis import methods, stats
from xstilts_jax.analysis.gains import PUBLISHED, Analysis, SizeGain, Trend, family_of, sizes_by_source
from xstilts_jax.experiments.targets import BASELINE

METHODS = f"""\
Scores. Each run's task score is the official headline as google-research/xtreme evaluate.py computes
it (xstilts_jax/evaluation/aggregation.py): the mean over languages of the task's metric, (EM + F1) / 2
for QA; a category (classification, structured prediction, QA, retrieval) and the overall score are
plain means of task headlines under the XTREME or XTREME-R definition, reported only when every task
of the category was scored. A task is compared on the languages every run of the same source has.

Gain = score with the intermediate task - score of the baseline (no intermediate task), same source
and model size, on every seed that has the measure. Relative gain = gain / (100 - baseline score).

Per-size intervals (95%). When both sides have the same seeds: paired t-interval of the per-seed
gains (df = seeds - 1; assumes the per-seed gains are independent and roughly normal; languages are
averaged within a seed first, so a seed effect shared by all languages is counted once). Otherwise:
Welch's interval of the two groups of seeds (Welch-Satterthwaite df). With one seed there is no
interval, unless other sizes of the same trend have replicates: the per-seed variance is then pooled
from them ("seed variance borrowed", which assumes equal seed noise across sizes). Languages are never
treated as independent replicates.

Trend. Least squares of the per-size mean gains on log10(parameters), in points per decade, with the
t-test on K - 2 df (K = sizes). Seeds are not counted as replicates of the line, so a size that
deviates from the line widens the interval (assumes the size deviations are independent with equal
variance; unequal seed counts enter only through the size means). Lack of fit: F test of the size
means around the line against the seed scatter within sizes (pure error), when every size has paired
replicates.

Beyond the breakpoint ({stats.BREAKPOINT:.0e} parameters unless the command says otherwise): hinge model
gain = a + b log10 N + c max(0, log10 N - log10 breakpoint) + one constant per model family after the
first (family = model name up to its first underscore); the slope past the breakpoint is b + c, tested
on K - p df. It needs two sizes at or past the breakpoint and more sizes than terms.

Curvature: the quadratic coefficient of centred log10 N on K - 3 df; negative and significant = levels
off, positive = accelerates, otherwise no evidence; fewer than 4 sizes = insufficient data.

Verdicts: diminishing / growing when the slope's p-value is under 0.05 after correction across the
verdict table, otherwise no evidence. The global and beyond-breakpoint slopes of every task trend of
our runs form one family (Holm by default, Benjamini-Hochberg with --correction bh). Aggregate
measures (categories, overall) and published points are derived from the same scores: they are shown
with their own p-values and marked derived. Intervals are unadjusted 95% intervals.

Power (analyze --power SLOPE): seeds per size for 80% power of the beyond-breakpoint test at the given
slope, from the noncentral t with the per-seed variance pooled from the runs and the size-level
variance (size-mean residual variance minus its seed part) measured on the same trend.

Methods: every intermediate is labelled X-STILTs, MLM continued (the intermediate task mixed with MLM on
the target languages) or translate-train (the intermediate task with machine translations of its data),
from its name (xstilts_jax/analysis/methods.py). Each alternative is also compared with X-STILTs on the
task it builds on (e.g. intermediate.mnli_mlm with mnli), at each size with the interval above (paired
when the seeds match, else Welch), and across sizes by the slope of that difference; these comparisons
are secondary and their p-values are not adjusted.

Per-language views group languages by resource level (Joshi et al. 2020 classes 0-5), family and
script ({Path(lang_table.__file__).name} gives the table and its sources); a group's gain is the mean
over its languages per seed, with the per-size interval above.
"""


def _signed(value: float | None, digits: int = 2) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:+.{digits}f}"


def interval(value: stats.Interval, digits: int = 2) -> str:
    """``+1.20 [+0.40, +2.10]``, or the point alone when there is no interval."""
    text = _signed(value.mean, digits)
    if value.has_ci:
        text += f" [{_signed(value.low, digits)}, {_signed(value.high, digits)}]"
    return text


SUBSET_HEADER = "language subset"
METHOD_HEADER = "method"


@dataclasses.dataclass
class Table:
    """A titled table of strings."""

    title: str
    header: list[str]
    rows: list[list[str]]


def _p_text(p: float | None) -> str:
    return "-" if p is None or not math.isfinite(p) else (f"{p:.3f}" if p >= 0.001 else "<0.001")


def _test_text(test: stats.Test, digits: int = 2) -> str:
    return "-" if not test.tested else interval(test.estimate, digits) + f" (df {test.df})"


def _largest_text(gain: SizeGain) -> str:
    return interval(gain.stats.gain) + f" ({gain.model}; {gain.stats.basis})"


def _lof_text(trend: Trend) -> str:
    lof = trend.lack_of_fit
    return "-" if lof is None else f"F({lof.df_fit}, {lof.df_error}) = {lof.f:.2f}, p {_p_text(lof.p)}"


def _subset_cell(subsets: Mapping[tuple[str, str], tuple[str, ...]], source: str, measure: str) -> str:
    return "; ".join(subsets.get((source, measure), ())) or "-"


def verdict_table(trends: Sequence[Trend], subsets: Mapping[tuple[str, str], tuple[str, ...]] | None = None) -> Table:
    """One row per (measure, intermediate, source): global and beyond-breakpoint slopes with raw and
    adjusted p-values and verdicts, curvature, relative slope and lack of fit, and the language
    subset the measure was computed on (``Analysis.subsets``)."""
    subsets = subsets or {}
    rows = []
    for t in sorted(trends, key=lambda t: (t.derived, t.source == PUBLISHED, t.measure, methods.sort_key(t.intermediate))):
        rows.append([
            t.measure + (" (derived)" if t.derived else ""), t.intermediate, methods.label(t.intermediate), t.source,
            ", ".join(g.model for g in t.sizes), _largest_text(t.sizes[-1]),
            _test_text(t.slope), _p_text(t.slope.p), _p_text(t.adjusted.get("slope")), t.verdict,
            _test_text(t.beyond), _p_text(t.adjusted.get("beyond", t.beyond.p)), t.beyond_verdict,
            t.curvature_verdict, _test_text(t.relative_slope, 4), t.relative_verdict, _lof_text(t),
            _subset_cell(subsets, t.source, t.measure),
        ])
    header = [
        "measure", "intermediate", METHOD_HEADER, "source", "sizes", "gain at the largest size [95% CI]",
        "slope (points/decade) [95% CI]", "p", "p adjusted", "verdict",
        "slope past breakpoint [95% CI]", "p adjusted", "verdict past breakpoint",
        "curvature", "relative slope [95% CI]", "relative verdict", "lack of fit", SUBSET_HEADER,
    ]
    return Table("Scaling verdicts", header, rows)


def gains_table(analysis: Analysis) -> Table:
    """One row per (measure, intermediate, source, size): the gain with its interval and basis."""
    rows = []
    for g in sorted(analysis.size_gains, key=lambda g: (g.source == PUBLISHED, g.measure, methods.sort_key(g.intermediate), g.params)):
        rows.append([
            g.measure, g.intermediate, methods.label(g.intermediate), g.source, g.model, f"{g.params:,}", _seeds_text(g), f"{g.baseline:.2f}",
            interval(g.stats.gain), g.stats.basis, interval(g.stats.relative, 4),
            _subset_cell(analysis.subsets, g.source, g.measure),
        ])
    header = [
        "measure", "intermediate", METHOD_HEADER, "source", "model", "parameters", "seeds with/baseline", "baseline",
        "gain [95% CI]", "interval", "relative gain [95% CI]", SUBSET_HEADER,
    ]
    return Table("Gains per model size", header, rows)


def _seeds_text(g: SizeGain) -> str:
    return f"{g.stats.n_with}/{g.stats.n_baseline}" + (" paired" if g.stats.paired else "")


def alternatives_table(analysis: Analysis) -> Table:
    """Per (measure, X-STILTs task, size): X-STILTs and each alternative built on it, one row each: the gain over
    the baseline and, for an alternative, its difference from X-STILTs with its interval (``Analysis.comparisons``)."""
    gains = {(g.source, g.measure, g.intermediate, g.params): g for g in analysis.size_gains}
    groups: dict[tuple[str, str, str, int, str], list[SizeGain]] = {}
    for c in analysis.comparisons:
        groups.setdefault((c.source, c.measure, methods.method_of(c.intermediate)[1], c.params, c.model), []).append(c)
    rows = []
    for (source, measure, base, params, model), compared in sorted(groups.items(), key=lambda item: (item[0][0] == PUBLISHED, item[0])):
        reference = gains.get((source, measure, base, params))
        rows.append([
            measure, base, methods.XSTILTS.label, base, source, model, f"{params:,}",
            interval(reference.stats.gain) if reference else "-", "-", "", "",
        ])
        for c in sorted(compared, key=lambda c: methods.sort_key(c.intermediate)):
            own = gains.get((source, measure, c.intermediate, params))
            rows.append([
                measure, base, methods.label(c.intermediate), c.intermediate, source, model, f"{params:,}",
                interval(own.stats.gain) if own else "-", interval(c.stats.gain),
                _seeds_text(c), c.stats.basis,
            ])
    header = [
        "measure", "X-STILTs task", METHOD_HEADER, "intermediate", "source", "model", "parameters",
        "gain over baseline [95% CI]", "vs X-STILTs [95% CI]", "seeds alternative/X-STILTs", "interval",
    ]
    return Table("X-STILTs and its alternatives, per model size", header, rows)


def alternative_trends_table(analysis: Analysis) -> Table:
    """Per alternative and measure: the slope with size of its difference from X-STILTs (unadjusted)."""
    rows = []
    for t in sorted(analysis.comparison_trends, key=lambda t: (t.source == PUBLISHED, t.measure, methods.sort_key(t.intermediate))):
        rows.append([
            t.measure, methods.method_of(t.intermediate)[1], methods.label(t.intermediate), t.intermediate, t.source,
            ", ".join(g.model for g in t.sizes), _largest_text(t.sizes[-1]), _test_text(t.slope), _p_text(t.slope.p),
            t.verdict,
        ])
    header = [
        "measure", "X-STILTs task", METHOD_HEADER, "intermediate", "source", "sizes",
        "vs X-STILTs at the largest size [95% CI]", "slope of the difference (points/decade) [95% CI]", "p (unadjusted)",
        "direction of the difference (unadjusted)",
    ]
    return Table("Alternatives vs X-STILTs across model sizes", header, rows)


POWER_CSV_FIELDS = ("measure", "intermediate", "source", "sizes", "seed_variance", "size_variance", "seeds_per_size", "effect")


def power_rows(analysis: Analysis, effect: float) -> list[dict[str, object]]:
    """Per primary trend: its noise and the seeds per size for 80% power to detect a slope of ``effect``
    points/decade past the breakpoint (``seeds_per_size`` None when none ≤ MAX_SEEDS does, or the noise
    is not measured: ``measured`` False)."""
    rows = []
    for t in (t for t in analysis.trends if not t.derived):
        sigma2 = t.lack_of_fit.sigma2 if t.lack_of_fit else math.nan
        measured = math.isfinite(sigma2) and math.isfinite(t.tau2)
        seeds = (
            stats.seeds_needed(effect, t.x, [family_of(g.model) for g in t.sizes], sigma2, t.tau2, analysis.breakpoint)
            if measured else None
        )
        rows.append({
            "measure": t.measure, "intermediate": t.intermediate, "source": t.source,
            "sizes": ", ".join(g.model for g in t.sizes), "seed_variance": sigma2, "size_variance": t.tau2,
            "seeds_per_size": seeds, "measured": measured, "effect": effect,
        })
    return rows


def power_table(analysis: Analysis, effect: float) -> Table:
    """Seeds per size needed for 80% power to detect a slope of ``effect`` points/decade past the
    breakpoint, per primary trend, with the noise measured in its runs."""
    rows = []
    for r in power_rows(analysis, effect):
        if not r["measured"]:
            need = "needs ≥ 3 sizes with paired replicates to measure the noise"
        else:
            need = str(r["seeds_per_size"]) if r["seeds_per_size"] else f"none ≤ {stats.MAX_SEEDS}: add sizes past the breakpoint"
        rows.append([
            r["measure"], r["intermediate"], r["source"], r["sizes"], f"{r['seed_variance']:.3f}", f"{r['size_variance']:.3f}", need,
        ])
    header = ["measure", "intermediate", "source", "sizes", "seed variance", "size-level variance", "seeds per size"]
    return Table(f"Power: seeds per size for 80% power at {effect:+g} points/decade past {analysis.breakpoint:.0e}", header, rows)


def write_power_csv(path: Path, analysis: Analysis, effect: float) -> Path:
    """``power.csv``: one row per primary trend (``power_rows``; an empty ``seeds_per_size`` means no
    count ≤ MAX_SEEDS reaches 80% power or the noise is unmeasured), read by ``plan --study --seeds_from``."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, POWER_CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in power_rows(analysis, effect):
            writer.writerow({**row, "seeds_per_size": "" if row["seeds_per_size"] is None else row["seeds_per_size"]})
    return path


def group_tables(analysis: Analysis) -> list[Table]:
    """Per grouping: mean gain per group of languages at each (task, intermediate, size)."""
    tables = []
    for grouping in lang_table.GROUPINGS:
        rows = []
        chosen = [g for g in analysis.group_gains if g.grouping == grouping]
        for g in sorted(chosen, key=lambda g: (g.source, g.task, methods.sort_key(g.intermediate), g.params, g.group)):
            rows.append([
                g.task, g.intermediate, methods.label(g.intermediate), g.source, g.model, g.group, " ".join(g.languages),
                interval(g.stats.gain),
            ])
        if rows:
            header = ["task", "intermediate", METHOD_HEADER, "source", "model", grouping, "languages", "mean gain [95% CI languages × seeds]"]
            tables.append(Table(f"Gain by {grouping}", header, rows))
    return tables


def language_table() -> Table:
    """The language metadata table with its sources."""
    rows = [[c, x.name, x.family, x.script, x.resource_level] for c, x in sorted(lang_table.LANGUAGES.items())]
    return Table("Languages", ["code", "language", "family", "script", "resource level (Joshi et al. 2020)"], rows)


def warnings(analysis: Analysis) -> list[str]:
    """What limits the conclusions, in plain words (one model size, measures on a subset of the
    official languages, sizes lost past the breakpoint)."""
    out = []
    flagged: dict[str, dict[str, None]] = {}
    for (source, _), flags in sorted(analysis.subsets.items()):
        flagged.setdefault(source, {}).update(dict.fromkeys(flags))
    for source, flags in flagged.items():
        out.append(
            f"Language subset ({source} runs): {'; '.join(flags)}. Every mean over these tasks, and every category or "
            f"overall score built on them, covers only these languages (column {SUBSET_HEADER!r}); it is not comparable "
            "with a benchmark score over all official languages."
        )
    for source, sizes in sizes_by_source(analysis.size_gains).items():
        if source == PUBLISHED:
            continue
        if len(sizes) < 2:
            names = ", ".join(f"{model} ({params:,} parameters)" for params, model in sizes)
            out.append(
                f"Only one model size in {source!r} runs: {names}. Slopes cannot be fitted: the scaling verdict "
                f"{stats.NEEDS_SIZES}. Gains are shown per task and language with their intervals."
            )
    for d in analysis.dropped:
        if d.params >= analysis.breakpoint:
            out.append(
                f"{d.source} {d.model} ({d.params:,} parameters, past the breakpoint) is missing from the {d.measure} "
                f"trend of {d.intermediate}: {d.why}."
            )
    for t in analysis.trends:
        if not t.derived and len(t.sizes) >= 2 and not t.beyond.tested:
            out.append(f"{t.measure} {t.intermediate} ({t.source}): no test past the breakpoint, {t.beyond.why}.")
    if not analysis.size_gains:
        out.append(
            f"No gains: the database needs baseline runs (intermediate {BASELINE!r}) and runs with an intermediate "
            "task of the same model."
        )
    return out


# --- rendering ------------------------------------------------------------------------------------


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    return f"<h3>{html.escape(table.title)}</h3>\n<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n"


def _html_figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(path.name)
    return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"><figcaption>{name}</figcaption></figure>\n'


_CSS = """body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f0f0f0}.warn{background:#fff3cd;border:1px solid #e0c36b;padding:0.6em 1em}
pre{white-space:pre-wrap;background:#f7f7f7;padding:1em}img{max-width:100%}figure{margin:1em 0}"""


@dataclasses.dataclass
class Section:
    """A report section: a heading, tables, then figures."""

    heading: str
    tables: list[Table]
    figures: list[Path]


def write_html(
    path: Path, title: str, facts: Sequence[str], warn: Sequence[str], sections: Sequence[Section],
    notes: Sequence[str],
) -> Path:
    """The self-contained report page (figures embedded), sections in order, then the statistics."""
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style>"
    parts = [f"<!DOCTYPE html><html><head>{head}</head><body>"]
    parts.append(f"<h1>{html.escape(title)}</h1><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in facts) + "</ul>")
    parts += [f"<p class='warn'>{html.escape(w)}</p>" for w in warn]
    for section in sections:
        if section.tables or section.figures:
            parts.append(f"<h2>{html.escape(section.heading)}</h2>")
            parts += [_html_table(t) for t in section.tables]
            parts += [_html_figure(p) for p in section.figures]
    parts.append(f"<h2>Statistics</h2><pre>{html.escape(METHODS)}</pre>")
    parts.append(_html_table(language_table()))
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>\n")
    path.write_text("".join(parts), encoding="utf-8")
    return path


def _md_table(table: Table) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"### {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def write_markdown(
    path: Path, title: str, facts: Sequence[str], warn: Sequence[str], tables: Sequence[Table], figures: Sequence[Path],
    notes: Sequence[str],
) -> Path:
    """The Markdown summary (figures linked by relative path)."""
    parts = [f"# {title}", ""] + [f"- {f}" for f in facts] + [""]
    parts += [f"> **{w}**\n" for w in warn]
    parts += [_md_table(t) for t in tables]
    if figures:
        parts += ["### Figures", ""] + [f"- [{p.name}]({p.name})" for p in figures] + [""]
    parts += ["### Statistics", "", METHODS]
    if notes:
        parts += ["### Notes", ""] + [f"- {n}" for n in notes] + [""]
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def facts(db: Path, analysis: Analysis, runs: int) -> list[str]:
    """The report's header lines: database, time, sizes per source."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    lines = [f"database: {db} ({runs} runs)", f"written: {now}"]
    for source, sizes in sizes_by_source(analysis.size_gains).items():
        described = ", ".join(f"{model} ({params:,})" for params, model in sizes)
        lines.append(f"{source}: {len(sizes)} model size(s) with gains: {described}")
    return lines
