"""Read a results database into *systems* and the values the analysis compares.

A system is one (source, model, intermediate task, seed): every run that shares them, whatever its
target, so benchmark categories can combine tasks trained in different runs. For each system it
holds each task's per-language headline score and the measures (task headlines, XTREME / XTREME-R
category means and overall scores) computed by ``evaluation.aggregation`` as the official scorer does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

from xstilts_jax.evaluation.aggregation import BENCHMARKS, XTREME_R, Benchmark, aggregate, aggregate_task
from xstilts_jax.experiments.results.records import ResultsError, Row, scoring_split
from xstilts_jax.experiments.results.store import ResultsStore

# A score already averaged over a task's languages, as papers publish them (see published/README.md).
ALL_LANGUAGES = "all"
DEFAULT_PHASE = "eval"
# evaluate.py's headline rule for a task no benchmark defines: (EM + F1) / 2, else F1, else accuracy.
_HEADLINE_RULE = (("exact_match", "f1"), ("f1",), ("accuracy",))


@dataclasses.dataclass(frozen=True)
class System:
    """Runs sharing source, model, intermediate task and seed."""

    source: str
    params: int
    model: str
    intermediate: str
    seed: int | None

    @property
    def sort_key(self) -> tuple[str, int, str, str, int, int]:
        """Order by source, size, model, intermediate, then seed (no seed first)."""
        seed = (0, 0) if self.seed is None else (1, self.seed)
        return (self.source, self.params, self.model, self.intermediate, *seed)


@dataclasses.dataclass
class Collected:
    """What the analysis reads: per system, its measures and per-language task headlines."""

    measures: dict[System, dict[str, float]]
    per_language: dict[System, dict[str, dict[str, float]]]
    measure_order: list[str]
    notes: list[str]
    # (source, measure) -> how it falls short of its benchmark's official languages, e.g.
    # ("udpos on 4 of 38 XTREME-R languages",); absent when every official language was scored.
    subsets: dict[tuple[str, str], tuple[str, ...]] = dataclasses.field(default_factory=dict)


def measure_name(benchmark: str, part: str) -> str:
    """The name of a benchmark category or overall measure, e.g. ``xtreme_r:overall``."""
    return f"{benchmark}:{part}"


def is_aggregate(measure: str) -> bool:
    """Whether ``measure`` is a category or overall mean of task headlines (derived, not a separate test)."""
    return ":" in measure


def _pick_split(task: str, splits: set[str]) -> str | None:
    preferred = scoring_split(task)
    if preferred in splits:
        return preferred
    return next(iter(splits)) if len(splits) == 1 else None


def _nested_scores(rows: Sequence[Row], notes: list[str]) -> dict[System, dict[str, dict[str, dict[str, float]]]]:
    """System -> task -> language -> metric -> value, one split per (run, task)."""
    by_run_task: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        by_run_task.setdefault((row.run_id, row.task), []).append(row)
    nested: dict[System, dict[str, dict[str, dict[str, float]]]] = {}
    owner: dict[tuple[System, str], Row] = {}
    for (run_id, task), task_rows in sorted(by_run_task.items()):
        split = _pick_split(task, {row.split for row in task_rows})
        if split is None:
            notes.append(f"run {run_id}, task {task}: several splits and none is the scoring split; left out")
            continue
        first = task_rows[0]
        system = System(first.source, first.model_params, first.model, first.intermediate, first.seed)
        earlier = owner.get((system, task))
        if earlier is not None and earlier.run_id != run_id:
            # Two runs of one system scored the task: keep the run trained on it.
            if earlier.target == task or first.target != task:
                notes.append(f"task {task}: runs {earlier.run_id} and {run_id} both score it; used {earlier.run_id}")
                continue
            notes.append(f"task {task}: runs {earlier.run_id} and {run_id} both score it; used {run_id}")
            nested[system].pop(task)
        owner[(system, task)] = first
        per_language = nested.setdefault(system, {}).setdefault(task, {})
        for row in task_rows:
            if row.split == split:
                per_language.setdefault(row.language, {})[row.metric] = row.value
    return nested


def _benchmark_headline(task: str) -> tuple[str, ...] | None:
    for benchmark in BENCHMARKS.values():
        if task in benchmark.headline_metrics:
            return benchmark.headline_metrics[task]
    return None


def _headline_metrics(task: str, metrics: set[str], source: str, notes: list[str]) -> tuple[str, ...] | None:
    """The headline metrics of ``task`` among ``metrics`` (those every system of ``source`` recorded)."""
    wanted = _benchmark_headline(task)
    if wanted is None:
        wanted = next((rule for rule in _HEADLINE_RULE if set(rule) <= metrics), None)
        if wanted is None and len(metrics) == 1:
            wanted = tuple(metrics)
        if wanted is None:
            notes.append(f"{source}: task {task} has metrics {sorted(metrics)} and no headline rule; left out")
        return wanted
    present = tuple(metric for metric in wanted if metric in metrics)
    if not present:
        notes.append(f"{source}: task {task} lacks its headline metrics {list(wanted)}; left out")
        return None
    if present != wanted:
        notes.append(
            f"{source}: task {task} headline from {', '.join(present)} only "
            f"({', '.join(m for m in wanted if m not in present)} not recorded)"
        )
    return present


def _common(
    nested: Mapping[System, Mapping[str, Mapping[str, Mapping[str, float]]]], source: str, task: str
) -> tuple[list[str], set[str]]:
    """Languages and metrics every system of ``source`` recorded for ``task`` (languages in first-seen order)."""
    systems = [tasks[task] for system, tasks in nested.items() if system.source == source and task in tasks]
    languages = [lang for lang in systems[0] if all(lang in per_lang for per_lang in systems)]
    metrics = {m for per_lang in systems for lang in languages for m in per_lang[lang]}
    metrics = {m for m in metrics if all(m in per_lang[lang] for per_lang in systems for lang in languages)}
    return languages, metrics


def collect(store: ResultsStore, phase: str = DEFAULT_PHASE) -> Collected:
    """Every system's measures and per-language headlines from ``store`` (scores of ``phase`` only)."""
    notes: list[str] = []
    rows = store.scores(phase=phase)
    if not rows:
        phases = sorted({row.phase for row in store.scores()})
        raise ResultsError(
            f"{store.path} has no scores of phase {phase!r}"
            + (f"; it has phases {phases} (pass --phase)" if phases else "; record runs first")
        )
    nested = _nested_scores(rows, notes)

    # Per (source, task): the languages and headline metrics every system recorded, so that means
    # compare like with like across intermediates, seeds and sizes.
    headlines: dict[tuple[str, str], tuple[str, ...]] = {}
    languages: dict[tuple[str, str], list[str]] = {}
    for source, task in sorted({(s.source, t) for s, tasks in nested.items() for t in tasks}):
        langs, metrics = _common(nested, source, task)
        every = sorted({lang for s, tasks in nested.items() if s.source == source for lang in tasks.get(task, {})})
        dropped = [lang for lang in every if lang not in langs]
        if dropped:
            notes.append(f"{source}: task {task} compared on {len(langs)} languages every run has; left out {dropped}")
        if not langs:
            continue
        headline = _headline_metrics(task, metrics, source, notes)
        if headline is not None:
            headlines[(source, task)], languages[(source, task)] = headline, langs

    measures: dict[System, dict[str, float]] = {}
    per_language: dict[System, dict[str, dict[str, float]]] = {}
    order: list[str] = []
    for system, tasks in sorted(nested.items(), key=lambda item: item[0].sort_key):
        values: dict[str, float] = {}
        for task in sorted(tasks):
            key = (system.source, task)
            if key not in headlines:
                continue
            try:
                score = aggregate_task(task, tasks[task], headlines[key], languages[key])
            except ValueError as e:
                notes.append(f"{system.source} {system.model} {system.intermediate} seed {system.seed}: {e}; left out")
                continue
            assert score.headline is not None
            values[task] = score.headline
            per_language.setdefault(system, {})[task] = {
                lang: sum(score.per_language[lang][m] for m in headlines[key]) / len(headlines[key])
                for lang in score.languages
                if lang != ALL_LANGUAGES
            }
        for name, benchmark in BENCHMARKS.items():
            values.update(_benchmark_measures(name, benchmark, system, tasks, headlines, languages))
        measures[system] = values
        order += [m for m in values if m not in order]
    task_names = sorted(m for m in order if ":" not in m)
    aggregates = [m for m in order if ":" in m]
    subsets = {
        (source, measure): flags
        for source in sorted({s.source for s in measures})
        for measure in order
        if (flags := subset_flags(measure, {t: langs for (src, t), langs in languages.items() if src == source}))
    }
    return Collected(measures, per_language, task_names + aggregates, notes, subsets)


def subset_flags(measure: str, languages: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """For each task behind ``measure`` scored on fewer than its benchmark's official languages
    (``languages``: task -> the languages compared), ``"udpos on 4 of 38 XTREME-R languages"``.

    A task's own headline is checked against XTREME-R's list when XTREME-R has the task, else
    XTREME's; a category or overall score against the lists of its own benchmark. Scores published
    as language averages (language ``all``) are taken as complete.
    """
    if is_aggregate(measure):
        name, part = measure.split(":", 1)
        benchmark: Benchmark | None = BENCHMARKS[name]
        members = benchmark.tasks if part == "overall" else benchmark.categories[part]
        tasks = [t for t in members if t in languages]
    else:
        benchmark = next((b for b in (XTREME_R, *BENCHMARKS.values()) if measure in b.languages), None)
        tasks = [measure] if measure in languages else []
    if benchmark is None:
        return ()
    label = benchmark.name.upper().replace("_", "-")
    flags = []
    for task in tasks:
        official, used = set(benchmark.languages.get(task, ())), set(languages[task])
        if official and ALL_LANGUAGES not in used and len(used & official) < len(official):
            flags.append(f"{task} on {len(used & official)} of {len(official)} {label} languages")
    return tuple(flags)


def _benchmark_measures(
    name: str,
    benchmark: Benchmark,
    system: System,
    tasks: Mapping[str, Mapping[str, Mapping[str, float]]],
    headlines: Mapping[tuple[str, str], tuple[str, ...]],
    languages: Mapping[tuple[str, str], list[str]],
) -> dict[str, float]:
    """The complete categories and overall score of ``benchmark`` for one system."""
    usable = [t for t in benchmark.tasks if t in tasks and (system.source, t) in headlines]
    if not usable:
        return {}
    definition = dataclasses.replace(
        benchmark,
        headline_metrics={
            t: headlines.get((system.source, t), benchmark.headline_metrics[t]) for t in benchmark.tasks
        },
    )
    try:
        score = aggregate(
            {t: tasks[t] for t in usable}, definition, {t: languages[(system.source, t)] for t in usable}
        )
    except ValueError:
        return {}  # a task's metrics are inconsistent; the task-level note already says which
    values = {measure_name(name, c): v for c, v in score.categories.items() if v is not None}
    if score.overall is not None:
        values[measure_name(name, "overall")] = score.overall
    return values


def open_store(db: str | Path) -> ResultsStore:
    """Open an existing results database for reading."""
    return ResultsStore(db, create=False)
