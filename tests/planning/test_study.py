"""`plan --study`: per-cell chip-hours of a grid from analytic FLOPs, shared phases counted once,
seeds from the power plan, and one-line errors for bad input."""

import csv

import gin
import pytest

from xstilts_jax.analysis.report import POWER_CSV_FIELDS
from xstilts_jax.cli import main as cli
from xstilts_jax.errors import ConfigError
from xstilts_jax.planning import study

V5P_PEAK = 459e12

GRID = """
include 'gin/runs/xstilts.gin'
Grid.models = ['tiny', 'toy_s']
Grid.intermediates = [None, 'socialiqa']
Grid.targets = ['udpos', 'panx']
Grid.seeds = [0, 1]
Experiment.root = '{root}'
Experiment.mlm = 'mlm'
mlm/TrainConfig.steps = 30
mlm/TrainConfig.batch_tokens = 512
mlm/TrainConfig.length = 64
intermediate/TrainConfig.epochs = None
intermediate/TrainConfig.steps = 20
intermediate/TrainConfig.batch_size = 8
intermediate/TrainConfig.length = 64
target/TrainConfig.epochs = None
target/TrainConfig.steps = 40
target/TrainConfig.batch_size = 8
target/TrainConfig.length = 64
"""


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "grid.gin"
    path.write_text(GRID.format(root=tmp_path / "runs"))
    yield str(path)
    gin.clear_config()


def test_one_cell_matches_hand_computed_chip_hours_and_shared_phases_count_once(grid):
    costs = study.plan_study([grid], [], "v5p-8", mfu=0.5)
    assert len(costs) == 2 * 2 * 2 * 2  # rungs × seeds × intermediates × targets
    first = costs[0]
    assert (first.cell.model, first.cell.seed, first.cell.intermediate, first.cell.target) == ("tiny", 0, None, "udpos")
    # tiny: d 64, 2 layers, 4 heads of 16, MLP 128, vocab 1000; 8 rows × 64 tokens = 512 tokens a step.
    block_weights = 2 * (4 * 64 * 64 + 2 * 64 * 128)
    attention = 12 * 2 * 64 * 4 * 16 * 512
    mlm_step = 6 * (block_weights + 64 * 64 + 64 * 1000) * 512 + attention
    target_step = 6 * block_weights * 512 + attention
    flops = 30 * mlm_step + 40 * target_step
    assert first.chip_hours == pytest.approx(flops / (0.5 * V5P_PEAK) / 3600)
    assert first.tokens == 30 * 512 + 40 * 512
    assert first.topology.user_name == "v5p-8"
    # MLM: once per rung; intermediate: once per rung and seed; target: every cell.
    counted = [(c.cell.model, p.phase) for c in costs for p in c.phases if p.counted]
    assert counted.count(("tiny", "mlm")) == 1 and counted.count(("toy_s", "mlm")) == 1
    assert counted.count(("tiny", "intermediate")) == 2
    assert counted.count(("tiny", "target")) == 8


def test_table_and_csv_give_the_whole_study_cost(grid, tmp_path, capsys):
    out_csv = tmp_path / "study.csv"
    assert cli(["plan", "--study", grid, "--topology", "tiny=v5p-8,toy_s=v6e-8", "--prices", "v5p=4.2,v6e=2.7",
                "--mfu", "0.5", "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 16 * 2 + 8 * 1  # MLM + target in every cell, intermediate in the socialiqa ones
    hours = sum(float(r["chip_hours"]) for r in rows)
    cost = sum(float(r["chip_hours"]) * (4.2 if r["slice"] == "v5p-8" else 2.7) for r in rows)
    assert f"whole study: {hours:.4g} chip-hours" in out
    assert {r["slice"] for r in rows if r["model"] == "toy_s"} == {"v6e-8"}
    assert sum(float(r["cost"]) for r in rows) == pytest.approx(cost, rel=1e-5)
    assert f"${cost:.3g} at v5p $4.2/chip-hour, v6e $2.7/chip-hour" in out


def test_seeds_from_the_power_plan_replace_the_grids(grid, tmp_path, capsys):
    power = tmp_path / "power.csv"
    with power.open("w", newline="") as f:
        writer = csv.DictWriter(f, POWER_CSV_FIELDS)
        writer.writeheader()
        writer.writerow({"measure": "udpos", "intermediate": "socialiqa", "source": "ours", "seeds_per_size": 3, "effect": 1.0})
        writer.writerow({"measure": "udpos", "intermediate": "mnli", "source": "ours", "seeds_per_size": 5, "effect": 1.0})
        writer.writerow({"measure": "xnli", "intermediate": "mnli", "source": "ours", "seeds_per_size": "", "effect": 1.0})
    assert study.seeds_from_power(power) == (5, {"udpos": 5})
    costs = study.plan_study([grid], [], "v5p-8", 0.4, seeds={"udpos": 5, "panx": 2})
    seeds = {(c.cell.target, c.cell.seed) for c in costs}
    assert {s for t, s in seeds if t == "udpos"} == set(range(5)) and {s for t, s in seeds if t == "panx"} == {0, 1}
    assert cli(["plan", "--study", grid, "--topology", "v5p-8", "--seeds_from", str(power)]) == 0
    out = capsys.readouterr().out
    assert "seeds from the power plan" in out and "udpos 5" in out and "else 5 (the largest)" in out
    assert "study plan: 40 cells" in out  # 2 rungs × 2 intermediates × 2 targets × 5 seeds


def test_epochs_become_steps_from_the_given_example_counts(grid):
    epochs = ["target/TrainConfig.steps = None", "target/TrainConfig.epochs = 2"]
    costs = study.plan_study([grid], epochs, "v5p-8", 0.4, examples={"udpos": 100, "panx": 36})
    target = {c.cell.target: next(p for p in c.phases if p.phase == "target") for c in costs[:2]}
    assert target["udpos"].steps == 25 and target["panx"].steps == 9  # ceil(2 × 100 / 8), ceil(2 × 36 / 8)
    assert target["udpos"].steps_estimated  # tagging sentences longer than the input are split: more examples
    with pytest.raises(ConfigError, match=r"no train example count for 'panx'; pass --examples panx=N"):
        study.plan_study([grid], epochs, "v5p-8", 0.4, examples={"udpos": 100})


@pytest.mark.parametrize("args, message", [
    (["--examples", "udpos=many"], "--examples: the count of 'udpos' must be a positive integer, got 'many'."),
    (["--prices", "v9=1"], "--prices: unknown accelerator 'v9'"),
    (["--prices", "v6e=2.7"], "--prices has no price for v5p (rung tiny on v5p-8); add v5p=USD_PER_CHIP_HOUR."),
    (["--seeds_from", "/nonexistent/power.csv"], "--seeds_from=/nonexistent/power.csv: no such file"),
    (["--topology", "tiny=v5p-8"], "rung toy_s names no slice; bind MeshConfig.topology in gin/models/toy_s.gin or pass --topology"),
    (["--mfu", "1.5"], "--mfu must be in (0, 1]"),
])
def test_bad_input_is_one_line(grid, capsys, args, message):
    argv = ["plan", "--study", grid, "--topology", "v5p-8", *args]
    assert cli(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_grid_file_is_one_line(tmp_path, capsys):
    assert cli(["plan", "--study", str(tmp_path / "none.gin"), "--topology", "v5p-8"]) == 1
    err = capsys.readouterr().err.strip()
    assert "none.gin" in err and len(err.splitlines()) == 1


def test_the_ladder_study_gin_plans_every_phase(capsys):
    """gin/experiments/ladder_study.gin (the README's example) names an example count for every task it trains
    on epochs; one rung keeps the test short."""
    try:
        costs = study.plan_study(["gin/experiments/ladder_study.gin"], ["Grid.models = ['xlmr_large']"], "v5p-2048", 0.4)
    finally:
        gin.clear_config()
    assert len(costs) == 8 * 8 * 3
    assert sum(p.counted for c in costs for p in c.phases if p.phase == "mlm") == 1
    xnli = next(p for p in costs[0].phases if p.phase == "target")
    assert (xnli.task, xnli.steps) == ("mnli", 24544)  # 2 epochs × 392,702 / 32


def test_without_topology_each_rung_is_planned_on_the_slice_its_gin_names():
    try:
        costs = study.plan_study(
            ["gin/experiments/ladder_study.gin"],
            ["Grid.models = ['xlmr_large', 'encoder_30b']", "Grid.intermediates = [None]", "Grid.targets = ['xnli']",
             "Grid.seeds = [0]"],
            None, 0.4,
        )
    finally:
        gin.clear_config()
    assert {c.cell.model: c.topology.user_name for c in costs} == {"xlmr_large": "v5p-32", "encoder_30b": "v5p-256"}
