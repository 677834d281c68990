"""The experiment grid: cells from one gin file, done/partial/todo status, running what is left."""

import json
from pathlib import Path

import pytest

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.experiments.grid import DONE, PARTIAL, TODO
from xstilts_jax.tools import grid_cli
from xstilts_jax.tools.grid_cli import iter_status, load_cells

GRID = """
include 'gin/meshes/toy_cpu8.gin'
include 'gin/runs/xstilts.gin'
vocabulary_dir.path = '{vocab}'
data_dir.path = '{data}'
results_db.path = '{root}/results.sqlite'
Grid.models = ['tiny']
Grid.intermediates = [None, 'socialiqa']
Grid.targets = ['udpos']
Grid.seeds = [0, 1]
Grid.eval_tasks = {{'udpos': ['udpos.en', 'udpos.de']}}
Experiment.root = '{root}'
Experiment.eval_batch_size = 8
Experiment.eval_length = 32
intermediate/TrainConfig.epochs = None
intermediate/TrainConfig.steps = 2
intermediate/TrainConfig.batch_size = 8
intermediate/TrainConfig.length = 32
target/TrainConfig.epochs = None
target/TrainConfig.steps = 2
target/TrainConfig.batch_size = 8
target/TrainConfig.length = 32
target/TrainConfig.eval_batch_size = 8
"""


@pytest.fixture
def grid_file(tmp_path, catalog_env, spm_dir):
    path = tmp_path / "grid.gin"
    path.write_text(GRID.format(vocab=spm_dir, data=catalog_env, root=tmp_path / "runs"))
    return str(path)


def _statuses(grid_file):
    return [(c.intermediate, c.seed, status) for c, status, _ in iter_status(load_cells([grid_file]))]


def test_cells_and_status_from_the_phase_directories(grid_file, tmp_path):
    cells = load_cells([grid_file])
    assert [(c.model, c.seed, c.intermediate, c.target) for c in cells] == [
        ("tiny", 0, None, "udpos"), ("tiny", 0, "socialiqa", "udpos"),
        ("tiny", 1, None, "udpos"), ("tiny", 1, "socialiqa", "udpos"),
    ]
    assert "Experiment.eval_tasks = ['udpos.en', 'udpos.de']" in cells[0].bindings
    assert {s for *_, s in _statuses(grid_file)} == {TODO}
    runs = tmp_path / "runs" / "tiny"
    # a finished shared intermediate phase is reuse, not this cell's progress
    (runs / "seed0" / "intermediate" / "socialiqa").mkdir(parents=True)
    (runs / "seed0" / "intermediate" / "socialiqa" / "DONE").write_text("{}")
    (runs / "seed0" / "baseline" / "udpos" / "target" / "checkpoints").mkdir(parents=True)
    (runs / "seed1" / "socialiqa" / "udpos" / "eval").mkdir(parents=True)
    (runs / "seed1" / "socialiqa" / "udpos" / "eval" / "DONE").write_text("{}")
    assert _statuses(grid_file) == [(None, 0, PARTIAL), ("socialiqa", 0, TODO), (None, 1, TODO), ("socialiqa", 1, DONE)]


def test_unknown_target_names_the_registered_ones(grid_file, tmp_path):
    with pytest.raises(Exception, match=r"No target 'udpoz' is registered\. Did you mean 'udpos'\?.*'xnli'"):
        load_cells([grid_file], ["Grid.targets = ['udpoz']"])


@pytest.mark.slow
def test_grid_runs_todo_cells_then_skips_done_ones(grid_file, tmp_path, capsys, monkeypatch):
    bindings = ["--gin.Grid.seeds=[0]"]
    assert grid_cli.main(["--gin_file", grid_file, "--dry_run", *bindings]) == 0
    assert "2 cells: 0 done, 0 partial, 2 todo" in capsys.readouterr().out
    assert grid_cli.main(["--gin_file", grid_file, *bindings]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "socialiqa" in out and "XTREME-R-style mean" in out
    scores = json.loads((tmp_path / "runs/tiny/seed0/socialiqa/udpos/eval/scores.json").read_text())
    assert set(scores) == {"udpos.en", "udpos.de"}
    assert grid_cli.main(["--gin_file", grid_file, "--dry_run", *bindings]) == 0
    assert "2 cells: 2 done, 0 partial, 0 todo" in capsys.readouterr().out
    # a rerun trains nothing: every phase is DONE
    from xstilts_jax.experiments import pipeline

    monkeypatch.setattr(pipeline, "train", lambda *a, **k: pytest.fail("a done phase was retrained"))
    assert grid_cli.main(["--gin_file", grid_file, *bindings]) == 0
    assert Path(tmp_path / "runs" / "results.sqlite").is_file()
