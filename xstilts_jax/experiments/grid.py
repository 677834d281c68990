"""The experiment grid: model sizes × intermediate (none / each task / mixtures) × targets × seeds.

A grid gin file binds `Grid.*` and the shared settings. A target is a registered target record
(`experiments/targets.py`: training task, eval tasks, recipe), so it needs no gin file. Each cell
names what configures it, in this order (a later binding wins): the grid's own gin files, the
model's gin (`gin/models/<model>.gin`, the rung: its shape and, when it names them, its mesh, slice
and gradient accumulation, which so win over a mesh the grid names for every rung), the command
line's `--gin.X=V` overrides, and the cell's bindings (`Experiment.target`, `Experiment.intermediate`,
`Experiment.seed`, `Experiment.pretrained`, `Experiment.eval_tasks`). `check_rung` refuses, before
anything runs, a rung whose mesh cannot hold a phase's batch.
The command (`tools/grid_cli.py`) owns gin's global config: it parses a cell's gin before running
or inspecting it. A finished phase (`DONE`) is never rerun, so interrupting and restarting a grid
continues where it stopped.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Mapping, Sequence

import gin
from etils import epath

from xstilts_jax.errors import ConfigError
from xstilts_jax.experiments.pipeline import Experiment, phase_done
from xstilts_jax.experiments.targets import get_target, system_name
from xstilts_jax.gin_utils import REPO_ROOT
from xstilts_jax.partitioning import MESH_AXES, MeshConfig, batch_shards, check_micro_batch, get_rules
from xstilts_jax.planning.topology import parse_topology
from xstilts_jax.training.trainer import TrainConfig

DONE, PARTIAL, TODO = "done", "partial", "todo"


@gin.configurable
@dataclasses.dataclass(frozen=True)
class Grid:
    """What the grid spans. `intermediates` may hold None (the baseline); `pretrained` maps a
    model name to its converted checkpoint (models without one start from random init or MLM);
    `eval_tasks` replaces a target's eval tasks (default: its gin's, every language)."""

    models: Sequence[str] = ()
    intermediates: Sequence[str | None] = (None,)
    targets: Sequence[str] = ()
    seeds: Sequence[int] = (0,)
    pretrained: Mapping[str, str] = dataclasses.field(default_factory=dict)
    eval_tasks: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.models or not self.targets:
            raise ConfigError("Grid.models and Grid.targets must each name at least one entry in the grid gin file.")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One grid cell and the gin that configures it."""

    model: str
    intermediate: str | None
    target: str
    seed: int
    gin_files: tuple[str, ...]
    bindings: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.model} / {system_name(self.intermediate)} / {self.target} / seed {self.seed}"

    @property
    def model_gin(self) -> str:
        """The rung's gin file (parsed after the grid's, so its mesh wins)."""
        return self.gin_files[-1]


def _model_gin(name: str) -> str:
    """`gin/models/<name>.gin` (or `name` itself when it is a path to a .gin file)."""
    if name.endswith(".gin"):
        return name
    path = f"gin/models/{name}.gin"
    if not (Path.cwd() / path).exists() and not (REPO_ROOT / path).exists():
        raise ConfigError(f"Grid names model {name!r}, but {path} does not exist; add it or fix the name.")
    return path


def grid_cells(grid: Grid, grid_files: Sequence[str], bindings: Sequence[str] = ()) -> list[Cell]:
    """The cells of `grid` (parsed from `grid_files` and `bindings`) in run order: model, seed,
    intermediate, target."""
    for target in grid.targets:
        get_target(target)  # an unknown target fails here, naming the registered ones
    cells = []
    for model in grid.models:
        for seed in grid.seeds:
            for intermediate in grid.intermediates:
                for target in grid.targets:
                    cell_bindings = [
                        f"Experiment.target = {target!r}",
                        f"Experiment.intermediate = {intermediate!r}",
                        f"Experiment.seed = {seed}",
                    ]
                    if model in grid.pretrained:
                        cell_bindings.append(f"Experiment.pretrained = {grid.pretrained[model]!r}")
                    if target in grid.eval_tasks:
                        cell_bindings.append(f"Experiment.eval_tasks = {list(grid.eval_tasks[target])!r}")
                    files = (*grid_files, _model_gin(model))
                    cells.append(Cell(model, intermediate, target, seed, files, (*bindings, *cell_bindings)))
    return cells


def rung_devices(cell: Cell, mesh: MeshConfig, num_devices: int | None) -> int | None:
    """The devices the rung's mesh spans: its slice's chips when it names `MeshConfig.topology` (which must
    then equal `num_devices`, the devices the grid runs on, when given), else `num_devices`."""
    if mesh.topology is None:
        return num_devices
    chips = parse_topology(mesh.topology, mesh.dcn_data).chips
    if num_devices is not None and chips != num_devices:
        raise ConfigError(
            f"Rung {cell.model} ({cell.model_gin}) is planned on MeshConfig.topology={mesh.topology!r} ({chips} chips), "
            f"but this grid runs on {num_devices} devices; run that rung on its slice (--gin.Grid.models=[...] picks "
            f"rungs) or bind another MeshConfig.topology in {cell.model_gin}."
        )
    return chips


def describe_rung(cell: Cell, mesh: MeshConfig, num_devices: int | None) -> str:
    """One line: the rung's gin, slice, mesh and batch shards (axes as bound when the devices are unknown)."""
    devices = rung_devices(cell, mesh, num_devices)
    where = f"on {mesh.topology}" if mesh.topology else "on the run's devices"
    if devices is None:
        axes = " x ".join(f"{a}={n}" for a, n in mesh.axes().items())
        return f"rung {cell.model} ({cell.model_gin}) {where}: mesh {axes}, rules {mesh.rules}"
    shape = mesh.shape(devices)
    shards = batch_shards(get_rules(mesh.rules), shape)
    sizes = " x ".join(f"{a}={shape[a]}" for a in MESH_AXES)
    return f"rung {cell.model} ({cell.model_gin}) {where}: mesh {sizes}, rules {mesh.rules}, {shards} batch shards"


def check_rung(cell: Cell, mesh: MeshConfig, phases: Mapping[str, TrainConfig], num_devices: int) -> None:
    """A one-line ConfigError naming the rung's model gin and the fix when the grid's devices are not the
    rung's slice, or when its mesh cannot split a phase's micro-batch (batch / accumulate_steps) over its
    batch shards."""
    devices = rung_devices(cell, mesh, num_devices)
    assert devices is not None
    shape, rules = mesh.shape(devices), get_rules(mesh.rules)
    for phase, train in phases.items():
        try:
            check_micro_batch(train.batch_size, train.accumulate_steps, shape, rules)
        except ConfigError as e:
            raise ConfigError(
                f"Rung {cell.model}'s mesh cannot hold its {phase} phase ({train.task}): {e} Bind the fix "
                f"(MeshConfig.*, {phase}/TrainConfig.accumulate_steps) in {cell.model_gin}."
            ) from None


def phase_status(directory: epath.Path) -> str:
    """done (DONE marker), partial (started: checkpoints or predictions on disk), or todo."""
    if phase_done(directory):
        return DONE
    return PARTIAL if directory.is_dir() and any(directory.iterdir()) else TODO


def cell_status(experiment: Experiment, model_name: str) -> tuple[str, dict[str, str]]:
    """A configured cell's status and each of its phases'."""
    phases = {phase: phase_status(d) for phase, d in experiment.phase_dirs(model_name).items()}
    if phases.get("eval") == DONE:
        return DONE, phases
    # a shared phase finished by another cell (MLM, intermediate) is reuse, not this cell's progress
    own = [phases.get("target", TODO), phases.get("eval", TODO)]
    return (PARTIAL if any(s != TODO for s in own) else TODO), phases
