"""The short tables printed at the end of each phase and of a run."""

from __future__ import annotations

from typing import Any, Mapping

from xstilts_jax.evaluation.aggregation import BENCHMARKS
from xstilts_jax.evaluation.evaluator import MISSING, SPLIT, metric_values


def format_phase(summary: Mapping[str, Any]) -> str:
    """One finished training phase: task, steps, loss, dev metrics, the checkpoint handed on, time."""
    loss = summary.get("train_loss")
    lines = [
        f"── {summary['phase']} phase done: {summary['task']}",
        f"   steps {summary['steps']}   train loss {loss:.4f}   {summary['seconds']:.0f} s"
        if loss is not None
        else f"   steps {summary['steps']}   {summary['seconds']:.0f} s",
    ]
    for key, value in sorted(summary.get("eval", {}).items()):
        lines.append(f"   {key:<40} {value:8.2f}")
    best = summary.get("best_step")
    step = f"best step {best}" if best is not None else "last step"
    if "export" in summary:
        lines.append(f"   next phase loads {summary['export']} (params only, {format_bytes(summary['export_bytes'])}; {step})")
    else:
        lines.append(f"   next phase loads {summary['checkpoint']} ({step})")
    return "\n".join(lines)


def format_bytes(n: int) -> str:
    """A size in decimal units, 3 significant digits: 1.24 TB, 512 MB, 17 B."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 999.5 or unit == "PB":
            break
        value /= 1000
    return f"{n} B" if unit == "B" else f"{value:.3g} {unit}"


def format_scores(title: str, scores: Mapping[str, Mapping[str, Any]]) -> str:
    """Per-task (per-language) zero-shot scores, one row per task, one column per metric, plus the mean."""
    metrics = sorted({m for values in scores.values() for m in metric_values(values)})
    header = f"   {'task':<16} {'split':<11}" + "".join(f"{m:>13}" for m in metrics)
    lines = [f"── {title}", header]
    for task, values in scores.items():
        cells = "".join(f"{values[m]:13.2f}" if m in values else f"{'—':>13}" for m in metrics)
        if MISSING in values:
            cells = f"   not scored: {values[MISSING]}"
        lines.append(f"   {task:<16} {str(values.get(SPLIT, '')):<11}{cells}")
    if len(scores) > 1:
        means = []
        for m in metrics:
            present = [float(v[m]) for v in scores.values() if m in v]
            means.append(f"{sum(present) / len(present):13.2f}" if present else f"{'—':>13}")
        lines.append(f"   {'mean':<16} {'':<11}" + "".join(means))
    return "\n".join(lines)


def headline(target: str, scores: Mapping[str, Mapping[str, Any]]) -> float | None:
    """A target's headline as XTREME-R forms it: the language mean of its headline metrics, averaged
    (QA: (EM + F1) / 2); targets outside XTREME-R use F1, else accuracy. None when a metric is missing."""
    wanted = None
    for benchmark in BENCHMARKS.values():
        wanted = wanted or benchmark.headline_metrics.get(target)
    if wanted is None:
        first = next(iter(scores.values()), {})
        wanted = ("f1",) if "f1" in first else ("accuracy",)
    means = []
    for metric in wanted:
        values = [float(v[metric]) for v in scores.values() if metric in v]
        if len(values) != len(scores) or not values:
            return None
        means.append(sum(values) / len(values))
    return sum(means) / len(means)


def format_grid(rows: Mapping[tuple[str, str, int], Mapping[str, Mapping[str, Mapping[str, Any]]]], targets: list[str]) -> str:
    """(model, intermediate, seed) → target → scores, as one headline per target and an XTREME-R-style
    mean column (the plain mean of the target headlines, as the official scorer averages tasks)."""
    header = f"   {'model':<12} {'intermediate':<22} {'seed':>4}" + "".join(f"{t:>10}" for t in targets) + f"{'mean':>10}"
    lines = [header]
    for (model, intermediate, seed), by_target in rows.items():
        values = [headline(t, by_target[t]) if t in by_target else None for t in targets]
        cells = "".join(f"{v:10.2f}" if v is not None else f"{'—':>10}" for v in values)
        present = [v for v in values if v is not None]
        mean = f"{sum(present) / len(present):10.2f}" if present and len(present) == len(values) else f"{'—':>10}"
        lines.append(f"   {model:<12} {intermediate:<22} {seed:>4}{cells}{mean}")
    return "\n".join(lines)


def format_languages(rows: Mapping[tuple[str, str, int], Mapping[str, Mapping[str, Mapping[str, Any]]]], target: str) -> str:
    """One target's headline metric per language (rows) and per cell (columns)."""
    cells = {key: by_target[target] for key, by_target in rows.items() if target in by_target}
    tasks = list(dict.fromkeys(task for scores in cells.values() for task in scores))
    names = [f"{inter}/s{seed}" if len({k[2] for k in cells}) > 1 else inter for _, inter, seed in cells]
    width = max([10, *map(len, names)]) + 2
    lines = [f"   {target:<16}" + "".join(f"{n:>{width}}" for n in names)]
    for task in tasks:
        values = [headline(target, {task: scores[task]}) if task in scores else None for scores in cells.values()]
        lines.append(f"   {task:<16}" + "".join(f"{v:{width}.2f}" if v is not None else f"{'—':>{width}}" for v in values))
    return "\n".join(lines)
