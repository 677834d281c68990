"""The experiment grid: cells from one gin file, done/partial/todo status, running what is left."""

import json
from pathlib import Path

import jax
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


# Two rungs, each naming its own mesh in its model gin; the grid's toy_cpu8 mesh is every other rung's.
RUNGS = {
    "toy_s_dp8.gin": "include 'gin/models/toy_s.gin'\ninclude 'gin/meshes/data_parallel.gin'\n",
    "toy_m_fsdp4_tp2.gin": (
        "include 'gin/models/toy_m.gin'\nimport xstilts_jax.partitioning\n"
        "MeshConfig.data = 1\nMeshConfig.fsdp = 4\nMeshConfig.tensor = 2\nMeshConfig.rules = 'fsdp_tensor'\n"
        "target/TrainConfig.accumulate_steps = 2\n"
    ),
}


@pytest.fixture
def rung_grid(grid_file, tmp_path):
    """The grid above over two rungs with their own meshes (and tiny, on the grid's toy_cpu8), one cell each."""
    for name, text in RUNGS.items():
        (tmp_path / name).write_text(text)
    models = [str(tmp_path / name) for name in RUNGS]
    return grid_file, [f"Grid.models = {models + ['tiny']!r}", "Grid.intermediates = [None]", "Grid.seeds = [0]",
                       "Grid.eval_tasks = {'udpos': ['udpos.en']}"]


def test_each_rung_takes_the_mesh_its_model_gin_names(rung_grid, capsys):
    from xstilts_jax.partitioning import MeshConfig

    grid_file, bindings = rung_grid
    cells = load_cells([grid_file], bindings)
    assert [Path(c.model_gin).name for c in cells] == [*RUNGS, "tiny.gin"]
    meshes = []
    for cell in cells:
        grid_cli.configure(cell)
        meshes.append((MeshConfig().data, MeshConfig().fsdp, MeshConfig().tensor, MeshConfig().rules))
    assert meshes == [(-1, 1, 1, "data_parallel"), (1, 4, 2, "fsdp_tensor"), (2, 2, 2, "fsdp_tensor")]
    grid_cli.print_rungs(cells)
    out = capsys.readouterr().out
    assert "toy_m_fsdp4_tp2.gin) on the run's devices: mesh data=1 x fsdp=4 x tensor=2, rules fsdp_tensor" in out
    assert "rung tiny (gin/models/tiny.gin) on the run's devices: mesh data=2 x fsdp=2 x tensor=2" in out


@pytest.mark.parametrize(
    "rung, message",
    [
        # 8 rows / 2 micro-steps = 4 rows per micro-step on 8 data-parallel shards
        ("include 'gin/models/toy_s.gin'\ninclude 'gin/meshes/data_parallel.gin'\nTrainConfig.accumulate_steps = 2\n",
         "Rung {gin}'s mesh cannot hold its target phase (udpos): batch 8 / accumulate_steps 2 = 4 rows per micro-step "
         "is fewer rows than the 8 batch shards of mesh data=8 x fsdp=1 x tensor=1"),
        ("include 'gin/models/toy_s.gin'\nimport xstilts_jax.partitioning\nMeshConfig.topology = 'v5p-8'\n",
         "Rung {gin} ({gin}) is planned on MeshConfig.topology='v5p-8' (4 chips), but this grid runs on 8 devices"),
    ],
)
def test_a_rung_that_cannot_run_here_stops_the_grid_before_anything_runs(grid_file, tmp_path, monkeypatch, rung, message):
    from xstilts_jax.errors import ConfigError

    gin_path = tmp_path / "rung.gin"
    gin_path.write_text(rung)
    monkeypatch.setattr(grid_cli, "run_from_gin", lambda: pytest.fail("a cell ran"))
    with pytest.raises(ConfigError) as info:
        grid_cli.main(["--gin_file", grid_file, f"--gin.Grid.models=['tiny', '{gin_path}']"])
    text = str(info.value)
    assert message.format(gin=gin_path) in text and "\n" not in text
    assert text.endswith(f"in {gin_path}.")


@pytest.mark.slow
def test_a_grid_runs_each_rung_on_its_own_mesh_then_skips_done_cells(rung_grid, tmp_path, capsys, monkeypatch):
    """toy_s on data-parallel 8, toy_m on fsdp 4 x tensor 2 with two micro-steps per step: every phase of a
    cell runs on its rung's mesh (the trained parameters and the evaluation's partitioner say so); the grid
    runs its todo cells, records them, and a rerun trains nothing."""
    from flax import nnx

    from xstilts_jax.experiments import pipeline

    grid_file, bindings = rung_grid
    bindings = [b for b in bindings if not b.startswith("Grid.models")]
    bindings.append(f"Grid.models = {[str(tmp_path / name) for name in RUNGS]!r}")
    flags = [f"--gin.{b.replace(' = ', '=', 1)}" for b in bindings]
    assert grid_cli.main(["--gin_file", grid_file, "--dry_run", *flags]) == 0
    assert "2 cells: 0 done, 0 partial, 2 todo" in capsys.readouterr().out
    seen: list[tuple[str, str, dict, int]] = []
    train, evaluate = pipeline.train, pipeline.evaluate_and_write

    def spy_train(model, run_dir, config, *args, **kwargs):
        result = train(model, run_dir, config, *args, **kwargs)
        param = jax.tree.leaves(nnx.state(result.model, nnx.Param))[0]
        seen.append((model.config.name, "target", dict(param.sharding.mesh.shape), config.accumulate_steps))
        return result

    def spy_evaluate(model, eval_tasks, settings, eval_dir, **kwargs):
        seen.append((model.config.name, "eval", dict(settings.partitioner.mesh.shape), 0))
        return evaluate(model, eval_tasks, settings, eval_dir, **kwargs)

    monkeypatch.setattr(pipeline, "train", spy_train)
    monkeypatch.setattr(pipeline, "evaluate_and_write", spy_evaluate)
    assert grid_cli.main(["--gin_file", grid_file, *flags]) == 0
    assert "baseline" in capsys.readouterr().out
    data_parallel, fsdp_tensor = {"data": 8, "fsdp": 1, "tensor": 1}, {"data": 1, "fsdp": 4, "tensor": 2}
    assert seen == [
        ("toy_s", "target", data_parallel, 1), ("toy_s", "eval", data_parallel, 0),
        ("toy_m", "target", fsdp_tensor, 2), ("toy_m", "eval", fsdp_tensor, 0),
    ]
    done = json.loads((tmp_path / "runs/toy_m/seed0/baseline/udpos/target/DONE").read_text())
    assert done["settings"]["train"]["accumulate_steps"] == 2 and done["steps"] == 2
    scores = json.loads((tmp_path / "runs/toy_s/seed0/baseline/udpos/eval/scores.json").read_text())
    assert set(scores) == {"udpos.en"}
    assert Path(tmp_path / "runs" / "results.sqlite").is_file()

    assert grid_cli.main(["--gin_file", grid_file, "--dry_run", *flags]) == 0
    assert "2 cells: 2 done, 0 partial, 0 todo" in capsys.readouterr().out
    monkeypatch.setattr(pipeline, "train", lambda *a, **k: pytest.fail("a done phase was retrained"))
    assert grid_cli.main(["--gin_file", grid_file, *flags]) == 0


def test_every_ladder_rung_holds_every_phase_of_the_ladder_study_on_its_slice():
    """The shipped rungs' meshes on their own slices split the MLM batch (2048 rows over the rung's accumulation),
    the intermediate tasks' 32 rows and every target's (32, or 16 for QA) evenly over their batch shards."""
    from xstilts_jax.experiments.grid import check_rung, rung_devices
    from xstilts_jax.experiments.pipeline import Experiment
    from xstilts_jax.partitioning import MeshConfig
    from xstilts_jax.tools.run_cli import phase_configs

    cells = load_cells(["gin/experiments/ladder_study.gin"], ["Grid.seeds = [0]", "Grid.intermediates = [None, 'squad', 'mnli']"])
    batches = set()
    for cell in cells:
        grid_cli.configure(cell)
        mesh, phases = MeshConfig(), phase_configs(Experiment())
        check_rung(cell, mesh, phases, rung_devices(cell, mesh, None))
        batches |= {(phase, train.batch_size) for phase, train in phases.items()}
    assert batches == {("mlm", 2048), ("intermediate", 32), ("target", 32), ("target", 16)}
