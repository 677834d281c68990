"""The CLI entry point and the demo job."""

import re

import pytest

from xstilts_jax.cli import main as cli


def test_help_lists_commands(capsys):
    assert cli(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("params", "convert", "embed", "demo"):
        assert name in out


def test_unknown_command(capsys):
    assert cli(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_three_phases_and_records_scores(capsys, tmp_path):
    """The demo (shortened by gin overrides): vocabulary, intermediate, target, zero-shot eval, results."""
    args = [
        "demo",
        f"--gin.Experiment.root='{tmp_path}/runs'",
        f"--gin.vocabulary_dir.path='{tmp_path}/vocab'",
        f"--gin.results_db.path='{tmp_path}/results.sqlite'",
        "--gin.intermediate/TrainConfig.steps=4",
        "--gin.target/TrainConfig.steps=6",
    ]
    assert cli(args) == 0
    out = capsys.readouterr().out
    assert "trained the demo vocabulary" in out
    scores = dict(re.findall(r"^  (udpos\.\w+)\s+validation f1\s+([\d.]+)", out, re.M))
    assert set(scores) == {"udpos.en", "udpos.de", "udpos.ar", "udpos.zh"}
    assert all(0.0 <= float(v) <= 100.0 for v in scores.values())
    from xstilts_jax.experiments.results import ResultsStore

    with ResultsStore(str(tmp_path / "results.sqlite")) as store:
        rows = store.scores(metric="f1")
    assert {(r.task, r.language, r.split) for r in rows} == {("udpos", l, "validation") for l in ("en", "de", "ar", "zh")}
    assert all(r.intermediate == "socialiqa" for r in rows)
    # a rerun skips every finished phase and reports the same scores
    assert cli(args) == 0
    again = dict(re.findall(r"^  (udpos\.\w+)\s+validation f1\s+([\d.]+)", capsys.readouterr().out, re.M))
    assert again == scores


def test_demo_rejects_unknown_gin_file(capsys):
    assert cli(["demo", "--gin_file=gin/experiments/nope.gin"]) == 1
    assert "gin file 'gin/experiments/nope.gin' not found" in capsys.readouterr().err
