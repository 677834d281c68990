"""`xstilts-jax plan`: compile the real train step for a TPU topology (or a GPU cluster) on this CPU and say whether it fits.

    xstilts-jax plan --gin_file=gin/models/encoder_30b.gin --batch=32 --head=classification   # the rung's slice and mesh
    xstilts-jax plan --gin_file=gin/models/encoder_60b.gin --topology=v5p-256 [--mesh=fsdp:-1,tensor:4]
    xstilts-jax plan --gin_file=gin/models/xlmr_large.gin --topology=h100-8 --dtype=bfloat16
        [--num_slices=2] [--batch=N | --batch_tokens=1048576] [--seq_len=512 --remat=full --dtype=bfloat16
        --head=mlm --mfu=0.4] [--optimizer=adamw|adafactor --mu_dtype=bfloat16] [--token_budget=1e12]
    xstilts-jax plan --ladder_table [--models=...] [--generations=v4,v5p,v6e]
    xstilts-jax plan --study=gin/experiments/GRID.gin --topology=v5p-256 [--prices=v5p=4.2] [--mfu=0.4] [--csv=OUT.csv]
        [--seeds=N | --seeds_from=REPORT_DIR/power.csv] [--examples=TASK=N,...]

Exit status: 0 fits, 3 does not fit (the report says what to change), 1 bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Sequence

import gin

from xstilts_jax.errors import ConfigError
from xstilts_jax.gin_utils import add_gin_flags, parse_gin, split_gin_overrides
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.remat import REMAT_POLICIES
from xstilts_jax.partitioning import MESH_AXES, MeshConfig, check_micro_batch, get_rules
from xstilts_jax.planning import ladder_table, study
from xstilts_jax.planning.aot import StepSpec, prepare_environment
from xstilts_jax.planning.plan import format_plan, make_plan
from xstilts_jax.planning.topology import GpuTopology, parse_topology
from xstilts_jax.training.optimizer import OPTIMIZERS, OptimizerConfig

EXIT_DOES_NOT_FIT = 3


def parse_mesh(text: str, base: MeshConfig) -> MeshConfig:
    """'fsdp:-1,tensor:4' (axes not named become 1) → MeshConfig; rules follow tensor unless `rules:` is named."""
    fields: dict[str, object] = {a: 1 for a in MESH_AXES}
    named_rules = None
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition(":")
        if not sep or key not in (*MESH_AXES, "rules", "dcn_data"):
            raise ConfigError(f"--mesh={text!r}: expected comma-separated AXIS:SIZE with AXIS in {MESH_AXES + ('dcn_data',)} or rules:NAME.")
        if key == "rules":
            named_rules = value
        else:
            try:
                fields[key] = int(value)
            except ValueError:
                raise ConfigError(f"--mesh={text!r}: size of {key!r} must be an integer, got {value!r}.") from None
    rules = named_rules or ("fsdp_tensor" if fields["tensor"] != 1 else "fsdp" if base.rules == "fsdp_tensor" else base.rules)
    fields.setdefault("dcn_data", base.dcn_data)
    return MeshConfig(rules=rules, topology=base.topology, **fields)  # type: ignore[arg-type]


def gin_accumulate_steps(head: str) -> int:
    """The rung's gradient accumulation for the phase `head` trains in: `mlm/TrainConfig.accumulate_steps` for
    MLM, `target/TrainConfig.accumulate_steps` otherwise, else the unscoped binding, else 1."""
    scope = "mlm" if head == "mlm" else "target"
    for key in (f"{scope}/TrainConfig.accumulate_steps", "TrainConfig.accumulate_steps"):
        try:
            return int(gin.query_parameter(key))
        except ValueError:
            continue
    return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xstilts-jax plan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_gin_flags(parser)
    parser.add_argument("--topology", help="TPU slice: v4-512, v5p-256, v5e-256, v6e-256, or libtpu form v5p:4x4x8; GPUs: h100-8, "
                        "h200-16, ... (default: MeshConfig.topology, the slice the model gin plans its rung on)")
    parser.add_argument("--num_slices", type=int, help="slices joined over DCN (default: MeshConfig.dcn_data from gin, else 1)")
    parser.add_argument("--mesh", help="mesh axes, e.g. fsdp:-1,tensor:4 (default: MeshConfig from gin, else fsdp:-1)")
    parser.add_argument("--batch", type=int, help="global batch in rows (default: 2 per chip)")
    parser.add_argument("--batch_tokens", type=int, help="global batch in tokens (rows = batch_tokens / seq_len), as pretraining counts it")
    parser.add_argument("--seq_len", type=int, default=512)
    parser.add_argument("--head", default="mlm", help="mlm (pretraining), classification, tagging or span")
    parser.add_argument("--remat", help="none, save_dots or full (default: EncoderConfig.remat from gin)")
    parser.add_argument("--dtype", help="compute dtype (default: EncoderConfig.dtype from gin)")
    parser.add_argument("--accumulate_steps", type=int, help="micro-steps per step (default: the gin's TrainConfig.accumulate_steps "
                        "of the head's phase, mlm/ for --head=mlm, target/ otherwise; else 1)")
    parser.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilization for the stated step time")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="adamw", help="optimizer whose state is compiled and counted")
    parser.add_argument("--mu_dtype", choices=("float32", "bfloat16"), default="float32", help="AdamW's first-moment dtype")
    parser.add_argument("--token_budget", type=float, help="tokens to train on (e.g. 1e12): prints steps and days at --mfu")
    parser.add_argument("--ladder_table", action="store_true", help="search the smallest fitting slice per model and TPU; print the README table")
    parser.add_argument("--models", default=",".join(ladder_table.TABLE_MODELS), help="models for --ladder_table")
    parser.add_argument("--generations", default=",".join(ladder_table.TABLE_GENERATIONS), help="TPU generations for --ladder_table")
    parser.add_argument("--remats", default=",".join(ladder_table.REMATS), help="remat policies the --ladder_table search tries")
    parser.add_argument("--study", nargs="+", metavar="GRID.gin", help="chip-hours and cost of every cell of a grid (analytic, no compile)")
    parser.add_argument("--prices", help="--study: USD per chip-hour by accelerator, e.g. v5p=4.2,h100=3.0")
    parser.add_argument("--csv", help="--study: also write one row per (cell, phase) to this CSV")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, help="--study: seeds per cell instead of the grid's")
    seeds.add_argument("--seeds_from", help="--study: seeds per target from `analyze --power`'s power.csv")
    parser.add_argument("--examples", help="--study: train examples of tasks whose source states none, e.g. udpos.en=12543")
    return parser


def print_study(args: argparse.Namespace, bindings: Sequence[str]) -> int:
    """Print (and optionally write) the study plan of a grid."""
    prices = study.parse_prices(args.prices)
    examples = study.parse_examples(args.examples)
    seeds: int | dict[str, int] | None = args.seeds
    note = ""
    if args.seeds_from:
        most, seeds = study.seeds_from_power(args.seeds_from)
        note = (f"seeds from the power plan {args.seeds_from}: per target where its trends name it ("
                + ", ".join(f"{m} {n}" for m, n in sorted(seeds.items())) + f"), else {most} (the largest), not the grid's.")
    costs = study.plan_study(args.study, bindings, args.topology, args.mfu, seeds, examples)
    print(study.format_study(costs, prices, args.mfu, note))
    if args.csv:
        print(f"wrote {study.write_study_csv(args.csv, costs, prices)}")
    return 0


def print_ladder_table(args: argparse.Namespace) -> int:
    """Print the table row by row (each row is one or more compiles)."""
    work, remats = ladder_table.Workload(seq_len=args.seq_len), tuple(args.remats.split(","))
    for gen in args.generations.split(","):
        parse_topology(f"{gen}-8")  # a clear error for an unknown generation
    for remat in remats:
        if remat not in REMAT_POLICIES:
            raise ConfigError(f"--remats: unknown remat policy {remat!r}; choose from {sorted(REMAT_POLICIES)}.")
    print(ladder_table.caption(work, remats) + "\n")
    print(ladder_table.HEADER, flush=True)
    rows = ladder_table.ladder_rows(
        args.models.split(","), args.generations.split(","), work, remats,
        progress=lambda what: print(f"planning {what} ...", file=sys.stderr, flush=True),
    )
    for row in rows:
        print(row, flush=True)
    return 0


def _rows(args: argparse.Namespace, chips: int) -> int:
    """The global batch in rows: --batch, or --batch_tokens / --seq_len, else 2 per chip."""
    if args.batch_tokens is None:
        return args.batch or 2 * chips
    if args.batch is not None:
        raise ConfigError("give the batch once: --batch (rows) or --batch_tokens (tokens), not both.")
    if args.batch_tokens % args.seq_len or args.batch_tokens < args.seq_len:
        raise ConfigError(f"--batch_tokens={args.batch_tokens} must be a positive multiple of --seq_len={args.seq_len}.")
    return args.batch_tokens // args.seq_len


def main(argv: Sequence[str]) -> int:
    """Plan one configuration (exit 0 fits, 3 does not) or print the ladder table."""
    argv, bindings = split_gin_overrides(argv)
    args = build_parser().parse_args(argv)
    if args.study:
        return print_study(args, bindings)  # analytic: no JAX backend
    prepare_environment()  # before this process creates its first JAX backend (they are lazy)
    if args.ladder_table:
        return print_ladder_table(args)
    if args.token_budget is not None and args.token_budget <= 0:
        raise ConfigError(f"--token_budget must be positive, got {args.token_budget}.")
    if not args.gin_file:
        raise ConfigError("give the model with --gin_file=gin/models/NAME.gin (and optionally a gin/meshes/ file).")
    parse_gin(args.gin_file, bindings, args.gin_search_path)
    try:
        config = EncoderConfig()
    except (TypeError, ValueError) as e:
        raise ConfigError(f"EncoderConfig from {args.gin_file} + {bindings}: {e}") from e
    config = config.replace(**{k: v for k, v in (("remat", args.remat), ("dtype", args.dtype)) if v})
    mesh_config = parse_mesh(args.mesh, MeshConfig()) if args.mesh else MeshConfig()
    topology_name = args.topology or mesh_config.topology
    if not topology_name:
        raise ConfigError(
            f"--topology is required, e.g. --topology=v5p-256 (or bind MeshConfig.topology in {args.gin_file[0]}, "
            "or use --ladder_table)."
        )
    slices = args.num_slices or mesh_config.dcn_data
    if mesh_config.dcn_data == 1:
        mesh_config = dataclasses.replace(mesh_config, dcn_data=slices)
    if mesh_config.dcn_data != slices:
        raise ConfigError(f"MeshConfig.dcn_data={mesh_config.dcn_data} but --num_slices={slices}; they must match.")
    topology = parse_topology(topology_name, slices)
    if isinstance(topology, GpuTopology):
        prepare_environment(host_devices=topology.chips)  # used only where JAX sees no GPUs
    batch = _rows(args, topology.chips)
    accumulate = args.accumulate_steps or gin_accumulate_steps(args.head)
    try:
        check_micro_batch(batch, accumulate, mesh_config.shape(topology.chips), get_rules(mesh_config.rules))
    except ConfigError as e:
        raise ConfigError(
            f"The mesh of {' + '.join(args.gin_file)} on {topology.user_name} cannot hold the batch: {e} Bind it in the "
            "model gin (MeshConfig.*, TrainConfig.accumulate_steps) or try --mesh / --accumulate_steps."
        ) from None
    spec = StepSpec(config, topology, mesh_config, batch, args.seq_len, args.head, accumulate)
    optimizer = OptimizerConfig(name=args.optimizer, mu_dtype=args.mu_dtype)
    plan = make_plan(spec, args.mfu, optimizer, args.token_budget)
    print(format_plan(plan))
    return 0 if plan.fits else EXIT_DOES_NOT_FIT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
