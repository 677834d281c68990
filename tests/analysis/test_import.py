"""Importing published reference rows: `results --import`, validation, atomicity, re-import."""

import pytest

import tasks  # noqa: F401  (the catalog's records give a task's scoring split)
from xstilts_jax.analysis.example import published_csv
from xstilts_jax.cli import main as cli
from xstilts_jax.experiments.results.records import ResultsError, RunInfo
from xstilts_jax.experiments.results.store import ResultsStore
from xstilts_jax.experiments.targets import BASELINE

HEADER = "run_id,model,model_params,intermediate,target,task,language,metric,value"


def _write(path, *lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cli_imports_the_shipped_file_into_a_new_database(tmp_path, capsys):
    db = tmp_path / "new.sqlite"
    assert cli(["results", "--db", str(db), "--import", str(published_csv())]) == 0
    assert "imported 12 published scores of 12 runs" in capsys.readouterr().out
    with ResultsStore(db, create=False) as store:
        rows = store.scores(run_id="phang2020/xlmr_large/x-stilts/tydiqa")
    assert [(r.source, r.split, r.phase, r.language, r.metric, r.value) for r in rows] == [
        ("published", "test", "eval", "all", "f1", 76.0)
    ]
    # Importing again replaces the same rows instead of adding to them.
    assert cli(["results", "--db", str(db), "--import", str(published_csv())]) == 0
    with ResultsStore(db, create=False) as store:
        assert len(store.scores()) == 12


def test_defaults_comments_and_seed(tmp_path):
    path = _write(
        tmp_path / "p.csv",
        "# a comment naming the paper",
        HEADER + ",seed",
        "p/base,xlmr_base,278043648,none,xquad,xquad,en,f1,70.5,3",
    )
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.import_csv(path)
        (row,) = store.scores()
        (run,) = store.runs()
    assert (row.split, row.phase, run.seed, run.source) == ("test", "eval", 3, "published")
    # "none", the baseline's old spelling, is imported as the one name.
    assert row.intermediate == run.intermediate == BASELINE


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((HEADER.replace(",value", ""), "x"), "missing ['value']"),
        ((HEADER + ",paper", "a,b,1,none,xnli,xnli,en,accuracy,1,c"), "unknown ['paper']"),
        ((HEADER + ",source", "a,m,1,none,xnli,xnli,en,accuracy,1,ours"), "published reference rows only"),
        ((HEADER, "a,m,many,none,xnli,xnli,en,accuracy,1"), "model_params 'many' is not an integer"),
        ((HEADER, "a,m,1,none,xnli,xnli,en,accuracy,high"), "value 'high' is not a number"),
        ((HEADER, "a,m,1,none,xnli,xnli,en,accuracy,1", "a,m,1,none,xnli,xnli,en,accuracy,2"), "repeats line 2"),
        ((HEADER, "a,m,1,none,xnli,xnli,en,accuracy,1", "a,m,2,none,xnli,xnli,de,accuracy,2"), "other model"),
        ((HEADER, "a,m,1,none,xnli,xnli,en,accuracy"), "fields like the header"),
        ((HEADER,), "no rows"),
    ],
)
def test_bad_files_name_the_line_and_write_nothing(tmp_path, lines, message):
    path = _write(tmp_path / "bad.csv", *lines)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(ResultsError, match=message.replace("[", r"\[").replace("]", r"\]")):
            store.import_csv(path)
        assert store.runs() == [] and store.scores() == []


def test_run_ids_of_our_runs_are_refused(tmp_path):
    path = _write(tmp_path / "p.csv", HEADER, "mine,xlmr_base,278043648,none,xnli,xnli,en,accuracy,80")
    with ResultsStore(tmp_path / "r.sqlite") as store:
        store.record_run(RunInfo("mine", "xlmr_base", 278_043_648, "xnli"))
        with pytest.raises(ResultsError, match="already recorded as our runs"):
            store.import_csv(path)
        assert store.run("mine").source == "ours" and store.scores() == []


def test_missing_file_is_a_clear_cli_error(tmp_path, capsys):
    assert cli(["results", "--db", str(tmp_path / "r.sqlite"), "--import", str(tmp_path / "nope.csv")]) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "nope.csv" in err
