"""XTREME and XTREME-R score aggregation, as google-research/xtreme ``evaluate.py:evaluate`` does it.

The official scorer averages each metric over a task's languages (``avg_<metric>``), takes a headline
per task (``avg_metric``: (EM + F1) / 2 for QA, else F1, else accuracy), averages headlines over the
tasks of each group (``GROUP2TASK``) and over all tasks (``all_task``), and only reports a group or the
overall score when every task in it was scored. This module does the same, for both benchmark
definitions, and never averages over fewer items than the definition asks for: a task missing a
language, a category missing a task, or an incomplete benchmark gets ``None`` and says what is missing.

Input is ``task -> language -> metric -> value`` with the benchmark's canonical task names. Which
languages count per task is catalog data, passed in as ``expected_languages``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

Scores = Mapping[str, Mapping[str, Mapping[str, float]]]

_QA = ("exact_match", "f1")


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A benchmark definition: tasks grouped into categories, and the metrics forming each task's headline.

    A task's headline is the plain mean of the language means of its ``headline_metrics``.
    """

    name: str
    categories: Mapping[str, tuple[str, ...]]
    headline_metrics: Mapping[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        tasks = [task for category_tasks in self.categories.values() for task in category_tasks]
        if len(tasks) != len(set(tasks)):
            raise ValueError(f"benchmark {self.name!r}: a task appears in more than one category")
        if set(tasks) != set(self.headline_metrics):
            raise ValueError(
                f"benchmark {self.name!r}: categories list tasks {sorted(tasks)} but headline metrics are "
                f"defined for {sorted(self.headline_metrics)}; define both for the same tasks"
            )
        if any(not metrics for metrics in self.headline_metrics.values()):
            raise ValueError(f"benchmark {self.name!r}: every task needs at least one headline metric")

    @property
    def tasks(self) -> tuple[str, ...]:
        """All tasks, in category order."""
        return tuple(task for category_tasks in self.categories.values() for task in category_tasks)


# evaluate.py: GROUP2TASK, and the avg_metric rule. evaluate.py names the second group "tagging";
# the XTREME paper calls it structured prediction, which is also XTREME-R's name.
XTREME = Benchmark(
    name="xtreme",
    categories={
        "classification": ("pawsx", "xnli"),
        "structured_prediction": ("udpos", "panx"),
        "question_answering": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("bucc2018", "tatoeba"),
    },
    headline_metrics={
        "pawsx": ("accuracy",),
        "xnli": ("accuracy",),
        "udpos": ("f1",),
        "panx": ("f1",),
        "xquad": _QA,
        "mlqa": _QA,
        "tydiqa": _QA,
        "bucc2018": ("f1",),
        "tatoeba": ("accuracy",),
    },
)

# XTREME-R (Ruder et al. 2021, Table 1): PAWS-X and BUCC dropped; XCOPA, Mewsli-X and LAReQA added.
# google-research/xtreme has no XTREME-R aggregation code, so the QA headline keeps evaluate.py's
# (EM + F1) / 2; LAReQA is scored by mAP@20 and Mewsli-X by MRR@20 (utils_mewslix.py:evaluate, which
# labels its column "MRR/MAP@20": with one gold entity per mention the two coincide).
XTREME_R = Benchmark(
    name="xtreme_r",
    categories={
        "classification": ("xnli", "xcopa"),
        "structured_prediction": ("udpos", "panx"),
        "question_answering": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("mewslix", "lareqa", "tatoeba"),
    },
    headline_metrics={
        "xnli": ("accuracy",),
        "xcopa": ("accuracy",),
        "udpos": ("f1",),
        "panx": ("f1",),
        "xquad": _QA,
        "mlqa": _QA,
        "tydiqa": _QA,
        "mewslix": ("mrr_at_20",),
        "lareqa": ("map_at_20",),
        "tatoeba": ("accuracy",),
    },
)

BENCHMARKS: Mapping[str, Benchmark] = {XTREME.name: XTREME, XTREME_R.name: XTREME_R}


@dataclasses.dataclass(frozen=True)
class TaskScore:
    """One task's per-language scores and their means.

    ``metric_means`` and ``headline`` are ``None`` when an expected language is missing.
    """

    task: str
    languages: tuple[str, ...]
    per_language: Mapping[str, Mapping[str, float]]
    metric_means: Mapping[str, float] | None
    headline: float | None
    missing_languages: tuple[str, ...]
    ignored_languages: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Whether every expected language was scored."""
        return not self.missing_languages


@dataclasses.dataclass(frozen=True)
class BenchmarkScore:
    """A benchmark's aggregate: per-task scores, category means and the overall mean over tasks.

    A category (or the overall score) is ``None`` when one of its tasks is missing or incomplete;
    ``missing_tasks`` and ``incomplete_tasks`` (and each task's ``missing_languages``) say why.
    """

    benchmark: str
    tasks: Mapping[str, TaskScore]
    categories: Mapping[str, float | None]
    overall: float | None
    missing_tasks: tuple[str, ...]
    incomplete_tasks: tuple[str, ...]
    ignored_tasks: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Whether every task of the benchmark was scored in every expected language."""
        return self.overall is not None


def _mean(values: Sequence[float]) -> float:
    # sum()/len() in the given order, exactly as evaluate.py computes its averages.
    return sum(values) / len(values)


def aggregate_task(
    task: str,
    per_language: Mapping[str, Mapping[str, float]],
    headline_metrics: Sequence[str],
    expected_languages: Sequence[str] | None = None,
) -> TaskScore:
    """Average every metric over a task's languages and form its headline from ``headline_metrics``.

    With ``expected_languages`` the means run over exactly those languages, in that order (others are
    listed in ``ignored_languages``, as evaluate.py only reads its TASK2LANGS files); if any is missing,
    the means and headline are ``None``. Without it, every given language counts.
    """
    if not per_language:
        raise ValueError(f"task {task!r} has no per-language scores")
    if expected_languages is None:
        languages = tuple(per_language)
        missing: tuple[str, ...] = ()
        ignored: tuple[str, ...] = ()
    else:
        if not expected_languages:
            raise ValueError(f"task {task!r}: the expected language list is empty; give its official languages")
        languages = tuple(lang for lang in expected_languages if lang in per_language)
        missing = tuple(lang for lang in expected_languages if lang not in per_language)
        ignored = tuple(lang for lang in per_language if lang not in expected_languages)
    used = {lang: {metric: float(value) for metric, value in per_language[lang].items()} for lang in languages}

    metric_names = list(dict.fromkeys(metric for lang in languages for metric in used[lang]))
    for lang in languages:
        absent = [metric for metric in metric_names if metric not in used[lang]]
        if absent:
            raise ValueError(
                f"task {task!r}, language {lang!r} lacks metrics {absent} that other languages have; "
                "score every language with the same metric function"
            )
    if languages and any(metric not in metric_names for metric in headline_metrics):
        raise ValueError(
            f"task {task!r} has metrics {metric_names} but its headline needs {list(headline_metrics)}; "
            "check the task's metric function or the benchmark's headline definition"
        )
    if missing:
        return TaskScore(task, languages, used, None, None, missing, ignored)

    metric_means = {metric: _mean([used[lang][metric] for lang in languages]) for metric in metric_names}
    headline = _mean([metric_means[metric] for metric in headline_metrics])
    return TaskScore(task, languages, used, metric_means, headline, missing, ignored)


def aggregate(
    scores: Scores,
    benchmark: Benchmark,
    expected_languages: Mapping[str, Sequence[str]] | None = None,
) -> BenchmarkScore:
    """Aggregate ``task -> language -> metric -> value`` scores under one benchmark definition.

    ``expected_languages`` (task -> official language list) must cover every benchmark task that has
    scores; tasks outside the benchmark are listed in ``ignored_tasks``. A task with no languages
    counts as missing.
    """
    tasks: dict[str, TaskScore] = {}
    for task in benchmark.tasks:
        if not scores.get(task):
            continue
        expected = None
        if expected_languages is not None:
            if task not in expected_languages:
                raise ValueError(
                    f"expected_languages has no entry for task {task!r}; give its official language list "
                    "or leave expected_languages out"
                )
            expected = expected_languages[task]
        tasks[task] = aggregate_task(task, scores[task], benchmark.headline_metrics[task], expected)

    missing_tasks = tuple(task for task in benchmark.tasks if task not in tasks)
    incomplete_tasks = tuple(task for task, score in tasks.items() if score.headline is None)

    def headline_mean(category_tasks: Sequence[str]) -> float | None:
        headlines = [tasks[task].headline for task in category_tasks if task in tasks]
        present = [headline for headline in headlines if headline is not None]
        return _mean(present) if len(present) == len(category_tasks) else None

    categories = {name: headline_mean(category_tasks) for name, category_tasks in benchmark.categories.items()}
    return BenchmarkScore(
        benchmark=benchmark.name,
        tasks=tasks,
        categories=categories,
        overall=headline_mean(benchmark.tasks),
        missing_tasks=missing_tasks,
        incomplete_tasks=incomplete_tasks,
        ignored_tasks=tuple(task for task in scores if task not in benchmark.headline_metrics),
    )
