"""The CLI entry point and the demo job."""

import re

import pytest

from xstilts_jax.cli import main as cli
from xstilts_jax.demo import DEFAULT_GIN
from xstilts_jax.experiments.targets import BASELINE
from xstilts_jax.logging_setup import is_noise


def test_help_lists_commands(capsys):
    assert cli(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("params", "convert", "embed", "demo"):
        assert name in out


def test_unknown_command(capsys):
    assert cli(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


def test_the_demo_grid_is_a_ladder_of_three_sizes_two_seeds_baseline_and_an_intermediate():
    from xstilts_jax.models.ladder import config_from_gin, model_gin_file
    from xstilts_jax.models.param_count import count_params
    from xstilts_jax.tools.grid_cli import load_cells

    cells = load_cells(DEFAULT_GIN)
    models = list(dict.fromkeys(cell.model for cell in cells))
    assert len(models) >= 3 and len({cell.seed for cell in cells}) >= 2
    assert {cell.intermediate for cell in cells} >= {None, "socialiqa"}
    sizes = [count_params(config_from_gin([str(model_gin_file(model))])) for model in models]
    assert sizes == sorted(sizes) and sizes[-1] >= 10 * sizes[0]  # a ladder: growing, over a decade


@pytest.mark.slow
def test_demo_runs_the_grid_records_scores_and_reports(capfd, tmp_path):
    """The demo, shortened by gin overrides to one size, one seed, baseline vs SocialIQA on UD-POS: tables,
    results, the verdict table, the report, and no library noise on the console."""
    args = [
        "demo",
        f"--gin.Experiment.root='{tmp_path}/runs'",
        f"--gin.vocabulary_dir.path='{tmp_path}/vocab'",
        f"--gin.results_db.path='{tmp_path}/results.sqlite'",
        "--gin.Grid.models=['toy_s']",
        "--gin.Grid.seeds=[0]",
        "--gin.intermediate/TrainConfig.steps=2",
        "--gin.target/TrainConfig.steps=4",
        "--gin.target/TrainConfig.eval_every=2",
    ]
    assert cli(args) == 0
    out, err = capfd.readouterr()
    assert "trained the demo vocabulary" in out and "intermediate phase done" in out and "target phase done" in out
    per_language = re.findall(r"^   (udpos\.\w+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
    assert sorted(lang for lang, *_ in per_language) == ["udpos.ar", "udpos.de", "udpos.en", "udpos.zh"]
    assert all(0.0 <= float(v) <= 100.0 for _, *values in per_language for v in values)
    assert re.search(r"^   toy_s\s+socialiqa\s+0\s+[\d.]+\s+[\d.]+$", out, re.M)  # the XTREME-R-style row
    assert re.search(r"^udpos\s+socialiqa\s+ours\s+.*insufficient data \(needs ≥ 3 model sizes\)", out, re.M)
    assert "note: Language subset (ours runs): udpos on 4 of 38 XTREME-R languages" in out
    assert "not research results" in out
    # one bar per phase, with rate and time left; none of the library chatter the filter drops
    assert re.search(r"train udpos \(first step [\d.]+s\): 100%.*\[\d\d:\d\d<00:00, +[\d.]+(step/s|s/step)", err)
    assert not [line for line in re.split(r"[\r\n]", out + err) if is_noise(line)]
    report = tmp_path / "report" / "report.html"
    assert f"report:  {report}" in out and report.is_file()
    from xstilts_jax.experiments.results.store import ResultsStore

    with ResultsStore(str(tmp_path / "results.sqlite")) as store:
        rows = store.scores(metric="f1")
    assert {(r.task, r.language, r.split) for r in rows} == {("udpos", l, "test") for l in ("en", "de", "ar", "zh")}
    assert {r.intermediate for r in rows} == {BASELINE, "socialiqa"}
    # a rerun skips every finished phase and reports the same scores
    assert cli(args) == 0
    again = capfd.readouterr().out
    assert "phase done" not in again
    assert re.findall(r"^   (udpos\.\w+)\s+([\d.]+)\s+([\d.]+)$", again, re.M) == per_language


def test_demo_rejects_unknown_gin_file(capsys):
    assert cli(["demo", "--gin_file=gin/experiments/nope.gin"]) == 1
    assert "gin file 'gin/experiments/nope.gin' not found" in capsys.readouterr().err
