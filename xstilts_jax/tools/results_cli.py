"""`xstilts-jax results`: list the runs of a results database, export scores as CSV, print a run's
XTREME / XTREME-R aggregate, write a run's leaderboard submission from its predictions, or import
published reference scores from CSV."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Mapping, Sequence

from xstilts_jax.evaluation.aggregation import BENCHMARKS, BenchmarkScore
from xstilts_jax.experiments.results.records import DEFAULT_SPLIT, ResultsError
from xstilts_jax.experiments.results.store import ResultsStore, results_db
from xstilts_jax.experiments.results.submission import lacking_lines


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def runs_table(store: ResultsStore) -> str:
    """One line per run: id, source, model and size, intermediate task, target, seed, number of scores."""
    runs = store.runs()
    if not runs:
        return f"{store.path}: no runs"
    counts: dict[str, int] = {}
    for row in store.scores():
        counts[row.run_id] = counts.get(row.run_id, 0) + 1
    width = max(len("run"), *(len(info.run_id) for info in runs))
    lines = [f"{'run':<{width}}  source     model            params  intermediate  target    seed  scores"]
    for info in runs:
        seed = "-" if info.seed is None else str(info.seed)
        lines.append(
            f"{info.run_id:<{width}}  {info.source:<9}  {info.model:<14} {info.model_params / 1e6:>7.0f}M  "
            f"{info.intermediate:<12}  {info.target:<8}  {seed:>4}  {counts.get(info.run_id, 0):>6}"
        )
    return "\n".join(lines)


def aggregate_table(run_id: str, score: BenchmarkScore, languages_given: bool) -> str:
    """A run's benchmark aggregate: per-task headlines, category means, the overall score and what is missing."""
    lines = [f"run {run_id}, {score.benchmark}"]
    if not languages_given:
        lines.append(
            f"(means over {score.benchmark}'s official languages per task, as evaluate.py; "
            "--expected_languages FILE.json overrides them)"
        )
    for task, task_score in score.tasks.items():
        languages = len(task_score.languages)
        expected = languages + len(task_score.missing_languages)
        lines.append(f"  {task:<12} {_number(task_score.headline):>7}   ({languages}/{expected} languages)")
        if task_score.missing_languages:
            lines.append(f"  {'':<12} missing languages: {', '.join(task_score.missing_languages)}")
    for category, value in score.categories.items():
        lines.append(f"  {category:<24} {_number(value):>7}")
    lines.append(f"  {'overall':<24} {_number(score.overall):>7}")
    if score.missing_tasks:
        lines.append(f"missing tasks: {', '.join(score.missing_tasks)}")
    if score.incomplete_tasks:
        lines.append(f"incomplete tasks: {', '.join(score.incomplete_tasks)}")
    return "\n".join(lines)


def _expected_languages(path: str | None) -> Mapping[str, Sequence[str]] | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ResultsError(f"--expected_languages={path}: cannot read it as JSON ({e})") from e
    valid = isinstance(data, dict) and all(
        isinstance(langs, list) and all(isinstance(lang, str) for lang in langs) for langs in data.values()
    )
    if not valid:
        raise ResultsError(f"--expected_languages={path}: expected a JSON object {{task: [languages]}}")
    return data


def main(argv: Sequence[str]) -> int:
    """Open an existing results database and do what the flags ask; with no action, list its runs."""
    parser = argparse.ArgumentParser(prog="xstilts-jax results", description=__doc__)
    parser.add_argument("--db", help=f"results database (default: {results_db()})")
    parser.add_argument("--run", help="run id (required by --aggregate and --submission; filters --csv)")
    parser.add_argument("--csv", metavar="OUT.csv", help="write the scores (of --run, if given) as CSV")
    parser.add_argument("--aggregate", action="store_true", help="print the run's benchmark aggregate")
    parser.add_argument("--benchmark", choices=sorted(BENCHMARKS), default="xtreme_r")
    parser.add_argument(
        "--split",
        help="split scored for every task (default: each target's scoring split, e.g. XQuAD's test; "
        f"{DEFAULT_SPLIT} for tasks the catalog does not register)",
    )
    parser.add_argument("--phase", help="phase whose scores to aggregate (needed when there are several)")
    parser.add_argument(
        "--expected_languages", metavar="FILE.json", help="JSON {task: [languages]} replacing the benchmark's official languages of those tasks",
    )
    parser.add_argument("--submission", metavar="DIR", help="write the leaderboard folder of --run here")
    parser.add_argument("--predictions_dir", help="the run's <task>.<lang>[.<split>].json predictions (--submission)")
    parser.add_argument("--predictions_split", default="test", help="split of the predictions to submit")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --submission folder")
    parser.add_argument(
        "--import", dest="import_csv", metavar="PUBLISHED.csv",
        help="import published reference scores (source 'published'; format: xstilts_jax/analysis/published/README.md)",
    )
    args = parser.parse_args(argv)
    if (args.aggregate or args.submission) and not args.run:
        parser.error("--aggregate and --submission need --run RUN")
    if args.submission and not args.predictions_dir:
        parser.error("--submission needs --predictions_dir DIR")

    importlib.import_module("tasks")  # the catalog's task and target records the store reads
    expected = _expected_languages(args.expected_languages)
    # An import may start a new database (reference rows first, our runs later); everything else reads one.
    with ResultsStore(args.db or results_db(), create=args.import_csv is not None) as store:
        if args.import_csv:
            runs, scores = store.import_csv(args.import_csv)
            print(f"imported {scores} published scores of {runs} runs from {args.import_csv} into {store.path}")
        if args.run:
            store.run(args.run)
        if args.csv:
            count = store.to_csv(args.csv, **({"run_id": args.run} if args.run else {}))
            print(f"wrote {count} scores to {args.csv}")
        if args.aggregate:
            score = store.aggregate(
                args.run, args.benchmark, args.split, phase=args.phase, expected_languages=expected
            )
            print(aggregate_table(args.run, score, languages_given=expected is not None))
        if args.submission:
            files = store.write_submission(
                args.run,
                args.submission,
                args.predictions_dir,
                split=args.predictions_split,
                expected_languages=expected,
                overwrite=args.overwrite,
            )
            tasks = sorted({file.parent.name for file in files})
            print(f"wrote {len(files)} files for {', '.join(tasks)} to {args.submission}")
            gaps = lacking_lines(files, BENCHMARKS[args.benchmark])
            if gaps:
                print(f"partial {args.benchmark} submission (evaluate.py reports no overall score); it lacks:")
                print("\n".join(gaps))
        if not (args.csv or args.aggregate or args.submission or args.import_csv):
            print(runs_table(store))
    return 0
