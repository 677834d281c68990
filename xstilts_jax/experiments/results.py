"""The results store: every score of every run in one SQLite file, and XTREME leaderboard submissions.

One row per (run, phase, task, language, split, metric) holds a value; a run row holds what the run
was (model and its size, intermediate task or ``"none"``, target, seed, gin operative config, git
commit) and where the numbers come from (``source``: ``"ours"``, or ``"published"`` for reference
numbers from papers, imported from CSV by ``import_csv``). Tasks are stored under the catalog's family name, which is the benchmark's task
name (``xnli.de`` is task ``xnli``, language ``de``). Every score records its split: XTREME's test
labels are hidden, so dev sets (``validation``) are scored; XQuAD only has ``test``.

Writers take SQLite's write lock up front (``BEGIN IMMEDIATE``) and commit each call as one
transaction, so re-recording a score replaces it atomically and writers in several processes queue
instead of failing; the database runs in WAL mode so readers never block a writer. Open one
``ResultsStore`` per process (a connection must not cross a fork).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import json
import math
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gin

from xstilts_jax.errors import XstiltsError
from xstilts_jax.evaluation.aggregation import BENCHMARKS, BenchmarkScore
from xstilts_jax.evaluation.aggregation import aggregate as aggregate_scores

SCHEMA_VERSION = 1
SOURCES = ("ours", "published")
NO_INTERMEDIATE = "none"
DEFAULT_SPLIT = "validation"
# Tasks scored on another split than DEFAULT_SPLIT: XQuAD has no dev set. (TyDiQA-GoldP's only
# labelled eval split is TFDS's "validation", which XTREME uses as its test set.)
SCORING_SPLITS: Mapping[str, str] = {"xquad": "test"}

_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        model TEXT NOT NULL,
        model_params INTEGER NOT NULL,
        intermediate TEXT NOT NULL,
        target TEXT NOT NULL,
        seed INTEGER,
        source TEXT NOT NULL CHECK (source IN ('ours', 'published')),
        gin_config TEXT NOT NULL,
        git_commit TEXT NOT NULL,
        created TEXT NOT NULL
    )""",
    """CREATE TABLE scores (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        phase TEXT NOT NULL,
        task TEXT NOT NULL,
        language TEXT NOT NULL,
        split TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        recorded TEXT NOT NULL,
        PRIMARY KEY (run_id, phase, task, language, split, metric)
    )""",
    "CREATE INDEX scores_by_task ON scores (task, language, metric)",
)


class ResultsError(XstiltsError):
    """The results database, a run in it, or a predictions/submission directory cannot be used as asked."""


@gin.configurable
def results_db(path: str = "runs/results.sqlite") -> str:
    """The results database path bound in gin (``results_db.path``)."""
    return path


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a run is. ``created`` (ISO 8601, UTC) is set when the run is first recorded."""

    run_id: str
    model: str
    model_params: int
    target: str
    intermediate: str = NO_INTERMEDIATE
    seed: int | None = None
    source: str = "ours"
    gin_config: str = ""
    git_commit: str = ""
    created: str | None = None


@dataclasses.dataclass(frozen=True)
class Row:
    """One stored score with its run's metadata (the CSV columns, in this order)."""

    run_id: str
    source: str
    model: str
    model_params: int
    intermediate: str
    target: str
    seed: int | None
    phase: str
    task: str
    language: str
    split: str
    metric: str
    value: float
    recorded: str
    git_commit: str
    created: str


CSV_COLUMNS = tuple(field.name for field in dataclasses.fields(Row))

# scores() filter name -> column of the joined query.
_FILTERS = {
    "run_id": "s.run_id",
    "phase": "s.phase",
    "task": "s.task",
    "language": "s.language",
    "split": "s.split",
    "metric": "s.metric",
    "source": "r.source",
    "model": "r.model",
    "intermediate": "r.intermediate",
    "target": "r.target",
}
_ROW_COLUMNS = {"source", "model", "model_params", "intermediate", "target", "seed", "git_commit", "created"}
_SELECT_ROWS = "SELECT {} FROM scores s JOIN runs r ON r.run_id = s.run_id".format(
    ", ".join(f"r.{name}" if name in _ROW_COLUMNS else f"s.{name}" for name in CSV_COLUMNS)
)
_RUN_COLUMNS = tuple(field.name for field in dataclasses.fields(RunInfo))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _require_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ResultsError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _checked_run(info: RunInfo) -> RunInfo:
    """``info`` validated, with ``created`` set to now if it has none."""
    for what in ("run_id", "model", "target", "intermediate"):
        _require_name(getattr(info, what), f"RunInfo.{what}")
    if info.source not in SOURCES:
        raise ResultsError(f"run {info.run_id!r}: source must be one of {SOURCES}, got {info.source!r}")
    if isinstance(info.model_params, bool) or not isinstance(info.model_params, int) or info.model_params <= 0:
        raise ResultsError(f"run {info.run_id!r}: model_params must be a positive int, got {info.model_params!r}")
    if info.seed is not None and (isinstance(info.seed, bool) or not isinstance(info.seed, int)):
        raise ResultsError(f"run {info.run_id!r}: seed must be an int or None, got {info.seed!r}")
    return dataclasses.replace(info, created=info.created or _now())


def _score_rows(
    run_id: str, phase: str, task: str, split: str, scores: Mapping[str, Mapping[str, float]], recorded: str
) -> list[tuple[Any, ...]]:
    """Validated ``scores`` table rows of one run, phase, task and split (see ``record_scores``)."""
    for value, what in ((run_id, "run_id"), (phase, "phase"), (task, "task"), (split, "split")):
        _require_name(value, what)
    family, dot, language = task.partition(".")
    _require_name(family, f"task {task!r}: the family name")
    if dot and set(scores) != {language}:
        raise ResultsError(
            f"task {task!r} names language {language!r} but the scores are for {sorted(scores)}; record "
            f"several languages under the family name {family!r}"
        )
    if not scores:
        raise ResultsError(f"run {run_id!r}, task {task!r}: no scores given")
    rows = []
    for lang, metrics in scores.items():
        _require_name(lang, f"task {task!r}: a language")
        if not metrics:
            raise ResultsError(f"run {run_id!r}, task {task!r}, language {lang!r}: no metrics given")
        for metric, value in metrics.items():
            _require_name(metric, f"task {task!r}, language {lang!r}: a metric name")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ResultsError(
                    f"run {run_id!r}, task {task!r}, language {lang!r}, metric {metric!r}: value {value!r} "
                    "is not a finite number"
                )
            rows.append((run_id, phase, family, lang, split, metric, float(value), recorded))
    return rows


def _upsert_run(conn: sqlite3.Connection, info: RunInfo) -> None:
    columns = ", ".join(_RUN_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _RUN_COLUMNS if c not in ("run_id", "created"))
    conn.execute(
        f"INSERT INTO runs ({columns}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))}) "
        f"ON CONFLICT (run_id) DO UPDATE SET {updates}",
        [getattr(info, c) for c in _RUN_COLUMNS],
    )


def _upsert_scores(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    conn.executemany(
        "INSERT INTO scores (run_id, phase, task, language, split, metric, value, recorded) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, phase, task, language, split, metric) "
        "DO UPDATE SET value = excluded.value, recorded = excluded.recorded",
        rows,
    )


# --- importing published reference scores --------------------------------------------------------
# One row per score. Lines starting with "#" are comments (say where the numbers come from there).
# Optional columns default to: source "published" (the only source an import accepts), seed empty
# (none), phase "eval", split the task's scoring split, git_commit empty, created now.
IMPORT_REQUIRED = ("run_id", "model", "model_params", "intermediate", "target", "task", "language", "metric", "value")
IMPORT_OPTIONAL = ("source", "seed", "phase", "split", "git_commit", "created")
IMPORT_COLUMNS = IMPORT_REQUIRED + IMPORT_OPTIONAL


def _int_field(text: str, where: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ResultsError(f"{where}: {what} {text!r} is not an integer") from None


def _read_import(path: Path) -> tuple[dict[str, RunInfo], list[tuple[Any, ...]]]:
    """The runs and score rows of an import CSV, every row validated."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = [(number, line) for number, line in enumerate(f, 1) if line.strip() and not line.startswith("#")]
    except (OSError, UnicodeDecodeError) as e:
        raise ResultsError(f"cannot read {path} as a UTF-8 CSV file: {e}") from e
    if not lines:
        raise ResultsError(f"{path} has no header and no rows; expected columns {list(IMPORT_REQUIRED)}")
    reader = csv.DictReader([line for _, line in lines])
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    missing = [c for c in IMPORT_REQUIRED if c not in header]
    if unknown or missing:
        raise ResultsError(
            f"{path}: the header must have columns {list(IMPORT_REQUIRED)} (optional: {list(IMPORT_OPTIONAL)}); "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and unknown else "")
            + (f"unknown {unknown}" if unknown else "")
        )
    runs: dict[str, RunInfo] = {}
    scores: list[tuple[Any, ...]] = []
    seen: dict[tuple[Any, ...], int] = {}
    recorded = _now()
    for (number, _), record in zip(lines[1:], reader):
        where = f"{path}:{number}"
        if None in record or any(v is None for v in record.values()):
            raise ResultsError(f"{where}: expected {len(header)} fields like the header")
        source = record.get("source") or "published"
        if source != "published":
            raise ResultsError(f"{where}: source {source!r}; an import adds published reference rows only")
        seed = record.get("seed") or ""
        info = RunInfo(
            run_id=record["run_id"],
            model=record["model"],
            model_params=_int_field(record["model_params"], where, "model_params"),
            target=record["target"],
            intermediate=record["intermediate"],
            seed=_int_field(seed, where, "seed") if seed else None,
            source="published",
            git_commit=record.get("git_commit") or "",
            created=record.get("created") or None,
        )
        try:
            info = _checked_run(info)
            earlier = runs.setdefault(info.run_id, info)
            if dataclasses.replace(earlier, created=None) != dataclasses.replace(info, created=None):
                raise ResultsError(f"run {info.run_id!r} has other model/target/intermediate/seed than on an earlier row")
            try:
                value = float(record["value"])
            except ValueError:
                raise ResultsError(f"value {record['value']!r} is not a number") from None
            task = record["task"]
            split = record.get("split") or SCORING_SPLITS.get(task, DEFAULT_SPLIT)
            phase = record.get("phase") or "eval"
            rows = _score_rows(info.run_id, phase, task, split, {record["language"]: {record["metric"]: value}}, recorded)
            key = rows[0][:6]
            if key in seen:
                raise ResultsError(f"repeats line {seen[key]}'s score (same run, phase, task, language, split, metric)")
            seen[key] = number
            scores += rows
        except ResultsError as e:
            raise ResultsError(f"{where}: {e}") from None
    if not scores:
        raise ResultsError(f"{path} has a header but no rows")
    return runs, scores


class ResultsStore:
    """A SQLite results database. ``path`` defaults to the gin-bound ``results_db()``.

    With ``create=False`` a missing file is an error instead of a new empty database (use it to read).
    ``timeout`` is how long a writer waits for another process's write lock.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, create: bool = True, timeout: float = 30.0):
        self.path = Path(results_db() if path is None else path)
        if not create and not self.path.is_file():
            raise ResultsError(
                f"results database {self.path} does not exist; check the path (runs create it when they record)"
            )
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: transactions are begun and committed explicitly (_write), never implicitly.
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise ResultsError(f"cannot open results database {self.path}: {e}") from e
        try:
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._enable_wal(timeout)
            self._check_schema(create)
        except sqlite3.Error as e:
            self._conn.close()
            raise ResultsError(f"{self.path} cannot be opened as a results database: {e}") from e
        except ResultsError:
            self._conn.close()
            raise

    def _enable_wal(self, timeout: float) -> None:
        # Switching a new database to WAL needs a moment alone with the file and answers "locked"
        # without waiting on SQLite's busy handler, so two processes opening a fresh database retry.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise ResultsError(f"{self.path}: cannot take the write lock ({e}); another writer held it too long") from e
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _tables(self) -> set[str]:
        return {name for (name,) in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _check_schema(self, create: bool) -> None:
        if "schema_version" not in self._tables():
            if not create:
                raise ResultsError(f"{self.path} is not a results database (it has no schema_version table)")
            with self._write() as conn:
                tables = self._tables()  # another process may have created the schema meanwhile
                if not tables:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
                elif "schema_version" not in tables:
                    raise ResultsError(f"{self.path} is an SQLite database of something else; choose another path")
        versions = [v for (v,) in self._conn.execute("SELECT version FROM schema_version")]
        if versions != [SCHEMA_VERSION]:
            raise ResultsError(
                f"{self.path} has results schema version {versions}; this code reads version {SCHEMA_VERSION}. "
                "Use the xstilts-jax version that wrote it, or record into a new database"
            )

    def record_run(self, info: RunInfo) -> None:
        """Insert or update a run's metadata (its first ``created`` time is kept)."""
        values = _checked_run(info)
        with self._write() as conn:
            _upsert_run(conn, values)

    def record_scores(
        self, run_id: str, phase: str, task: str, split: str, scores: Mapping[str, Mapping[str, float]]
    ) -> int:
        """Record ``language -> metric -> value`` for one task and split in one transaction; returns the row count.

        ``task`` is the family name (``xnli``) or one eval task (``xnli.de``, whose scores must then be
        for ``de`` only); it is stored as the family name. A score already recorded under the same
        (run, phase, task, language, split, metric) is replaced.
        """
        rows = _score_rows(run_id, phase, task, split, scores, _now())
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                raise ResultsError(f"run {run_id!r} is not recorded; call record_run(RunInfo(...)) first")
            _upsert_scores(conn, rows)
        return len(rows)

    def import_csv(self, path: str | os.PathLike[str]) -> tuple[int, int]:
        """Import published reference scores from CSV (format: ``IMPORT_COLUMNS``); returns (runs, scores).

        Every row becomes a score of a run with ``source = 'published'``; the whole file is validated
        first and written in one transaction, so it is imported completely or not at all. Importing a
        file again replaces its scores. A run id already recorded as one of our runs is refused.
        """
        runs, scores = _read_import(Path(path))
        with self._write() as conn:
            query = "SELECT run_id FROM runs WHERE run_id = ? AND source != 'published'"
            ours = [run_id for run_id in runs if conn.execute(query, (run_id,)).fetchone() is not None]
            if ours:
                raise ResultsError(
                    f"{path}: run ids {ours[:5]} are already recorded as our runs in {self.path}; "
                    "give published rows run ids of their own (e.g. prefixed with the paper)"
                )
            for info in runs.values():
                _upsert_run(conn, info)
            _upsert_scores(conn, scores)
        return len(runs), len(scores)

    def runs(self, source: str | None = None) -> list[RunInfo]:
        """Every recorded run (optionally of one source), ordered by run id."""
        query = f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs"
        params: tuple[str, ...] = ()
        if source is not None:
            query, params = query + " WHERE source = ?", (source,)
        return [RunInfo(*row) for row in self._conn.execute(query + " ORDER BY run_id", params)]

    def run(self, run_id: str) -> RunInfo:
        """One run's metadata; an unknown id is an error that lists the known runs."""
        row = self._conn.execute(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            known = [info.run_id for info in self.runs()]
            listing = ", ".join(known[:50]) + (f", ... ({len(known)} runs)" if len(known) > 50 else "")
            raise ResultsError(
                f"unknown run {run_id!r} in {self.path}; "
                + (f"known runs: {listing}" if known else "the database has no runs yet")
            )
        return RunInfo(*row)

    def scores(self, **filters: str) -> list[Row]:
        """Stored scores with their run metadata, ordered, filtered by exact match on any of run_id, phase,
        task (the family name), language, split, metric, source, model, intermediate and target."""
        unknown = sorted(set(filters) - set(_FILTERS))
        if unknown:
            raise ResultsError(f"unknown score filters {unknown}; filter by {sorted(_FILTERS)}")
        where = " AND ".join(f"{_FILTERS[name]} = ?" for name in filters)
        query = _SELECT_ROWS + (f" WHERE {where}" if where else "")
        query += " ORDER BY s.run_id, s.phase, s.task, s.language, s.split, s.metric"
        return [Row(*row) for row in self._conn.execute(query, tuple(filters.values()))]

    def to_csv(self, path: str | os.PathLike[str], **filters: str) -> int:
        """Write the (filtered) scores as CSV with the columns ``CSV_COLUMNS``; returns the row count."""
        rows = self.scores(**filters)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(dataclasses.astuple(row) for row in rows)
        return len(rows)

    def aggregate(
        self,
        run_id: str,
        benchmark: str = "xtreme_r",
        split: str | Mapping[str, str] | None = None,
        *,
        phase: str | None = None,
        expected_languages: Mapping[str, Sequence[str]] | None = None,
    ) -> BenchmarkScore:
        """XTREME / XTREME-R aggregate of one run's scores (``aggregation.aggregate``).

        ``split``: one split for every task, or benchmark task -> split; tasks not given use
        ``SCORING_SPLITS`` or ``DEFAULT_SPLIT``. ``phase`` must be given when a task has scores from
        several phases. ``expected_languages`` (task -> official languages) makes a task missing a
        language incomplete; without it every recorded language counts.
        """
        if benchmark not in BENCHMARKS:
            raise ResultsError(f"unknown benchmark {benchmark!r}; choose from {sorted(BENCHMARKS)}")
        definition = BENCHMARKS[benchmark]
        self.run(run_id)
        nested: dict[str, dict[str, dict[str, float]]] = {}
        phases: dict[str, set[str]] = {}
        for row in self.scores(run_id=run_id, **({"phase": phase} if phase else {})):
            if row.task not in definition.headline_metrics or row.split != _split_for(row.task, split):
                continue
            phases.setdefault(row.task, set()).add(row.phase)
            nested.setdefault(row.task, {}).setdefault(row.language, {})[row.metric] = row.value
        ambiguous = {task: sorted(found) for task, found in phases.items() if len(found) > 1}
        if ambiguous:
            raise ResultsError(f"run {run_id!r} has scores from several phases for {ambiguous}; pass phase=")
        try:
            return aggregate_scores(nested, definition, expected_languages)
        except ValueError as e:
            raise ResultsError(f"run {run_id!r}: {e}") from e

    def write_submission(
        self,
        run_id: str,
        directory: str | os.PathLike[str],
        predictions_dir: str | os.PathLike[str],
        *,
        split: str = "test",
        expected_languages: Mapping[str, Sequence[str]] | None = None,
        overwrite: bool = False,
    ) -> list[Path]:
        """Write a run's predictions as the XTREME / XTREME-R leaderboard folder ``<task>/test-<lang>.<ext>``.

        ``predictions_dir`` holds ``<task>.<lang>.json`` files, or ``<task>.<lang>.<split>.json`` as the
        evaluator writes them, of which only ``split`` is used (``SUBMISSION_FORMATS`` says what each
        task's file contains). Everything is validated before anything is written; the folder appears
        complete or not at all. An existing ``directory`` is only replaced with ``overwrite=True``, and
        only if it holds nothing but a submission. Returns the written files.
        """
        self.run(run_id)
        return write_submission(
            directory, predictions_dir, split=split, expected_languages=expected_languages, overwrite=overwrite
        )


def _split_for(task: str, split: str | Mapping[str, str] | None) -> str:
    if isinstance(split, str):
        return split
    default = SCORING_SPLITS.get(task, DEFAULT_SPLIT)
    return default if split is None else split.get(task, default)


# --- leaderboard submissions --------------------------------------------------------------------
# Formats from google-research/xtreme `evaluate.py` (its READER_FUNCTION per task and `get_suffix`) and
# `mock_test_data/predictions/`: one line per example for label tasks, one tag per line with a blank
# line between sentences for tagging, SQuAD-style {id: answer} JSON for QA, {mention id: ranked entity
# ids} JSON for Mewsli-X, JSON lines with a "label" for XCOPA, and "<src id>\t<trg id>" pairs for BUCC.


def _fail(where: str, message: str) -> ResultsError:
    return ResultsError(f"{where}: {message}")


def _example_list(predictions: Any, where: str) -> list[Any]:
    if not isinstance(predictions, list) or not predictions:
        raise _fail(where, "expected a non-empty JSON list of predictions, one per example in dataset order")
    return predictions


def _field(value: Any, where: str) -> str:
    # evaluate.py strips each line and splits BUCC lines on tabs, so a field must survive both.
    if not isinstance(value, str) or not value or value != value.strip() or any(c in value for c in "\t\n\r"):
        raise _fail(where, f"{value!r} is not a non-empty string without tabs, newlines or edge spaces")
    return value


def _labels(official: Mapping[Any, Any], line: Callable[[Any], str]) -> Callable[[Any, str], str]:
    """A writer for one label per example: ``official`` maps each accepted prediction to the official label."""

    def render(predictions: Any, where: str) -> str:
        lines = []
        for index, prediction in enumerate(_example_list(predictions, where)):
            hashable = isinstance(prediction, (str, int)) and not isinstance(prediction, bool)
            if not hashable or prediction not in official:
                raise _fail(where, f"example {index}: {prediction!r} is not one of {sorted(official, key=str)}")
            lines.append(line(official[prediction]) + "\n")
        return "".join(lines)

    return render


def _tatoeba(predictions: Any, where: str) -> str:
    lines = []
    for index, prediction in enumerate(_example_list(predictions, where)):
        if isinstance(prediction, bool) or not isinstance(prediction, int) or prediction < 0:
            raise _fail(where, f"example {index}: {prediction!r} is not the index of a retrieved target sentence")
        lines.append(f"{prediction}\n")
    return "".join(lines)


def _bucc(predictions: Any, where: str) -> str:
    lines = []
    for index, pair in enumerate(_example_list(predictions, where)):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _fail(where, f"item {index}: {pair!r} is not a [source id, target id] pair")
        lines.append("\t".join(_field(value, f"{where}, item {index}") for value in pair) + "\n")
    return "".join(lines)


def _tags(predictions: Any, where: str) -> str:
    sentences = []
    for index, tags in enumerate(_example_list(predictions, where)):
        # A blank line separates sentences, so an empty sentence cannot be written.
        if not isinstance(tags, list) or not tags:
            raise _fail(where, f"sentence {index}: {tags!r} is not a non-empty list of tags")
        sentences.append("".join(_field(tag, f"{where}, sentence {index}") + "\n" for tag in tags))
    return "\n".join(sentences)


def _id_map(check_value: Callable[[Any, str], Any]) -> Callable[[Any, str], str]:
    def render(predictions: Any, where: str) -> str:
        if not isinstance(predictions, dict) or not predictions:
            raise _fail(where, "expected a non-empty JSON object keyed by example id (a list has no ids)")
        for key, value in predictions.items():
            _field(key, f"{where}, an id")
            check_value(value, f"{where}, id {key!r}")
        return json.dumps(predictions, ensure_ascii=False) + "\n"

    return render


def _answer(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _fail(where, f"{value!r} is not an answer string")


def _ranking(value: Any, where: str) -> None:
    if not isinstance(value, list) or not value:
        raise _fail(where, f"{value!r} is not a non-empty list of entity ids, best first")
    for entity in value:
        _field(entity, where)


@dataclasses.dataclass(frozen=True)
class SubmissionFormat:
    """How one task's predictions file becomes its leaderboard file ``test-<lang>.<extension>``."""

    extension: str
    predictions: str  # what ``<task>.<lang>.json`` must contain
    render: Callable[[Any, str], str]


_QA_FORMAT = SubmissionFormat("json", "a JSON object {question id: answer text}", _id_map(_answer))
_NLI = ("entailment", "neutral", "contradiction")
SUBMISSION_FORMATS: Mapping[str, SubmissionFormat] = {
    "xnli": SubmissionFormat("tsv", f"a JSON list of labels from {list(_NLI)}", _labels({x: x for x in _NLI}, str)),
    # PAWS-X label 1 means paraphrase; the catalog's label names are accepted as well as 0/1.
    "pawsx": SubmissionFormat(
        "tsv",
        'a JSON list of 0/1 (or "different_meaning"/"paraphrase")',
        _labels({0: "0", 1: "1", "0": "0", "1": "1", "different_meaning": "0", "paraphrase": "1"}, str),
    ),
    "xcopa": SubmissionFormat(
        "jsonl",
        "a JSON list of chosen alternatives, 0 or 1",
        _labels({0: 0, 1: 1, "0": 0, "1": 1}, lambda label: json.dumps({"label": label})),
    ),
    "udpos": SubmissionFormat("tsv", "a JSON list of sentences, each a list of tags", _tags),
    "panx": SubmissionFormat("tsv", "a JSON list of sentences, each a list of tags", _tags),
    "xquad": _QA_FORMAT,
    "mlqa": _QA_FORMAT,
    "tydiqa": _QA_FORMAT,
    "bucc2018": SubmissionFormat("tsv", "a JSON list of [source id, target id] pairs", _bucc),
    "tatoeba": SubmissionFormat("tsv", "a JSON list of retrieved target indices", _tatoeba),
    "mewslix": SubmissionFormat(
        "json", "a JSON object {mention id: [entity ids, best first]}", _id_map(_ranking)
    ),
}
_UNCONFIRMED_FORMATS = {
    "lareqa": "google-research/xtreme's evaluate.py has no LAReQA reader and lists no LAReQA languages, "
    "so its leaderboard file format is not known",
}


def _prediction_files(predictions_dir: Path, split: str) -> dict[tuple[str, str], Path]:
    """(task, language) -> its predictions file: ``<task>.<lang>.json``, or ``<task>.<lang>.<split>.json``
    as the evaluator names them (files of other splits are left out)."""
    if not predictions_dir.is_dir():
        raise ResultsError(f"predictions directory {predictions_dir} does not exist")
    chosen: dict[tuple[str, str], Path] = {}
    other_splits: set[str] = set()
    for file in sorted(predictions_dir.glob("*.json")):
        parts = file.name.split(".")[:-1]
        if len(parts) not in (2, 3) or not all(parts):
            raise ResultsError(
                f"{file}: prediction files are named <task>.<lang>.json or <task>.<lang>.<split>.json, "
                "e.g. xnli.de.json or xnli.de.test.json"
            )
        if len(parts) == 3 and parts[2] != split:
            other_splits.add(parts[2])
            continue
        key = (parts[0], parts[1])
        if key in chosen:
            raise ResultsError(f"{chosen[key]} and {file} both hold {key[0]}.{key[1]} predictions; keep one")
        chosen[key] = file
    if not chosen:
        found = f" (found splits {sorted(other_splits)}; the leaderboard scores test-set predictions)"
        raise ResultsError(f"{predictions_dir} has no {split!r} prediction files" + (found if other_splits else ""))
    return chosen


def _read_predictions(predictions_dir: Path, split: str) -> dict[str, dict[str, str]]:
    """task -> language -> rendered leaderboard file text, every file validated."""
    rendered: dict[str, dict[str, str]] = {}
    for (task, language), file in _prediction_files(predictions_dir, split).items():
        if task in _UNCONFIRMED_FORMATS:
            raise ResultsError(f"{file}: cannot write a {task} submission: {_UNCONFIRMED_FORMATS[task]}")
        if task not in SUBMISSION_FORMATS:
            raise ResultsError(
                f"{file}: {task!r} is not a leaderboard task; the submission tasks are {sorted(SUBMISSION_FORMATS)} "
                "(keep other predictions out of the predictions directory)"
            )
        try:
            predictions = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ResultsError(f"{file}: not valid UTF-8 JSON ({e})") from e
        fmt = SUBMISSION_FORMATS[task]
        try:
            rendered.setdefault(task, {})[language] = fmt.render(predictions, str(file))
        except ResultsError as e:
            raise ResultsError(f"{e}. {task} predictions files hold {fmt.predictions}") from e
    return rendered


def _check_replaceable(directory: Path) -> None:
    for entry in directory.iterdir():
        files = list(entry.iterdir()) if entry.is_dir() and entry.name in SUBMISSION_FORMATS else None
        if files is None or any(not f.is_file() or not f.name.startswith("test-") for f in files):
            raise ResultsError(
                f"will not replace {directory}: {entry} is not part of a leaderboard submission; remove it yourself"
            )


def write_submission(
    directory: str | os.PathLike[str],
    predictions_dir: str | os.PathLike[str],
    *,
    split: str = "test",
    expected_languages: Mapping[str, Sequence[str]] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write predictions files as the leaderboard folder (see ``ResultsStore.write_submission``)."""
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise ResultsError(f"submission directory {directory} already exists; pass overwrite=True (--overwrite)")
    if directory.exists() and not directory.is_dir():
        raise ResultsError(f"submission path {directory} is a file, not a directory")
    rendered = _read_predictions(Path(predictions_dir), split)
    if expected_languages is not None:
        for task, languages in rendered.items():
            if task not in expected_languages:
                raise ResultsError(f"expected_languages has no entry for task {task!r}; give its official languages")
            missing = [lang for lang in expected_languages[task] if lang not in languages]
            if missing:
                raise ResultsError(
                    f"{task}: no predictions for languages {missing}; expected a {task}.<lang> predictions file "
                    f"for each in {predictions_dir}"
                )
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for task, languages in rendered.items():
            (staging / task).mkdir()
            for language, text in languages.items():
                (staging / task / f"test-{language}.{SUBMISSION_FORMATS[task].extension}").write_text(
                    text, encoding="utf-8"
                )
        if directory.exists():
            _check_replaceable(directory)
            shutil.rmtree(directory)
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(directory.glob("*/test-*"))
