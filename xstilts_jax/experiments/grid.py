"""The experiment grid: model sizes × intermediate (none / each task / mixtures) × targets × seeds.

A grid gin file binds `Grid.*` and the shared settings. A target is a registered target record
(`experiments/targets.py`: training task, eval tasks, recipe), so it needs no gin file. Each cell
names what configures it: the model's gin (`gin/models/<model>.gin`), the grid's own gin files, the
command line's `--gin.X=V` overrides, and the cell's bindings (`Experiment.target`,
`Experiment.intermediate`, `Experiment.seed`, `Experiment.pretrained`, `Experiment.eval_tasks`).
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
                    files = (_model_gin(model), *grid_files)
                    cells.append(Cell(model, intermediate, target, seed, files, (*bindings, *cell_bindings)))
    return cells


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
