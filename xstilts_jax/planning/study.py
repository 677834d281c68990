"""`plan --study`: the chip-hours and cost of a whole grid, analytically (no compile).

Each cell of the grid (`experiments/grid.py`: rung × intermediate × target × seed) is configured
from its own gin, as `grid` would run it; each training phase it runs costs
steps × `train_step_flops(batch, length)` model FLOPs, and chip-hours = FLOPs / (MFU × the chip's
peak). A phase whose directory another cell already counted (the MLM phase, once per rung; an
intermediate phase, once per rung and seed) is counted once, in the first cell that needs it.
Steps come from `TrainConfig.steps`, or epochs × the train examples given per task (the grid gin's
`train_examples.counts`, or `--examples`) /
batch; a count of source examples for a task whose preprocessing expands them (QA windows, split
sentences) is marked an estimate.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path
from typing import Mapping, Sequence

import gin
import seqio

from xstilts_jax.data.batches import default_length
from xstilts_jax.data.label_kinds import get_label_kind
from xstilts_jax.data.task_records import get_provider, get_task_record
from xstilts_jax.errors import ConfigError
from xstilts_jax.experiments.grid import Cell
from xstilts_jax.experiments.mixtures import register_mixtures
from xstilts_jax.experiments.pipeline import Experiment
from xstilts_jax.experiments.targets import system_name
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.planning.flops import train_step_flops
from xstilts_jax.planning.topology import GENERATIONS, GPU_GENERATIONS, GpuTopology, Topology, parse_topology
from xstilts_jax.tools.grid_cli import configure, load_cells
from xstilts_jax.tools.run_cli import phase_configs
from xstilts_jax.training.trainer import TrainConfig, heads_of

CSV_FIELDS = (
    "model", "intermediate", "target", "seed", "slice", "phase", "task", "counted", "steps", "steps_estimated",
    "batch", "length", "tokens", "flops", "chip_hours", "cost",
)


@dataclasses.dataclass(frozen=True)
class PhaseCost:
    """One training phase of a cell; `counted` False when an earlier cell already ran it (shared)."""

    phase: str
    task: str
    steps: int
    steps_estimated: bool
    batch: int
    length: int
    flops: float
    chip_hours: float
    counted: bool

    @property
    def tokens(self) -> int:
        return self.steps * self.batch * self.length


@dataclasses.dataclass(frozen=True)
class CellCost:
    """A grid cell on its slice, with the phases it runs."""

    cell: Cell
    topology: Topology | GpuTopology
    phases: tuple[PhaseCost, ...]

    @property
    def chip_hours(self) -> float:
        """This cell's share: its own phases and the shared ones it is the first to need."""
        return sum(p.chip_hours for p in self.phases if p.counted)

    @property
    def tokens(self) -> int:
        return sum(p.tokens for p in self.phases if p.counted)


@gin.configurable
def train_examples(counts: Mapping[str, int] | None = None) -> dict[str, int]:
    """Train examples per task that a grid gin states for the planner (`train_examples.counts`, with
    `import xstilts_jax.planning.study`); `--examples` overrides them."""
    return dict(counts or {})


def parse_assignments(text: str, flag: str) -> dict[str, str]:
    """'a=1,b=2' → {'a': '1', 'b': '2'}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"{flag}={text!r}: expected comma-separated NAME=VALUE, e.g. {flag}=v5p=4.2,v6e=2.7.")
        out[key.strip()] = value.strip()
    return out


def parse_examples(text: str | None) -> dict[str, int]:
    """--examples 'udpos=12543,panx=20000' → train examples by task, for epochs → steps."""
    out = {}
    for task, value in parse_assignments(text or "", "--examples").items():
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"--examples: the count of {task!r} must be a positive integer, got {value!r}.")
        out[task] = int(value)
    return out


def parse_prices(text: str | None) -> dict[str, float]:
    """--prices 'v5p=4.2,h100=3.0' → USD per chip-hour by accelerator generation."""
    prices = {}
    for gen, value in parse_assignments(text or "", "--prices").items():
        if gen not in GENERATIONS and gen not in GPU_GENERATIONS:
            raise ConfigError(f"--prices: unknown accelerator {gen!r}; known: {sorted({*GENERATIONS, *GPU_GENERATIONS})}.")
        try:
            prices[gen] = float(value)
        except ValueError:
            raise ConfigError(f"--prices: the price of {gen!r} must be a number (USD per chip-hour), got {value!r}.") from None
    return prices


def parse_topologies(text: str | None, models: Sequence[str]) -> dict[str, Topology | GpuTopology]:
    """--topology 'v5p-256' (every rung) or 'xlmr_large=v5p-8,encoder_30b=v5p-256' (per rung); none: {}
    (each rung's `MeshConfig.topology` from its gin)."""
    if not text:
        return {}
    if "=" not in text:
        return {model: parse_topology(text) for model in models}
    return {model: parse_topology(name) for model, name in parse_assignments(text, "--topology").items()}


def rung_slice(cell: Cell, slices: Mapping[str, Topology | GpuTopology]) -> Topology | GpuTopology:
    """The cell's slice: --topology's, else the rung's `MeshConfig.topology` (gin must be configured for the cell)."""
    if cell.model in slices:
        return slices[cell.model]
    mesh = MeshConfig()
    if mesh.topology is None:
        raise ConfigError(
            f"plan --study: rung {cell.model} names no slice; bind MeshConfig.topology in {cell.model_gin} or pass "
            f"--topology (one slice for every rung, v5p-256, or per rung, {cell.model}=v5p-256,...)."
        )
    return parse_topology(mesh.topology, mesh.dcn_data)


def seeds_from_power(path: str | Path) -> tuple[int, dict[str, int]]:
    """The largest seed count in `analyze --power`'s power.csv, and the largest per measure (task)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--seeds_from={path}: no such file; write it with `xstilts-jax analyze --power SLOPE` (REPORT_DIR/power.csv).")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "seeds_per_size" not in rows[0] or "measure" not in rows[0]:
        raise ConfigError(f"--seeds_from={path}: expected analyze's power.csv with columns measure and seeds_per_size.")
    per_measure: dict[str, int] = {}
    for row in rows:
        if row["seeds_per_size"]:
            per_measure[row["measure"]] = max(per_measure.get(row["measure"], 0), int(row["seeds_per_size"]))
    if not per_measure:
        raise ConfigError(
            f"--seeds_from={path}: no trend reaches 80% power with a seed count (add sizes past the breakpoint, or measure "
            "the noise with ≥ 3 sizes of paired replicates); give --seeds N instead."
        )
    return max(per_measure.values()), per_measure


def phase_steps(train: TrainConfig, examples: Mapping[str, int]) -> tuple[int, bool]:
    """(steps, estimated): `steps`, or epochs × the train examples `examples` gives per task / batch.
    Sources are never asked (counting some reads or downloads the data); a count of source examples
    for a task whose preprocessing expands them (QA windows, split sentences) makes the steps an estimate."""
    if train.steps is not None:
        return train.steps, False
    total, estimated = 0, False
    for task in seqio.get_subtasks(get_provider(train.task)):
        if task.name not in examples:
            raise ConfigError(
                f"{train.task!r} trains {train.epochs:g} epochs, but the plan has no train example count for "
                f"{task.name!r}; pass --examples {task.name}=N or bind its phase's TrainConfig.steps."
            )
        total += examples[task.name]
        estimated |= get_label_kind(get_task_record(task.name).label_kind).expanding
    return max(1, math.ceil(train.epochs * total / train.batch_size)), estimated  # type: ignore[operator]


def _phase_cost(phase: str, train: TrainConfig, config: EncoderConfig, peak: float, mfu: float,
                examples: Mapping[str, int], counted: bool) -> PhaseCost:
    length = train.length or default_length(train.task, train.input_lengths)
    steps, estimated = phase_steps(train, examples)
    head = "mlm" if heads_of(train.task) == "mlm" else "other"
    flops = steps * train_step_flops(config, train.batch_size, length, head).total
    return PhaseCost(phase, train.task, steps, estimated, train.batch_size, length, flops, flops / (mfu * peak) / 3600, counted)


def plan_study(
    grid_files: Sequence[str], bindings: Sequence[str], topology: str | None, mfu: float,
    seeds: int | Mapping[str, int] | None = None, examples: Mapping[str, int] | None = None,
) -> list[CellCost]:
    """Every cell of the grid with its phases' costs. `seeds` replaces the grid's seeds: a count for every
    target, or per target (targets it does not name take its largest count)."""
    if not 0 < mfu <= 1:
        raise ConfigError(f"--mfu must be in (0, 1], got {mfu}.")
    per_target = dict(seeds) if isinstance(seeds, Mapping) else {}
    most = max(per_target.values()) if per_target else seeds
    if most is not None:
        if most < 1:
            raise ConfigError(f"--seeds must be >= 1, got {most}.")
        bindings = (*bindings, f"Grid.seeds = {list(range(most))}")
    cells = load_cells(grid_files, bindings)
    examples = {**train_examples(), **(examples or {})}
    cells = [c for c in cells if c.seed < per_target.get(c.target, most or math.inf)]
    slices = parse_topologies(topology, sorted({c.model for c in cells}))
    counted: set[str] = set()
    out = []
    for cell in cells:
        configure(cell)
        register_mixtures()
        config, experiment = EncoderConfig(), Experiment()
        chip = rung_slice(cell, slices)
        dirs = experiment.phase_dirs(config.name)
        phases = []
        for phase, train in phase_configs(experiment).items():
            key = str(dirs[phase])
            phases.append(_phase_cost(phase, train, config, chip.generation.peak_flops, mfu, examples, key not in counted))
            counted.add(key)
        out.append(CellCost(cell, chip, tuple(phases)))
    return out


def _money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 1 or usd == 0 else f"${usd:.3g}"


def _cost(hours: float, chip: Topology | GpuTopology, prices: Mapping[str, float]) -> float | None:
    return hours * prices[chip.generation.name] if prices else None


def check_prices(costs: Sequence[CellCost], prices: Mapping[str, float]) -> None:
    """Every accelerator the plan uses has a price (when prices are given at all)."""
    if not prices:
        return
    for c in costs:
        if c.topology.generation.name not in prices:
            raise ConfigError(
                f"--prices has no price for {c.topology.generation.name} (rung {c.cell.model} on {c.topology.user_name}); "
                f"add {c.topology.generation.name}=USD_PER_CHIP_HOUR."
            )


def format_study(costs: Sequence[CellCost], prices: Mapping[str, float], mfu: float, seeds_note: str = "") -> str:
    """The per-cell table, the chip-hours per rung and the whole study's chip-hours and cost."""
    check_prices(costs, prices)
    lines = [
        f"study plan: {len(costs)} cells, analytic model FLOPs at MFU {mfu:g}; shared phases (MLM per rung, intermediate per "
        "rung and seed) are counted in the first cell that needs them (*); ~ marks steps estimated from source examples.",
    ]
    if seeds_note:
        lines.append(seeds_note)
    lines.append(f"{'model':<12} {'intermediate':<22} {'target':<10} {'seed':>4} {'slice':<10} {'steps (phase)':<40} "
                 f"{'tokens':>10} {'chip-h':>10}" + (f" {'cost':>10}" if prices else ""))
    for c in costs:
        steps = " ".join(f"{p.phase[:3]}{'~' if p.steps_estimated else ''}{p.steps}{'*' if p.counted and p.phase != 'target' else ''}"
                         for p in c.phases)
        cost = _cost(c.chip_hours, c.topology, prices)
        lines.append(
            f"{c.cell.model:<12} {system_name(c.cell.intermediate):<22} {c.cell.target:<10} {c.cell.seed:>4} "
            f"{c.topology.user_name:<10} {steps:<40} {c.tokens:>10.3g} {c.chip_hours:>10.4g}" + (f" {_money(cost):>10}" if cost is not None else "")
        )
    rungs: dict[str, list[CellCost]] = {}
    for c in costs:
        rungs.setdefault(c.cell.model, []).append(c)
    for model, group in rungs.items():
        hours = sum(c.chip_hours for c in group)
        mlm = sum(p.chip_hours for c in group for p in c.phases if p.counted and p.phase == "mlm")
        cost = _cost(hours, group[0].topology, prices)
        lines.append(f"rung {model}: {hours:.4g} chip-hours (MLM {mlm:.4g}, fine-tuning {hours - mlm:.4g}) on {group[0].topology.user_name}"
                     + (f", {_money(cost)}" if cost is not None else ""))
    total = sum(c.chip_hours for c in costs)
    line = f"whole study: {total:.4g} chip-hours"
    if prices:
        line += f", {_money(sum(_cost(c.chip_hours, c.topology, prices) or 0.0 for c in costs))} at " + ", ".join(
            f"{g} ${p:g}/chip-hour" for g, p in sorted(prices.items()))
    return "\n".join([*lines, line])


def write_study_csv(path: str | Path, costs: Sequence[CellCost], prices: Mapping[str, float]) -> Path:
    """One row per (cell, phase); `counted` 0 rows are shared phases already counted in an earlier cell."""
    check_prices(costs, prices)
    path = Path(path)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_FIELDS)
        writer.writeheader()
        for c in costs:
            for p in c.phases:
                hours = p.chip_hours if p.counted else 0.0
                cost = _cost(hours, c.topology, prices)
                writer.writerow({
                    "model": c.cell.model, "intermediate": system_name(c.cell.intermediate), "target": c.cell.target,
                    "seed": c.cell.seed, "slice": c.topology.user_name, "phase": p.phase, "task": p.task,
                    "counted": int(p.counted), "steps": p.steps, "steps_estimated": int(p.steps_estimated),
                    "batch": p.batch, "length": p.length, "tokens": p.tokens, "flops": f"{p.flops:.6g}",
                    "chip_hours": f"{hours:.6g}", "cost": "" if cost is None else f"{cost:.6g}",
                })
    return path
