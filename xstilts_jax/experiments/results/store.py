"""The SQLite results store: every score of every run in one file.

Writers take SQLite's write lock up front (``BEGIN IMMEDIATE``) and commit each call as one
transaction, so re-recording a score replaces it atomically and writers in several processes queue
instead of failing; the database runs in WAL mode so readers never block a writer. Open one
``ResultsStore`` per process (a connection must not cross a fork).

A database on a bucket (``gs://...``) is staged (``staging.py``): a writer holds ``<db>.LOCK`` from
opening to ``close()``, which uploads the database whole; a reader (``create=False``) reads a copy.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import gin

from xstilts_jax.evaluation.aggregation import BENCHMARKS, BenchmarkScore
from xstilts_jax.evaluation.aggregation import aggregate as aggregate_scores
from xstilts_jax.experiments.results.csv_import import read_import
from xstilts_jax.experiments.results.records import (
    CSV_COLUMNS,
    LEGACY_BASELINE,
    ResultsError,
    Row,
    RunInfo,
    checked_run,
    now,
    score_rows,
    scorer,
    scoring_split,
)
from xstilts_jax.experiments.targets import BASELINE
from xstilts_jax.experiments.results.staging import StagedDatabase
from xstilts_jax.experiments.results.submission import write_submission
from xstilts_jax.storage import is_remote

SCHEMA_VERSION = 2
# Version 2 added scores.scorer; a version-1 database is migrated when opened (its rows get "").
_MIGRATIONS = {1: ("ALTER TABLE scores ADD COLUMN scorer TEXT NOT NULL DEFAULT ''",)}

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
        scorer TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (run_id, phase, task, language, split, metric)
    )""",
    "CREATE INDEX scores_by_task ON scores (task, language, metric)",
)


@gin.configurable
def results_db(path: str = "runs/results.sqlite") -> str:
    """The results database path bound in gin (``results_db.path``)."""
    return path


# A run's intermediate as read: databases written before the baseline's name was unified store
# LEGACY_BASELINE, read as BASELINE (new rows are written as BASELINE, see records.checked_run).
_INTERMEDIATE = f"CASE r.intermediate WHEN '{LEGACY_BASELINE}' THEN '{BASELINE}' ELSE r.intermediate END"
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
    "intermediate": _INTERMEDIATE,
    "target": "r.target",
}
_ROW_COLUMNS = {"source", "model", "model_params", "intermediate", "target", "seed", "git_commit", "created"}


def _column(name: str) -> str:
    """The select expression of run column ``name`` (runs are aliased ``r``)."""
    return _INTERMEDIATE if name == "intermediate" else f"r.{name}"


_SELECT_ROWS = "SELECT {} FROM scores s JOIN runs r ON r.run_id = s.run_id".format(
    ", ".join(_column(name) if name in _ROW_COLUMNS else f"s.{name}" for name in CSV_COLUMNS)
)
_RUN_COLUMNS = tuple(field.name for field in dataclasses.fields(RunInfo))
_SELECT_RUNS = f"SELECT {', '.join(map(_column, _RUN_COLUMNS))} FROM runs r"


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
        "INSERT INTO scores (run_id, phase, task, language, split, metric, value, recorded, scorer) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, phase, task, language, split, metric) "
        "DO UPDATE SET value = excluded.value, recorded = excluded.recorded, scorer = excluded.scorer",
        rows,
    )


def _check_single_writer(path: str | os.PathLike[str], create: bool) -> None:
    """In a multi-host JAX job only process 0 records results (one writer: no row written twice or lost)."""
    import jax  # local: reading results must not start a JAX backend

    if create and jax.process_count() > 1 and jax.process_index() != 0:
        raise ResultsError(
            f"process {jax.process_index()} of a {jax.process_count()}-process job opened {path} to write; only "
            "process 0 records results (guard the call with `if jax.process_index() == 0`)"
        )


class ResultsStore:
    """A SQLite results database at ``path`` (commands pass the gin-bound ``results_db()``).

    With ``create=False`` a missing file is an error instead of a new empty database (use it to read).
    ``timeout`` is how long a writer waits for another process's write lock (on a bucket: for ``<db>.LOCK``).
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, timeout: float = 30.0):
        _check_single_writer(path, create)
        self._staged = StagedDatabase(os.fspath(path), write=create, timeout=timeout) if is_remote(path) else None
        self.path = Path(path) if self._staged is None else self._staged.remote
        self._written = False
        try:
            self._open(self._staged.local if self._staged else self.path, create, timeout)
        except BaseException:
            if self._staged is not None:
                self._staged.release()
            raise

    def _open(self, local: Path, create: bool, timeout: float) -> None:
        if not create and not local.is_file():
            raise ResultsError(
                f"results database {self.path} does not exist; check the path (runs create it when they record)"
            )
        if create:
            local.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: transactions are begun and committed explicitly (_write), never implicitly.
            self._conn = sqlite3.connect(local, timeout=timeout, isolation_level=None)
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
        """Close the connection (a bucket database: upload it if anything was written, then release its lock)."""
        self._conn.close()
        if self._staged is not None:
            try:
                if self._written:
                    self._staged.publish()
            finally:
                self._staged.release()

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
        self._written = True

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
        if len(versions) == 1 and versions[0] in _MIGRATIONS:
            with self._write() as conn:
                (current,) = conn.execute("SELECT version FROM schema_version").fetchone()
                if current in _MIGRATIONS:  # another process may have migrated it meanwhile
                    for statement in _MIGRATIONS[current]:
                        conn.execute(statement)
                    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            versions = [SCHEMA_VERSION]
        if versions != [SCHEMA_VERSION]:
            raise ResultsError(
                f"{self.path} has results schema version {versions}; this code reads version {SCHEMA_VERSION}. "
                "Use the xstilts-jax version that wrote it, or record into a new database"
            )

    def record_run(self, info: RunInfo) -> None:
        """Insert or update a run's metadata (its first ``created`` time is kept)."""
        values = checked_run(info)
        with self._write() as conn:
            _upsert_run(conn, values)

    def record_scores(
        self, run_id: str, phase: str, task: str, split: str, scores: Mapping[str, Mapping[str, float]]
    ) -> int:
        """Record ``language -> metric -> value`` for one task and split in one transaction; returns the row count.

        ``task`` is the family name (``xnli``) or one eval task (``xnli.de``, whose scores must then be
        for ``de`` only); it is stored as the family name. A score already recorded under the same
        (run, phase, task, language, split, metric) is replaced. Each row stores ``records.scorer()``,
        the seqeval version the tagging F1s depend on.
        """
        rows = score_rows(run_id, phase, task, split, scores, now(), scorer())
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
        runs, scores = read_import(Path(path))
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
        query = _SELECT_RUNS
        params: tuple[str, ...] = ()
        if source is not None:
            query, params = query + " WHERE r.source = ?", (source,)
        return [RunInfo(*row) for row in self._conn.execute(query + " ORDER BY r.run_id", params)]

    def run(self, run_id: str) -> RunInfo:
        """One run's metadata; an unknown id is an error that lists the known runs."""
        row = self._conn.execute(_SELECT_RUNS + " WHERE r.run_id = ?", (run_id,)).fetchone()
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
        their target's scoring split (``records.scoring_split``). ``phase`` must be given when a task has scores from
        several phases. Each task's means run over the benchmark version's official languages (a task
        missing one is incomplete); ``expected_languages`` (task -> languages) overrides them per task.
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
        evaluator writes them, of which only ``split`` is used (each target record's ``submission`` says
        what its files contain). Everything is validated before anything is written; the folder appears
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
    default = scoring_split(task)
    return default if split is None else split.get(task, default)
