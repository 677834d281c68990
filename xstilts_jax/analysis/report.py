"""The analysis report: tables as rows of strings, rendered to a self-contained HTML page (figures
embedded as base64 PNG) and to a Markdown summary."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import html
from collections.abc import Sequence
from pathlib import Path

from xstilts_jax.analysis import languages as lang_table
from xstilts_jax.analysis import stats
from xstilts_jax.analysis.gains import Analysis, SizeGain, Trend, sizes_by_source
from xstilts_jax.experiments.targets import BASELINE

PUBLISHED = "published"

METHODS = f"""\
Scores. Each run's task score is the official headline as google-research/xtreme evaluate.py computes
it (xstilts_jax/evaluation/aggregation.py): the mean over languages of the task's metric, (EM + F1) / 2
for QA; a category (classification, structured prediction, QA, retrieval) and the overall score are
plain means of task headlines under the XTREME or XTREME-R definition, reported only when every task
of the category was scored. A task is compared on the languages every run of the same source has.

Gain = score with the intermediate task - score of the baseline (no intermediate task), same source
and model size. Runs are paired by seed when seeds match (gain per seed); otherwise the two groups are
compared by their means. Relative gain = gain / (100 - baseline score): the share of the remaining
headroom that the intermediate task closes.

Intervals: 95% percentile bootstrap ({stats.N_BOOT} resamples, generator seeded with {stats.RNG_SEED}
and a hash of the estimate's name, so every number is reproducible). "CI seeds" resamples seeds (the
same seeds on both sides when paired); "CI languages" resamples the languages and the seeds together,
and shows how much a task's gain depends on which languages it averages. An interval needs at least
two seeds (or two languages); with one seed only the point estimate exists.

Slope: ordinary least squares of every per-seed gain on log10(parameters), reported in points per
decade (ten times the parameters), with the 95% t-interval slope ± t(0.975, n-2) · SE. We use the
t-interval rather than a bootstrap over seeds because the residuals around the line hold both the
seed noise and any misfit of the line, so the interval widens when the line fits badly, and it exists
with a single seed per size from three sizes on (a bootstrap over one seed has zero width).

Verdict: diminishing when the slope is negative and its interval excludes 0; growing when positive and
excluding 0; otherwise no evidence. It needs at least two model sizes (and three points for an
interval). The same rule is applied to the relative gain.

Saturating alternative: gain = a + b · (N / N0)^(-c), c > 0, N0 the smallest size (the gain levels off
at a), fitted by least squares (profiled over c), from three sizes on. It is compared with the
log-linear fit by AICc (small-sample AIC; 3 vs 4 parameters with the noise variance): a difference
over 2 prefers one form, otherwise they are called indistinguishable. AICc needs at least 6 points.

Per-language views group languages by resource level (Joshi et al. 2020 classes 0-5), family and
script ({Path(lang_table.__file__).name} gives the table and its sources); a group's interval resamples
its languages and seeds.
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


@dataclasses.dataclass
class Table:
    """A titled table of strings."""

    title: str
    header: list[str]
    rows: list[list[str]]


def _slope_text(fit: stats.LinearFit | None, digits: int = 2) -> str:
    return "-" if fit is None else interval(fit.slope, digits) + f" (n={fit.n_points})"


def _largest_text(gain: SizeGain) -> str:
    text = interval(gain.interval)
    return text + (f" ({gain.model}; CI over {gain.interval_basis})" if gain.interval.has_ci else f" ({gain.model})")


def verdict_table(trends: Sequence[Trend]) -> Table:
    """One row per (measure, intermediate, source): slopes per decade, verdicts, fit comparison."""
    rows = []
    for t in sorted(trends, key=lambda t: (t.source == PUBLISHED, t.measure, t.intermediate)):
        sizes = ", ".join(g.model for g in t.sizes)
        largest = t.sizes[-1]
        rows.append([
            t.measure, t.intermediate, t.source, sizes, _largest_text(largest),
            _slope_text(t.linear), t.verdict,
            _slope_text(t.relative_linear, 4), t.relative_verdict, t.fit_comparison,
        ])
    header = [
        "measure", "intermediate", "source", "sizes", "gain at the largest size [95% CI]",
        "slope (points/decade) [95% CI]", "verdict",
        "relative slope [95% CI]", "relative verdict", "saturating vs log-linear",
    ]
    return Table("Scaling verdicts", header, rows)


def gains_table(analysis: Analysis) -> Table:
    """One row per (measure, intermediate, source, size): the gain with both intervals."""
    rows = []
    for g in sorted(analysis.size_gains, key=lambda g: (g.source == PUBLISHED, g.measure, g.intermediate, g.params)):
        seeds = f"{g.over_seeds.n_with}/{g.over_seeds.n_baseline}" + (" paired" if g.over_seeds.paired else "")
        rows.append([
            g.measure, g.intermediate, g.source, g.model, f"{g.params:,}", seeds, f"{g.baseline:.2f}",
            interval(g.over_seeds.gain), "-" if g.over_languages is None else interval(g.over_languages.gain),
            interval(g.over_seeds.relative, 4),
        ])
    header = [
        "measure", "intermediate", "source", "model", "parameters", "seeds with/baseline", "baseline",
        "gain [95% CI seeds]", "gain [95% CI languages]", "relative gain [95% CI seeds]",
    ]
    return Table("Gains per model size", header, rows)


def group_tables(analysis: Analysis) -> list[Table]:
    """Per grouping: mean gain per group of languages at each (task, intermediate, size)."""
    tables = []
    for grouping in lang_table.GROUPINGS:
        rows = []
        chosen = [g for g in analysis.group_gains if g.grouping == grouping]
        for g in sorted(chosen, key=lambda g: (g.source, g.task, g.intermediate, g.params, g.group)):
            rows.append([g.task, g.intermediate, g.source, g.model, g.group, " ".join(g.languages), interval(g.stats.gain)])
        if rows:
            header = ["task", "intermediate", "source", "model", grouping, "languages", "mean gain [95% CI languages × seeds]"]
            tables.append(Table(f"Gain by {grouping}", header, rows))
    return tables


def language_table() -> Table:
    """The language metadata table with its sources."""
    rows = [[c, x.name, x.family, x.script, x.resource_level] for c, x in sorted(lang_table.LANGUAGES.items())]
    return Table("Languages", ["code", "language", "family", "script", "resource level (Joshi et al. 2020)"], rows)


def warnings(analysis: Analysis) -> list[str]:
    """What limits the conclusions, in plain words (e.g. one model size only)."""
    out = []
    for source, sizes in sizes_by_source(analysis.size_gains).items():
        if source == PUBLISHED:
            continue
        if len(sizes) < 2:
            names = ", ".join(f"{model} ({params:,} parameters)" for params, model in sizes)
            out.append(
                f"Only one model size in {source!r} runs: {names}. Slopes cannot be fitted: the scaling verdict "
                f"{stats.NEEDS_SIZES}. Gains are shown per task and language with their intervals."
            )
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
