"""A results database damaged on disk, or a results/convert path that cannot be written: one line, nothing lost."""

import hashlib
import sqlite3

import pytest

import tasks  # noqa: F401  (the store reads the catalog's task and target records)
from xstilts_jax.cli import main as cli
from xstilts_jax.experiments.results.records import RunInfo, scoring_split
from xstilts_jax.experiments.results.store import ResultsStore

RUN = RunInfo(run_id="tiny-xnli-s0", model="tiny", model_params=1000, target="xnli", seed=0)
LANGUAGES = [f"l{i:03d}" for i in range(400)]  # enough rows for the scores table to span many pages


def _filled_store(path):
    with ResultsStore(path) as store:
        store.record_run(RUN)
        store.record_scores(RUN.run_id, "target", "xnli", scoring_split("xnli"), {l: {"accuracy": 50.0} for l in LANGUAGES})
    # fold the write-ahead log into the main file, so the damage below hits the only copy of the rows
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _damage_a_data_page(path):
    """Overwrite the middle of the file's last pages with garbage (the schema on page 1 stays readable)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) // page >= 4, "the test needs a database of several pages"
    for start in range(len(data) - 3 * page, len(data), page):
        data[start : start + page] = b"\xa5" * page
    path.write_bytes(bytes(data))


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def damaged_db(tmp_path):
    path = tmp_path / "results.sqlite"
    _filled_store(path)
    _damage_a_data_page(path)
    return path


def test_a_damaged_data_page_is_one_line_when_reading_and_the_file_is_untouched(damaged_db, tmp_path, capsys):
    before = _digest(damaged_db)
    code = cli(["results", "--db", str(damaged_db), "--csv", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "results database" in err and "restore it from a backup" in err and "eval/scores.json" in err
    assert _digest(damaged_db) == before
    assert not (tmp_path / "out.csv").exists()


def test_recording_into_a_damaged_database_fails_and_changes_nothing(damaged_db):
    before = _digest(damaged_db)
    with pytest.raises(sqlite3.DatabaseError):
        with ResultsStore(damaged_db) as store:
            store.record_scores(RUN.run_id, "target", "xnli", scoring_split("xnli"), {"new": {"accuracy": 1.0}})
            store.scores()
    assert _digest(damaged_db) == before


def test_a_results_path_under_a_file_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    code = cli(["results", "--db", str(blocker / "results.sqlite"), "--csv", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert str(blocker) in err
    assert blocker.read_text() == "not a directory"


def test_a_csv_path_that_cannot_be_written_is_one_line_and_keeps_the_database(tmp_path, capsys):
    db = tmp_path / "results.sqlite"
    _filled_store(db)
    before = _digest(db)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code = cli(["results", "--db", str(db), "--csv", str(blocker / "out.csv")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and f"cannot use {blocker / 'out.csv'}" in err
    assert _digest(db) == before


def test_an_unwritable_convert_output_is_one_line(tmp_path, capsys):
    from tests.tools.test_hf_import import _tiny_xlmr

    hf_dir = _tiny_xlmr(tmp_path / "m")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    capsys.readouterr()
    code = cli(["convert", "--hf_dir", hf_dir, "--out", str(blocker / "out")])
    err = capsys.readouterr().err.splitlines()[-1]  # after the Hugging Face progress bar
    assert code == 1 and "Traceback" not in err and err.startswith("xstilts-jax convert: error:")
    assert str(blocker) in err and "choose a path this user can write" in err
    assert blocker.read_text() == "x"
