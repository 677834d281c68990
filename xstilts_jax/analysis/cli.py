"""`xstilts-jax analyze`: does the gain from intermediate-task training shrink with model size?

Reads a results database, writes DIR/report.html (self-contained), DIR/summary.md and the PNG
figures, and prints where the report is and the scaling verdicts.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from xstilts_jax.analysis import methods, report
from xstilts_jax.analysis.collect import DEFAULT_PHASE
from xstilts_jax.analysis.gains import Analysis, Trend
from xstilts_jax.analysis.run import analyze_into
from xstilts_jax.analysis.stats import BREAKPOINT, CORRECTIONS
from xstilts_jax.experiments.results.store import results_db


def aligned(table: report.Table, columns: Sequence[str]) -> str:
    """The named columns of ``table`` (the first of a repeated name) as aligned text, header first."""
    keep = [table.header.index(name) for name in columns]
    rows = [[row[i] for i in keep] for row in [table.header, *table.rows]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(keep))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def verdict_summary(trends: Sequence[Trend]) -> str:
    """The verdict table as aligned text: measure, intermediate (and its method when an alternative to X-STILTs
    is among them), source, slopes, adjusted p and verdicts."""
    table = report.verdict_table(trends)
    alternatives = any(methods.method_of(t.intermediate)[0] != methods.XSTILTS for t in trends)
    columns = ["measure", "intermediate", *([report.METHOD_HEADER] if alternatives else []), "source",
               "slope (points/decade) [95% CI]", "p adjusted", "verdict", "slope past breakpoint [95% CI]",
               "verdict past breakpoint"]
    return aligned(table, columns)


def alternatives_summary(analysis: Analysis) -> str:
    """X-STILTs and its alternatives per size as aligned text ("" when the database has no alternative)."""
    if not analysis.comparisons:
        return ""
    table = report.alternatives_table(analysis)
    columns = ["measure", "X-STILTs task", report.METHOD_HEADER, "intermediate", "source", "model",
               "gain over baseline [95% CI]", "vs X-STILTs [95% CI]"]
    return f"{table.title}:\n" + aligned(table, columns)


def main(argv: Sequence[str]) -> int:
    """Analyze a results database into an output folder and print the verdicts."""
    parser = argparse.ArgumentParser(prog="xstilts-jax analyze", description=__doc__)
    parser.add_argument("--db", default=None, help=f"results database (default: {results_db()})")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for report.html, summary.md and the PNGs")
    parser.add_argument("--phase", default=DEFAULT_PHASE, help="phase whose scores to analyze")
    parser.add_argument("--breakpoint", type=float, default=BREAKPOINT, help="parameters where the tested regime starts")
    parser.add_argument("--correction", choices=CORRECTIONS, default="holm", help="multiple-comparison correction")
    parser.add_argument(
        "--power", type=float, default=None, metavar="SLOPE",
        help="also plan seeds per size for 80%% power to detect SLOPE points/decade past the breakpoint",
    )
    args = parser.parse_args(argv)
    if args.breakpoint <= 0:
        parser.error(f"--breakpoint {args.breakpoint}: give a positive parameter count, e.g. 3e10")
    importlib.import_module("tasks")  # the catalog's records give each task's scoring split
    db = args.db or results_db()
    html_path, analysis = analyze_into(
        db, args.out, phase=args.phase, breakpoint=args.breakpoint, correction=args.correction, power=args.power
    )
    for line in report.warnings(analysis):
        print(f"note: {line}")
    print(verdict_summary(analysis.trends))
    if analysis.comparisons:
        print(alternatives_summary(analysis))
    if args.power is not None:
        table = report.power_table(analysis, args.power)
        print(table.title)
        for row in table.rows:
            print("  " + "  ".join(row))
    print(f"report: {html_path}")
    return 0
