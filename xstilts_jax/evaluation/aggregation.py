"""XTREME and XTREME-R score aggregation, as google-research/xtreme ``evaluate.py:evaluate`` does it.

The official scorer averages each metric over a task's languages (``avg_<metric>``), takes a headline
per task (``avg_metric``: (EM + F1) / 2 for QA, else F1, else accuracy), averages headlines over the
tasks of each group (``GROUP2TASK``) and over all tasks (``all_task``), and only reports a group or the
overall score when every task in it was scored. This module does the same, for both benchmark
definitions, and never averages over fewer items than the definition asks for: a task missing a
language, a category missing a task, or an incomplete benchmark gets ``None`` and says what is missing.

Input is ``task -> language -> metric -> value`` with the benchmark's canonical task names. Which
languages count per task is, by default, the benchmark version's own official list (evaluate.py's
``XTREME_TASK2LANGS`` / ``XTREME_R_TASK2LANGS``); ``expected_languages`` overrides it per task.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

Scores = Mapping[str, Mapping[str, Mapping[str, float]]]

_QA = ("exact_match", "f1")


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A benchmark definition: its tasks and headline metrics, its groups, and its official languages.

    A task's headline is the plain mean of the language means of its ``headline_metrics``; the overall
    score is the mean of all tasks' headlines. ``categories`` may share tasks (evaluate.py's XTREME-R
    ``multi_choice`` repeats XCOPA) and need not cover every task. ``languages`` are the default
    languages per task; ``pooled`` maps a task to a per-language count metric, and that task's means
    are weighted by it (all questions pooled) instead of averaged over languages.
    """

    name: str
    categories: Mapping[str, tuple[str, ...]]
    headline_metrics: Mapping[str, tuple[str, ...]]
    languages: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    pooled: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        grouped = {task for category_tasks in self.categories.values() for task in category_tasks}
        if not grouped <= set(self.headline_metrics):
            raise ValueError(
                f"benchmark {self.name!r}: categories list tasks {sorted(grouped - set(self.headline_metrics))} "
                "that have no headline metrics; define headline metrics for every grouped task"
            )
        if any(not metrics for metrics in self.headline_metrics.values()):
            raise ValueError(f"benchmark {self.name!r}: every task needs at least one headline metric")

    @property
    def tasks(self) -> tuple[str, ...]:
        """All tasks, in headline-metric order."""
        return tuple(self.headline_metrics)


def _langs(text: str) -> tuple[str, ...]:
    return tuple(text.split(","))


# evaluate.py: XTREME_GROUP2TASK (group names as there), XTREME_TASK2LANGS, and the avg_metric rule.
XTREME = Benchmark(
    name="xtreme",
    categories={
        "classification": ("pawsx", "xnli"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
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
    languages={
        "pawsx": _langs("de,en,es,fr,ja,ko,zh"),
        "xnli": _langs("ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh"),
        "udpos": _langs(
            "af,ar,bg,de,el,en,es,et,eu,fa,fi,fr,he,hi,hu,id,it,ja,kk,ko,mr,nl,pt,ru,ta,te,th,tl,tr,ur,vi,yo,zh"
        ),
        "panx": _langs(
            "ar,he,vi,id,jv,ms,tl,eu,ml,ta,te,af,nl,en,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,yo,"
            "my,zh,kk,tr,et,fi,hu"
        ),
        "xquad": _langs("en,es,de,el,ru,tr,ar,vi,th,zh,hi"),
        "mlqa": _langs("en,es,de,ar,hi,vi,zh"),
        "tydiqa": _langs("en,ar,bn,fi,id,ko,ru,sw,te"),
        "bucc2018": _langs("de,fr,ru,zh"),
        "tatoeba": _langs(
            "ar,he,vi,id,jv,tl,eu,ml,ta,te,af,nl,de,el,bn,hi,mr,ur,fa,fr,it,pt,es,bg,ru,ja,ka,ko,th,sw,zh,kk,tr,"
            "et,fi,hu"
        ),
    },
)

# evaluate.py: XTREME_R_GROUP2TASK, with its `multi_choice` group (XCOPA, also under classification),
# and XTREME_R_TASK2LANGS. evaluate.py's retrieval group leaves LAReQA out (and lists no LAReQA
# languages), while XTREME-R (Ruder et al. 2021, Table 1) counts it as retrieval: `retrieval_paper`
# is that group. The overall score, like evaluate.py's `all_task`, averages all ten tasks. LAReQA is
# scored by mAP@20 over all XQuAD-R questions pooled (utils_lareqa.mean_avg_prec_at_k), Mewsli-X by
# MRR@20 (utils_mewslix.py:evaluate; evaluate.py calls it map@20).
XTREME_R = Benchmark(
    name="xtreme_r",
    categories={
        "classification": ("xnli", "xcopa"),
        "tagging": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("tatoeba", "mewslix"),
        "multi_choice": ("xcopa",),
        "retrieval_paper": ("tatoeba", "mewslix", "lareqa"),
    },
    headline_metrics={
        "xnli": ("accuracy",),
        "xcopa": ("accuracy",),
        "udpos": ("f1",),
        "panx": ("f1",),
        "xquad": _QA,
        "mlqa": _QA,
        "tydiqa": _QA,
        "tatoeba": ("accuracy",),
        "mewslix": ("mrr_at_20",),
        "lareqa": ("map_at_20",),
    },
    languages={
        "xnli": XTREME.languages["xnli"],
        "xcopa": _langs("et,ht,id,it,qu,sw,ta,th,tr,vi,zh"),
        "udpos": XTREME.languages["udpos"] + _langs("lt,pl,uk,wo,ro"),
        "panx": XTREME.languages["panx"] + _langs("qu,pl,uk,az,lt,pa,gu,ro"),
        "xquad": XTREME.languages["xquad"] + ("ro",),
        "mlqa": XTREME.languages["mlqa"],
        "tydiqa": XTREME.languages["tydiqa"],
        "tatoeba": XTREME.languages["tatoeba"] + _langs("az,lt,pl,uk,ro"),
        "mewslix": _langs("ar,de,en,es,fa,ja,pl,ro,ta,tr,uk"),
        "lareqa": _langs("ar,de,el,en,es,hi,ru,th,tr,vi,zh"),  # XQuAD-R's languages
    },
    pooled={"lareqa": "queries"},
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
    weight_metric: str | None = None,
) -> TaskScore:
    """Average every metric over a task's languages and form its headline from ``headline_metrics``.

    With ``expected_languages`` the means run over exactly those languages, in that order (others are
    listed in ``ignored_languages``, as evaluate.py only reads its TASK2LANGS files); if any is missing,
    the means and headline are ``None``. Without it, every given language counts. With ``weight_metric``
    (a per-language count, e.g. ``queries``) every other metric's mean is weighted by it, which pools
    the items of all languages, and the count itself is summed.
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

    if weight_metric is None or (len(languages) == 1 and weight_metric not in metric_names):
        # One language (e.g. a published "all" row) is its own pooled mean: no count needed.
        metric_means = {metric: _mean([used[lang][metric] for lang in languages]) for metric in metric_names}
    else:
        if weight_metric not in metric_names:
            raise ValueError(
                f"task {task!r} pools its languages by {weight_metric!r}, which its scores lack; "
                "rescore the task with the current metric function (it reports the count)"
            )
        weights = [used[lang][weight_metric] for lang in languages]
        metric_means = {
            metric: sum(w * used[lang][metric] for w, lang in zip(weights, languages)) / sum(weights)
            for metric in metric_names
            if metric != weight_metric
        }
        metric_means[weight_metric] = sum(weights)
    headline = _mean([metric_means[metric] for metric in headline_metrics])
    return TaskScore(task, languages, used, metric_means, headline, missing, ignored)


def aggregate(
    scores: Scores,
    benchmark: Benchmark,
    expected_languages: Mapping[str, Sequence[str]] | None = None,
) -> BenchmarkScore:
    """Aggregate ``task -> language -> metric -> value`` scores under one benchmark definition.

    Each task's languages are ``expected_languages[task]`` when given, else the benchmark's official
    list; tasks outside the benchmark are listed in ``ignored_tasks``. A task with no languages
    counts as missing.
    """
    tasks: dict[str, TaskScore] = {}
    for task in benchmark.tasks:
        if not scores.get(task):
            continue
        expected = (expected_languages or {}).get(task, benchmark.languages.get(task))
        tasks[task] = aggregate_task(
            task, scores[task], benchmark.headline_metrics[task], expected, benchmark.pooled.get(task)
        )

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
