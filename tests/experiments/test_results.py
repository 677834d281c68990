"""The results store: round trips, replacement, splits, aggregates, CSV, submissions, concurrency, CLI."""

import csv
import json
import multiprocessing
import sqlite3
import time
from pathlib import Path

import gin
import pytest

import tasks  # noqa: F401  (the store reads the catalog's task and target records)
from xstilts_jax.cli import main as cli
from xstilts_jax.evaluation.aggregation import XTREME
from xstilts_jax.experiments.results.records import CSV_COLUMNS, DEFAULT_SPLIT, ResultsError, RunInfo, scoring_split
from xstilts_jax.experiments.results.store import SCHEMA_VERSION, ResultsStore, results_db
from xstilts_jax.experiments.results.submission import lacks, write_submission
from xstilts_jax.experiments.targets import system_name

RUN = RunInfo(
    run_id="xlmr_large-mnli-xnli-s1",
    model="xlmr_large",
    model_params=559_890_432,
    target="xnli",
    intermediate="mnli",
    seed=1,
    gin_config="EncoderConfig.num_layers = 24\n",
    git_commit="abc123",
)
BASELINE = RunInfo(run_id="xlmr_large-xnli-s1", model="xlmr_large", model_params=559_890_432, target="xnli", seed=1)


@pytest.fixture
def store(tmp_path):
    with ResultsStore(tmp_path / "results.sqlite") as store:
        store.record_run(RUN)
        yield store


def _qa(exact_match, f1):
    return {"exact_match": exact_match, "f1": f1}


# Every XTREME-R task on its scoring split (XQuAD, Tatoeba, LAReQA: test, the rest: validation), made-up numbers.
XTREME_R_SCORES = {
    "xnli": {"en": {"accuracy": 88.0}, "de": {"accuracy": 82.0}},
    "xcopa": {"et": {"accuracy": 70.0}, "id": {"accuracy": 80.0}},
    "udpos": {
        "en": {"f1": 96.0, "precision": 95.0, "recall": 97.0},
        "de": {"f1": 88.0, "precision": 87.0, "recall": 89.0},
    },
    "panx": {"en": {"f1": 84.0}, "de": {"f1": 76.0}},
    "xquad": {"en": _qa(70.0, 82.0), "de": _qa(60.0, 74.0)},
    "mlqa": {"en": _qa(66.0, 80.0), "de": _qa(50.0, 64.0)},
    "tydiqa": {"en": _qa(56.0, 70.0), "fi": _qa(48.0, 62.0)},
    "mewslix": {"en": {"mrr_at_20": 50.0}, "de": {"mrr_at_20": 40.0}},
    "lareqa": {"en": {"map_at_20": 40.0, "queries": 2.0}, "de": {"map_at_20": 30.0, "queries": 2.0}},
    "tatoeba": {"de": {"accuracy": 90.0}, "fr": {"accuracy": 84.0}},
}
# The recorded languages stand in for the official lists (which `aggregate` uses by default).
RECORDED = {task: list(per_language) for task, per_language in XTREME_R_SCORES.items()}
# Headlines by hand: mean over languages; QA = (mean EM + mean F1) / 2.
HEADLINES = {
    "xnli": 85.0,
    "xcopa": 75.0,
    "udpos": 92.0,
    "panx": 80.0,
    "xquad": 71.5,  # EM 65, F1 78
    "mlqa": 65.0,  # EM 58, F1 72
    "tydiqa": 59.0,  # EM 52, F1 66
    "mewslix": 45.0,
    "lareqa": 35.0,
    "tatoeba": 87.0,
}


def _record_benchmark(store, run_id=RUN.run_id, phase="target", skip=()):
    for task, per_language in XTREME_R_SCORES.items():
        if task not in skip:
            store.record_scores(run_id, phase, task, scoring_split(task), per_language)


def test_round_trip_keeps_run_metadata_and_split(store, tmp_path):
    assert store.record_scores(RUN.run_id, "target", "xnli", "validation", {"de": {"accuracy": 81.5}}) == 1
    [row] = store.scores()
    assert (row.run_id, row.phase, row.task, row.language, row.split, row.metric, row.value) == (
        RUN.run_id, "target", "xnli", "de", "validation", "accuracy", 81.5
    )
    assert (row.model, row.model_params, row.intermediate, row.target, row.seed, row.source, row.git_commit) == (
        "xlmr_large", 559_890_432, "mnli", "xnli", 1, "ours", "abc123"
    )
    stored = store.run(RUN.run_id)
    assert stored.gin_config == RUN.gin_config and stored.created
    # A second connection (another process, later) reads the same.
    with ResultsStore(tmp_path / "results.sqlite", create=False) as reader:
        assert reader.scores() == [row]
        assert reader.runs() == [stored]


def test_rerecording_replaces_the_value_and_keeps_other_scores(store):
    both = {"de": {"accuracy": 70.0}, "en": {"accuracy": 80.0}}
    store.record_scores(RUN.run_id, "target", "xnli", "validation", both)
    store.record_scores(RUN.run_id, "target", "xnli", "validation", {"de": {"accuracy": 72.5}})
    values = {(row.language, row.split): row.value for row in store.scores(task="xnli")}
    assert values == {("de", "validation"): 72.5, ("en", "validation"): 80.0}
    # Same language and metric on another split is another score, not a replacement.
    store.record_scores(RUN.run_id, "target", "xnli.de", "test", {"de": {"accuracy": 71.0}})
    assert {row.split: row.value for row in store.scores(language="de")} == {"validation": 72.5, "test": 71.0}
    assert [row.task for row in store.scores(split="test")] == ["xnli"]


def test_the_old_baseline_spelling_reads_as_baseline(tmp_path):
    path = tmp_path / "old.sqlite"
    with ResultsStore(path) as store:
        store.record_run(BASELINE)
        store.record_scores(BASELINE.run_id, "target", "xnli", "validation", {"de": {"accuracy": 80.0}})
        assert store.run(BASELINE.run_id).intermediate == system_name(None)
    with sqlite3.connect(path) as conn:  # as databases written before the name was unified hold it
        conn.execute("UPDATE runs SET intermediate = 'none'")
    with ResultsStore(path, create=False) as store:
        assert [info.intermediate for info in store.runs()] == [system_name(None)]
        assert store.run(BASELINE.run_id).intermediate == system_name(None)
        assert [row.intermediate for row in store.scores(intermediate=system_name(None))] == [system_name(None)]
        store.record_run(RunInfo(**{**vars(BASELINE), "intermediate": "none"}))
    with sqlite3.connect(path) as conn:  # new writes store the one name
        assert conn.execute("SELECT intermediate FROM runs").fetchall() == [(system_name(None),)]


def test_rerecording_a_run_updates_it_but_keeps_created(store):
    created = store.run(RUN.run_id).created
    store.record_run(RunInfo(**{**vars(RUN), "git_commit": "def456", "created": None}))
    assert store.run(RUN.run_id).git_commit == "def456"
    assert store.run(RUN.run_id).created == created


def test_published_source_and_filters(store):
    store.record_run(RunInfo("phang2020-xlmr_large-xnli", "xlmr_large", 559_890_432, "xnli", source="published"))
    store.record_scores("phang2020-xlmr_large-xnli", "target", "xnli", "test", {"de": {"accuracy": 79.2}})
    store.record_scores(RUN.run_id, "target", "xnli", "validation", {"de": {"accuracy": 80.0}})
    assert [row.value for row in store.scores(source="published")] == [79.2]
    assert [info.run_id for info in store.runs(source="published")] == ["phang2020-xlmr_large-xnli"]
    with pytest.raises(ResultsError, match=r"unknown score filters \['lang'\]"):
        store.scores(lang="de")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: s.record_scores("nope", "target", "xnli", "validation", {"de": {"accuracy": 1.0}}), "not recorded"),
        (lambda s: s.record_scores(RUN.run_id, "target", "xnli.de", "validation", {"fr": {"accuracy": 1.0}}),
         "names language 'de' but the scores are for \\['fr'\\]"),
        (lambda s: s.record_scores(RUN.run_id, "target", "xnli", "validation", {"de": {"accuracy": float("nan")}}),
         "not a finite number"),
        (lambda s: s.record_scores(RUN.run_id, "", "xnli", "validation", {"de": {"accuracy": 1.0}}), "phase"),
        (lambda s: s.record_run(RunInfo("r", "m", 10, "xnli", source="paper")), "source must be one of"),
        (lambda s: s.record_run(RunInfo("r", "m", 0, "xnli")), "model_params must be a positive int"),
    ],
)
def test_bad_records_are_refused_and_nothing_is_written(store, call, message):
    with pytest.raises(ResultsError, match=message):
        call(store)
    assert store.scores() == [] and [info.run_id for info in store.runs()] == [RUN.run_id]


def test_aggregate_equals_hand_computed_means_on_the_scoring_splits(store):
    _record_benchmark(store)
    # Decoys the aggregate must not read: other splits, a non-benchmark task.
    store.record_scores(RUN.run_id, "target", "xnli", "test", {"en": {"accuracy": 0.0}, "de": {"accuracy": 0.0}})
    store.record_scores(RUN.run_id, "target", "xquad", "validation", {"en": _qa(0.0, 0.0), "de": _qa(0.0, 0.0)})
    store.record_scores(RUN.run_id, "intermediate", "mnli", "validation", {"en": {"accuracy": 90.0}})

    result = store.aggregate(RUN.run_id, "xtreme_r", expected_languages=RECORDED)
    assert {task: score.headline for task, score in result.tasks.items()} == HEADLINES
    assert result.tasks["udpos"].metric_means == {"f1": 92.0, "precision": 91.0, "recall": 93.0}
    assert result.categories == {
        "classification": (85.0 + 75.0) / 2,
        "tagging": (92.0 + 80.0) / 2,
        "qa": (71.5 + 65.0 + 59.0) / 3,
        "retrieval": (87.0 + 45.0) / 2,  # evaluate.py: Tatoeba, Mewsli-X
        "multi_choice": 75.0,
        "retrieval_paper": (87.0 + 45.0 + 35.0) / 3,  # XTREME-R paper: with LAReQA
    }
    assert result.overall == sum(HEADLINES.values()) / 10
    assert result.complete and result.missing_tasks == () and result.incomplete_tasks == ()

    # One split for every task ("test": the xnli decoy and the tasks scored on test), or a split for one task.
    on_test = store.aggregate(RUN.run_id, "xtreme_r", split="test", expected_languages=RECORDED)
    assert set(on_test.tasks) == {"xnli", "xquad", "tatoeba", "lareqa", "udpos"} and on_test.tasks["xnli"].headline == 0.0
    on_map = store.aggregate(RUN.run_id, "xtreme_r", split={"xquad": "validation"}, expected_languages=RECORDED)
    assert on_map.tasks["xquad"].headline == 0.0 and on_map.tasks["xnli"].headline == 85.0


def test_scoring_splits_come_from_the_records():
    # What the evaluator records for each target, so a run's aggregate finds its scores.
    names = ("xnli", "xnli.de", "xquad", "xquad.de", "tatoeba", "lareqa", "udpos", "udpos.kk")
    assert {task: scoring_split(task) for task in names} == {
        "udpos": "test",  # the UD releases' tagged test sets (the target record's split)
        "udpos.kk": "test",
        "xnli": "validation",
        "xnli.de": "validation",
        "xquad": "test",
        "xquad.de": "test",
        "tatoeba": "test",
        "lareqa": "test",
    }
    assert scoring_split("not_registered") == DEFAULT_SPLIT == "validation"


def test_incomplete_aggregates_are_none_and_say_what_is_missing(store):
    _record_benchmark(store, skip=("mewslix",))
    expected = {task: list(per_language) for task, per_language in XTREME_R_SCORES.items()}
    expected["xnli"] = ["en", "de", "fr"]
    result = store.aggregate(RUN.run_id, "xtreme_r", expected_languages=expected)
    assert result.overall is None and not result.complete
    assert result.missing_tasks == ("mewslix",)
    assert result.incomplete_tasks == ("xnli",)
    assert result.tasks["xnli"].headline is None and result.tasks["xnli"].missing_languages == ("fr",)
    assert result.categories["classification"] is None and result.categories["retrieval"] is None
    assert result.categories["tagging"] == 86.0
    # XTREME wants PAWS-X and BUCC, which were never recorded.
    xtreme = store.aggregate(RUN.run_id, "xtreme")
    assert xtreme.overall is None and set(xtreme.missing_tasks) == {"pawsx", "bucc2018"}


def test_aggregate_needs_a_phase_when_scores_come_from_several(store):
    store.record_scores(RUN.run_id, "target", "xnli", "validation", {"en": {"accuracy": 80.0}})
    store.record_scores(RUN.run_id, "rerun", "xnli", "validation", {"en": {"accuracy": 60.0}})
    with pytest.raises(ResultsError, match=r"several phases for \{'xnli': \['rerun', 'target'\]\}; pass phase="):
        store.aggregate(RUN.run_id)
    assert store.aggregate(RUN.run_id, phase="rerun", expected_languages={"xnli": ["en"]}).tasks["xnli"].headline == 60.0
    with pytest.raises(ResultsError, match=r"unknown benchmark 'xtreme-r'; choose from \['xtreme', 'xtreme_r'\]"):
        store.aggregate(RUN.run_id, "xtreme-r")


def test_unknown_run_lists_the_known_runs(store):
    store.record_run(BASELINE)
    known = "known runs: xlmr_large-mnli-xnli-s1, xlmr_large-xnli-s1"
    with pytest.raises(ResultsError, match=f"unknown run 'xlmr' .*{known}"):
        store.aggregate("xlmr")


def test_csv_has_one_column_per_row_field(store, tmp_path):
    store.record_run(BASELINE)
    store.record_scores(RUN.run_id, "target", "udpos", "validation", {"de": {"f1": 88.0, "precision": 87.0}})
    store.record_scores(BASELINE.run_id, "target", "udpos", "validation", {"de": {"f1": 85.0}})
    out = tmp_path / "scores.csv"
    assert store.to_csv(out, run_id=RUN.run_id) == 2
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:7] == ("run_id", "source", "model", "model_params", "intermediate", "target", "seed")
    assert {"phase", "task", "language", "split", "metric", "value", "git_commit", "created"} <= set(CSV_COLUMNS)
    assert [(r["metric"], float(r["value"]), r["split"], r["intermediate"]) for r in rows] == [
        ("f1", 88.0, "validation", "mnli"),
        ("precision", 87.0, "validation", "mnli"),
    ]
    # Every score says which seqeval scored it (UD-POS F1 differs between seqeval versions).
    assert {r["scorer"] for r in rows} == {"seqeval==1.2.2"}


def test_a_version_1_database_opens_and_its_scores_have_no_scorer(tmp_path):
    # The schema before `scorer` was stored (version 1), written by hand.
    old = tmp_path / "v1.sqlite"
    with sqlite3.connect(old) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, model TEXT NOT NULL, model_params INTEGER NOT NULL, "
            "intermediate TEXT NOT NULL, target TEXT NOT NULL, seed INTEGER, source TEXT NOT NULL, "
            "gin_config TEXT NOT NULL, git_commit TEXT NOT NULL, created TEXT NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE scores (run_id TEXT NOT NULL REFERENCES runs (run_id), phase TEXT NOT NULL, "
            "task TEXT NOT NULL, language TEXT NOT NULL, split TEXT NOT NULL, metric TEXT NOT NULL, "
            "value REAL NOT NULL, recorded TEXT NOT NULL, PRIMARY KEY (run_id, phase, task, language, split, metric))"
        )
        conn.execute("INSERT INTO runs VALUES ('old', 'xlmr_base', 1, 'none', 'udpos', 1, 'ours', '', '', 't')")
        conn.execute("INSERT INTO scores VALUES ('old', 'target', 'udpos', 'de', 'validation', 'f1', 90.0, 't')")
    conn.close()
    with ResultsStore(old, create=False) as store:
        assert [(row.value, row.scorer) for row in store.scores()] == [(90.0, "")]
        store.record_scores("old", "target", "udpos", "validation", {"en": {"f1": 80.0}})
        assert {row.language: row.scorer for row in store.scores()} == {"de": "", "en": "seqeval==1.2.2"}
    with sqlite3.connect(old) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    conn.close()


def test_lacks_lists_the_official_languages_a_submission_has_no_file_for():
    # Every XTREME task in every evaluate.py language, but no MLQA and no Tatoeba Hungarian.
    files = [
        Path(task) / f"test-{lang}.tsv"
        for task, languages in XTREME.languages.items()
        if task != "mlqa"
        for lang in languages
        if (task, lang) != ("tatoeba", "hu")
    ]
    assert lacks(files, XTREME) == {"mlqa": ("en", "es", "de", "ar", "hi", "vi", "zh"), "tatoeba": ("hu",)}
    assert lacks([*files, Path("tatoeba/test-hu.tsv"), *(Path("mlqa") / f"test-{x}.json" for x in "en es de ar hi vi zh".split())], XTREME) == {}


def test_schema_version_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(ResultsError, match="does not exist"):
        ResultsStore(tmp_path / "absent.sqlite", create=False)
    assert not (tmp_path / "absent.sqlite").exists()
    not_a_db = tmp_path / "notes.sqlite"
    not_a_db.write_text("hello, I am not a database " * 50)
    with pytest.raises(ResultsError, match="cannot be opened as a results database"):
        ResultsStore(not_a_db)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ResultsError, match="an SQLite database of something else"):
        ResultsStore(other)
    future = tmp_path / "future.sqlite"
    ResultsStore(future).close()
    with sqlite3.connect(future) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(ResultsError, match=f"schema version \\[{SCHEMA_VERSION + 1}\\]; this code reads version"):
        ResultsStore(future)


def test_default_path_is_bound_in_gin(tmp_path):
    gin.parse_config(f"results_db.path = '{tmp_path / 'bound' / 'r.sqlite'}'")
    with ResultsStore(results_db()) as store:
        assert store.path == tmp_path / "bound" / "r.sqlite"
    assert store.path.is_file()
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_reader_does_not_block_a_writer(store):
    reader = sqlite3.connect(store.path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM scores").fetchone() == (0,)  # holds a read snapshot
    with ResultsStore(store.path, timeout=0.5) as writer:
        writer.record_scores(RUN.run_id, "target", "xnli", "validation", {"de": {"accuracy": 80.0}})
    assert reader.execute("SELECT count(*) FROM scores").fetchone() == (0,)  # still its snapshot
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM scores").fetchone() == (1,)
    reader.close()


# --- two processes writing at once ----------------------------------------------------------------
WRITES = 40


def _writer(path, worker, barrier):
    barrier.wait(timeout=60)  # both processes create the database and write at the same moment
    with ResultsStore(path) as store:
        store.record_run(RunInfo(f"run{worker}", "xlmr_base", 278_000_000, "xnli", seed=worker))
        store.record_run(RunInfo("shared", "xlmr_base", 278_000_000, "xnli"))
        for i in range(WRITES):
            store.record_scores(f"run{worker}", "target", "xnli", "validation", {f"l{i}": {"accuracy": float(i)}})
            # The same key from both processes: one value survives, whole.
            store.record_scores("shared", "target", "xnli", "validation", {"de": {"accuracy": float(worker)}})
            time.sleep(0.002)  # SQLite's busy handler polls; a pause lets the other writer in between commits


def test_two_processes_write_concurrently_without_corruption(tmp_path):
    path = tmp_path / "shared.sqlite"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_writer, args=(path, worker, barrier)) for worker in (0, 1)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=90)
    for process in workers:
        if process.is_alive():
            process.kill()
    assert [process.exitcode for process in workers] == [0, 0]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with ResultsStore(path, create=False) as store:
        for worker in (0, 1):
            values = sorted(row.value for row in store.scores(run_id=f"run{worker}"))
            assert values == [float(i) for i in range(WRITES)]
        [shared] = store.scores(run_id="shared")
        assert shared.value in (0.0, 1.0)


# --- leaderboard submissions ----------------------------------------------------------------------
PREDICTIONS = {
    "xnli.de": ["entailment", "contradiction", "neutral"],
    "xnli.en": ["neutral"],
    "pawsx.de": ["paraphrase", "different_meaning", 1, "0"],
    "xcopa.et": [0, 1, "1"],
    "udpos.de": [["NOUN", "VERB"], ["PUNCT"]],
    "panx.ar": [["B-PER", "I-PER", "O"]],
    "xquad.de": {"56beb4343aeaaa14008c925b": "Denver Broncos", "56beb4343aeaaa14008c925c": ""},
    "tydiqa.fi": {"finnish-123": "vuonna 1917"},
    "tatoeba.de": [3, 0, 2],
    "bucc2018.de": [["de-000001", "en-000042"], ["de-000007", "en-000003"]],
    "mewslix.de": {"m1": ["Q42", "Q1"]},
}
SUBMISSION = {
    "xnli/test-de.tsv": "entailment\ncontradiction\nneutral\n",
    "xnli/test-en.tsv": "neutral\n",
    "pawsx/test-de.tsv": "1\n0\n1\n0\n",
    "xcopa/test-et.jsonl": '{"label": 0}\n{"label": 1}\n{"label": 1}\n',
    "udpos/test-de.tsv": "NOUN\nVERB\n\nPUNCT\n",
    "panx/test-ar.tsv": "B-PER\nI-PER\nO\n",
    "tatoeba/test-de.tsv": "3\n0\n2\n",
    "bucc2018/test-de.tsv": "de-000001\ten-000042\nde-000007\ten-000003\n",
}
JSON_FILES = {
    "xquad/test-de.json": "xquad.de",
    "tydiqa/test-fi.json": "tydiqa.fi",
    "mewslix/test-de.json": "mewslix.de",
}


def _predictions_dir(path, predictions=PREDICTIONS):
    path.mkdir()
    for name, value in predictions.items():
        (path / f"{name}.json").write_text(json.dumps(value), encoding="utf-8")
    return path


def test_submission_layout_from_a_predictions_dir(store, tmp_path):
    predictions = _predictions_dir(tmp_path / "predictions")
    out = tmp_path / "submission"
    written = store.write_submission(RUN.run_id, out, predictions)
    assert sorted(str(p.relative_to(out)) for p in written) == sorted([*SUBMISSION, *JSON_FILES])
    for name, text in SUBMISSION.items():
        assert (out / name).read_text(encoding="utf-8") == text, name
    for name, source in JSON_FILES.items():
        assert json.loads((out / name).read_text(encoding="utf-8")) == PREDICTIONS[source]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_submission_never_overwrites_unless_asked(tmp_path):
    predictions = _predictions_dir(tmp_path / "predictions", {"xnli.de": ["neutral"]})
    out = tmp_path / "submission"
    write_submission(out, predictions)
    with pytest.raises(ResultsError, match="already exists; pass overwrite=True"):
        write_submission(out, predictions)
    (predictions / "xnli.de.json").write_text('["entailment"]')
    write_submission(out, predictions, overwrite=True)
    assert (out / "xnli" / "test-de.tsv").read_text() == "entailment\n"
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ResultsError, match="notes.txt is not part of a leaderboard submission"):
        write_submission(out, predictions, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("lareqa.de", [1], "cannot write a lareqa submission: .*evaluate.py has no LAReQA reader"),
        ("mnli.en", ["neutral"], "after an eval task of a registered target.*'mnli.en' names none"),
        ("xquad.de", ["Denver"], r"a list has no ids.*xquad predictions files hold a JSON object \{question id: "),
        ("xnli.de", ["entailment", 2], "example 1: 2 is not one of"),
        ("udpos.de", [["NOUN"], []], "sentence 1: \\[\\] is not a non-empty list of tags"),
        ("udpos.de", [["NOUN", " X"]], "' X' is not a non-empty string without tabs"),
        ("tatoeba.de", [1, -1], "example 1: -1 is not the index"),
        ("xcopa.et", [True], "example 0: True is not one of"),
    ],
)
def test_submission_refuses_what_it_cannot_write_faithfully(tmp_path, name, value, message):
    predictions = _predictions_dir(tmp_path / "predictions", {"xnli.en": ["neutral"], name: value})
    with pytest.raises(ResultsError, match=message):
        write_submission(tmp_path / "submission", predictions)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions"]


def test_submission_checks_expected_languages(tmp_path):
    predictions = _predictions_dir(tmp_path / "predictions", {"xnli.de": ["neutral"]})
    with pytest.raises(ResultsError, match=r"xnli: no predictions for languages \['en', 'fr'\]"):
        write_submission(tmp_path / "submission", predictions, expected_languages={"xnli": ["de", "en", "fr"]})
    (predictions / "xnli.json").write_text("[]")
    with pytest.raises(ResultsError, match="named <task>.<lang>.json or <task>.<lang>.<split>.json"):
        write_submission(tmp_path / "submission", predictions)


def test_submission_reads_the_evaluators_split_named_files(tmp_path):
    predictions = _predictions_dir(
        tmp_path / "predictions",
        {"xnli.de.validation": ["neutral"], "xnli.de.test": ["entailment", "neutral"], "xquad.de.test": {"q": "a"}},
    )
    out = tmp_path / "submission"
    written = write_submission(out, predictions)
    assert sorted(str(p.relative_to(out)) for p in written) == ["xnli/test-de.tsv", "xquad/test-de.json"]
    assert (out / "xnli" / "test-de.tsv").read_text() == "entailment\nneutral\n"
    with pytest.raises(ResultsError, match=r"no 'dev' prediction files \(found splits \['test', 'validation'\]"):
        write_submission(tmp_path / "other", predictions, split="dev")
    (predictions / "xnli.de.json").write_text('["neutral"]')
    with pytest.raises(ResultsError, match="both hold xnli.de predictions; keep one"):
        write_submission(tmp_path / "other", predictions)


# --- CLI -------------------------------------------------------------------------------------------
def test_cli_missing_database_is_an_error_and_is_not_created(tmp_path, capsys):
    db = tmp_path / "missing.sqlite"
    assert cli(["results", "--db", str(db)]) == 1
    assert f"xstilts-jax results: error: results database {db} does not exist" in capsys.readouterr().err
    assert not db.exists()


def test_cli_lists_runs_and_rejects_unknown_runs(store, capsys):
    store.record_scores(RUN.run_id, "target", "xnli", "validation", {"de": {"accuracy": 80.0}})
    assert cli(["results", "--db", str(store.path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["run", "source", "model", "params", "intermediate", "target", "seed", "scores"]
    assert out[1].split() == [RUN.run_id, "ours", "xlmr_large", "560M", "mnli", "xnli", "1", "1"]
    assert cli(["results", "--db", str(store.path), "--aggregate", "--run", "xlmr"]) == 1
    assert f"unknown run 'xlmr' in {store.path}; known runs: {RUN.run_id}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli(["results", "--db", str(store.path), "--aggregate"])
    assert exit_info.value.code == 2
    assert "--aggregate and --submission need --run RUN" in capsys.readouterr().err


def test_cli_aggregate_csv_and_submission(store, tmp_path, capsys):
    _record_benchmark(store, skip=("lareqa",))
    db = str(store.path)
    assert cli(["results", "--db", db, "--aggregate", "--run", RUN.run_id, "--benchmark", "xtreme_r"]) == 0
    out = capsys.readouterr().out
    assert f"run {RUN.run_id}, xtreme_r" in out
    assert "xnli               -   (2/15 languages)" in out  # XTREME-R's 15 XNLI languages by default
    assert "overall                        -" in out and "missing tasks: lareqa" in out
    assert "(means over xtreme_r's official languages per task, as evaluate.py; --expected_languages" in out

    expected = tmp_path / "langs.json"
    expected.write_text(json.dumps({task: ["en", "de"] for task in XTREME_R_SCORES}))
    assert cli(["results", "--db", db, "--aggregate", "--run", RUN.run_id, "--expected_languages", str(expected)]) == 0
    out = capsys.readouterr().out
    assert "missing languages: en" in out and "official languages per task" not in out  # tatoeba: de and fr

    csv_path = tmp_path / "out.csv"
    assert cli(["results", "--db", db, "--csv", str(csv_path)]) == 0
    assert capsys.readouterr().out.startswith("wrote 28 scores to")
    assert csv_path.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)

    predictions = _predictions_dir(tmp_path / "predictions", {"xnli.de": ["neutral"], "panx.de": [["O"]]})
    submission = tmp_path / "submission"
    args = ["results", "--db", db, "--submission", str(submission), "--run", RUN.run_id]
    with pytest.raises(SystemExit):
        cli(args)
    assert "--submission needs --predictions_dir DIR" in capsys.readouterr().err
    assert cli([*args, "--predictions_dir", str(predictions)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[:2] == [
        f"wrote 2 files for panx, xnli to {submission}",
        "partial xtreme_r submission (evaluate.py reports no overall score); it lacks:",
    ]
    assert "  xnli: ar, bg, el, en, es, fr, hi, ru, sw, th, tr, ur, vi, zh" in lines  # de was written
    assert "  xcopa: all languages" in lines and len(lines) == 2 + 10
    # LAReQA: a named choice, never written, and the listing says why
    assert "  lareqa: never written: google-research/xtreme's evaluate.py has no LAReQA reader" in "\n".join(lines)
    assert cli([*args, "--predictions_dir", str(predictions)]) == 1
    assert "already exists; pass overwrite=True (--overwrite)" in capsys.readouterr().err
    assert cli([*args, "--predictions_dir", str(predictions), "--overwrite"]) == 0
