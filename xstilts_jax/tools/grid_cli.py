"""`xstilts-jax grid --gin_file=gin/experiments/X.gin [--dry_run] [--keep_going]`: an experiment grid.

`--dry_run` lists each rung's mesh and every cell (model, intermediate, target, seed) with its status —
done (zero-shot scores exist), partial (its target or eval phase started), todo — and each phase's
status. Without it, every rung to run is checked against the devices (its slice, and its mesh holding each
phase's batch), then the todo and partial cells run in order (finished phases are skipped, shared MLM
and intermediate phases are reused), each on its rung's mesh, and a table of target headlines per cell
ends the run.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Iterator, Sequence

import gin
import jax

from xstilts_jax.distributed import initialize_from_config
from xstilts_jax.experiments.grid import DONE, Cell, Grid, cell_status, check_rung, describe_rung, grid_cells
from xstilts_jax.experiments.pipeline import Experiment
from xstilts_jax.experiments.tables import format_grid
from xstilts_jax.experiments.targets import system_name
from xstilts_jax.gin_utils import add_gin_flags, parse_gin, split_gin_overrides
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.tools.run_cli import phase_configs, run_from_gin


def load_cells(grid_files: Sequence[str], bindings: Sequence[str] = ()) -> list[Cell]:
    """The cells of the grid that `grid_files` and `bindings` declare (replaces gin's config)."""
    gin.clear_config()
    parse_gin(grid_files, bindings)
    return grid_cells(Grid(), grid_files, bindings)


def configure(cell: Cell) -> None:
    """Make the cell's gin config the current one."""
    gin.clear_config()
    parse_gin(cell.gin_files, cell.bindings)


def iter_status(cells: Sequence[Cell]) -> Iterator[tuple[Cell, str, dict[str, str]]]:
    """(cell, status, phase statuses) for every cell (configures gin for each in turn)."""
    for cell in cells:
        configure(cell)
        status, phases = cell_status(Experiment(), EncoderConfig().name)
        yield cell, status, phases


def print_rungs(cells: Sequence[Cell]) -> None:
    """One line per rung: its gin, slice, mesh (and batch shards when it names its slice)."""
    first: dict[str, Cell] = {}
    for cell in cells:
        first.setdefault(cell.model, cell)
    for cell in first.values():
        configure(cell)
        print(describe_rung(cell, MeshConfig(), None))


def check_rungs(cells: Sequence[Cell]) -> None:
    """Refuse, before anything runs, a cell whose rung is not planned for these devices or whose mesh cannot
    hold one of its phases' batches (one line naming the rung's gin and the fix)."""
    for cell in cells:
        configure(cell)
        check_rung(cell, MeshConfig(), phase_configs(Experiment()), jax.device_count())


def print_status(cells: Sequence[Cell]) -> dict[str, int]:
    """Print one line per cell; returns the count per status."""
    counts = {"done": 0, "partial": 0, "todo": 0}
    print(f"   {'#':>3}  {'status':<8} {'model':<12} {'intermediate':<22} {'target':<10} {'seed':>4}  phases")
    for i, (cell, status, phases) in enumerate(iter_status(cells), 1):
        counts[status] += 1
        shown = " ".join(f"{phase}:{s}" for phase, s in phases.items())
        print(f"   {i:>3}  {status:<8} {cell.model:<12} {system_name(cell.intermediate):<22} {cell.target:<10} {cell.seed:>4}  {shown}")
    print(f"{len(cells)} cells: {counts['done']} done, {counts['partial']} partial, {counts['todo']} todo")
    return counts


def run_grid(cells: Sequence[Cell], keep_going: bool = False) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Run every cell not done; returns (model, intermediate, seed) → target → zero-shot scores (done cells included)."""
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    statuses = list(iter_status(cells))
    todo = [cell for cell, status, _ in statuses if status != DONE]
    check_rungs(todo)
    print(f"grid: {len(cells)} cells, {len(cells) - len(todo)} done, {len(todo)} to run")
    failures = []
    for i, cell in enumerate(cells, 1):
        print(f"\n=== cell {i}/{len(cells)}: {cell.label}")
        configure(cell)
        try:
            scores = run_from_gin()
        except Exception as e:  # noqa: BLE001 - reported per cell with --keep_going
            if not keep_going:
                raise
            failures.append((cell, e))
            print(f"cell failed: {cell.label}: {e}", file=sys.stderr)
            continue
        rows.setdefault((cell.model, system_name(cell.intermediate), cell.seed), {})[cell.target] = scores
    if failures:
        print(f"{len(failures)} cells failed: " + "; ".join(c.label for c, _ in failures), file=sys.stderr)
    return rows


def main(argv: Sequence[str]) -> int:
    """List or run the grid the gin files declare."""
    argv, bindings = split_gin_overrides(argv)
    parser = argparse.ArgumentParser(prog="xstilts-jax grid", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_gin_flags(parser)
    parser.add_argument("--dry_run", action="store_true", help="list the cells and their status; run nothing")
    parser.add_argument("--keep_going", action="store_true", help="run the other cells when one fails")
    args = parser.parse_args(argv)
    if not args.gin_file:
        parser.error("give the grid's --gin_file (e.g. gin/experiments/demo.gin)")
    cells = load_cells(args.gin_file, bindings)
    if args.dry_run:
        print_rungs(cells)
        print_status(cells)
        return 0
    initialize_from_config()  # after the grid's gin files (they may bind DistributedConfig), before any JAX work
    rows = run_grid(cells, keep_going=args.keep_going)
    print("\ntarget headlines per cell (dev, mean over languages) and their XTREME-R-style mean:")
    print(format_grid(rows, list(dict.fromkeys(cell.target for cell in cells))))
    return 0
