"""The CLI entry point and the demo job."""

import re

import pytest

from xstilts_jax.cli import main as cli
from xstilts_jax.experiments.targets import BASELINE


def test_help_lists_commands(capsys):
    assert cli(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("params", "convert", "embed", "demo"):
        assert name in out


def test_unknown_command(capsys):
    assert cli(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_the_grid_records_scores_and_reports(capsys, tmp_path):
    """The demo, shortened by gin overrides to MLM + baseline vs SocialIQA on UD-POS: tables, results, report."""
    args = [
        "demo",
        f"--gin.Experiment.root='{tmp_path}/runs'",
        f"--gin.vocabulary_dir.path='{tmp_path}/vocab'",
        f"--gin.results_db.path='{tmp_path}/results.sqlite'",
        "--gin.Grid.intermediates=[None, 'socialiqa']",
        "--gin.Grid.targets=['udpos']",
        "--gin.mlm/TrainConfig.steps=2",
        "--gin.intermediate/TrainConfig.steps=2",
        "--gin.target/TrainConfig.steps=4",
        "--gin.target/TrainConfig.eval_every=2",
    ]
    assert cli(args) == 0
    out = capsys.readouterr().out
    assert "trained the demo vocabulary" in out and "mlm phase done" in out and "intermediate phase done" in out
    per_language = re.findall(r"^   (udpos\.\w+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
    assert sorted(lang for lang, *_ in per_language) == ["udpos.ar", "udpos.de", "udpos.en", "udpos.zh"]
    assert all(0.0 <= float(v) <= 100.0 for _, *values in per_language for v in values)
    assert re.search(r"^   tiny\s+socialiqa\s+0\s+[\d.]+\s+[\d.]+$", out, re.M)  # the XTREME-R-style row
    assert "not research results" in out
    report = tmp_path / "report" / "report.html"
    assert f"report:  {report}" in out and report.is_file()
    from xstilts_jax.experiments.results.store import ResultsStore

    with ResultsStore(str(tmp_path / "results.sqlite")) as store:
        rows = store.scores(metric="f1")
    assert {(r.task, r.language, r.split) for r in rows} == {("udpos", l, "test") for l in ("en", "de", "ar", "zh")}
    assert {r.intermediate for r in rows} == {BASELINE, "socialiqa"}
    # a rerun skips every finished phase and reports the same scores
    assert cli(args) == 0
    again = capsys.readouterr().out
    assert "phase done" not in again
    assert re.findall(r"^   (udpos\.\w+)\s+([\d.]+)\s+([\d.]+)$", again, re.M) == per_language


def test_demo_rejects_unknown_gin_file(capsys):
    assert cli(["demo", "--gin_file=gin/experiments/nope.gin"]) == 1
    assert "gin file 'gin/experiments/nope.gin' not found" in capsys.readouterr().err
