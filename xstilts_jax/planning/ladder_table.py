"""The README's ladder table: the smallest slice and remat policy on which each model's
MLM pretraining step fits, per TPU generation (every cell is a real AOT compile)."""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Sequence

from xstilts_jax.models.ladder import model_config
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.planning.aot import StepSpec
from xstilts_jax.planning.plan import Plan, make_plan
from xstilts_jax.planning.topology import GENERATIONS, GIB, Topology, slice_sizes
from xstilts_jax.models.param_count import count_params

TABLE_MODELS: tuple[str, ...] = ("xlmr_large", "xlmr_xl", "xlmr_xxl", "encoder_30b", "encoder_60b", "encoder_100b")
TABLE_GENERATIONS: tuple[str, ...] = ("v4", "v5p", "v6e")
# Remat policies from least recompute to least memory; the search keeps the first that fits.
REMATS: tuple[str, ...] = ("save_dots", "full")
# Parameters + AdamW moments + gradients in fp32: no plan can fit below this per chip.
STATE_BYTES_PER_PARAM = 16

HEADER = (
    "| model | params | TPU | chips | mesh | remat | memory/chip | HBM | ideal step (100% MFU) | compile |\n"
    "|---|---:|---|---:|---|---|---:|---:|---:|---:|"
)


@dataclasses.dataclass(frozen=True)
class Workload:
    """What every cell trains: MLM on packed rows, `per_chip_batch` rows of `seq_len` per chip."""

    per_chip_batch: int = 2
    seq_len: int = 512
    dtype: str = "bfloat16"


def candidate_topologies(params: int, generation: str) -> list[Topology]:
    """Slices large enough to hold the fp32 training state when fully sharded, smallest first."""
    hbm = GENERATIONS[generation].hbm_bytes
    floor = STATE_BYTES_PER_PARAM * params / hbm
    return [t for t in slice_sizes(generation) if t.chips >= floor]


def smallest_fit(name: str, generation: str, work: Workload, remats: Sequence[str] = REMATS) -> Plan | None:
    """The first (slice, remat) that fits: slices smallest first; on each, the most memory-saving
    remat decides whether the slice can fit, then the others are tried in order of less recompute."""
    base = model_config(name, dtype=work.dtype)
    for topology in candidate_topologies(count_params(base), generation):
        mesh = MeshConfig(data=1, fsdp=-1, tensor=1, rules="fsdp")

        def plan(remat: str, topology: Topology = topology, mesh: MeshConfig = mesh) -> Plan:
            return make_plan(StepSpec(base.replace(remat=remat), topology, mesh, work.per_chip_batch * topology.chips, work.seq_len))

        last = plan(remats[-1])
        if not last.fits:
            continue
        for remat in remats[:-1]:
            cheaper = plan(remat)
            if cheaper.fits:
                return cheaper
        return last
    return None


def format_row(name: str, generation: str, plan: Plan | None, params: int) -> str:
    """One markdown row."""
    if plan is None:
        largest = slice_sizes(generation)[-1].user_name
        return f"| `{name}` | {params / 1e9:.2f}B | {generation} | — | does not fit up to {largest} | — | — | — | — | — |"
    mesh = " x ".join(f"{k} {v}" for k, v in plan.compiled.mesh_shape.items() if v > 1)
    return (
        f"| `{name}` | {params / 1e9:.2f}B | {plan.topology.user_name} | {plan.topology.chips} | {mesh} | {plan.config.remat} "
        f"| {plan.compiled.total_bytes / GIB:.1f} GiB | {plan.hbm_bytes / GIB:.0f} GiB | {plan.ideal_step_s * 1e3:.0f} ms "
        f"| {plan.compiled.compile_s:.0f} s |"
    )


def ladder_rows(
    models: Sequence[str] = TABLE_MODELS,
    generations: Sequence[str] = TABLE_GENERATIONS,
    work: Workload = Workload(),
    remats: Sequence[str] = REMATS,
    progress: Callable[[str], None] = lambda _: None,
) -> Iterator[str]:
    """Markdown rows of the ladder table, one per (model, generation), as they are computed."""
    for name in models:
        params = count_params(model_config(name))
        for gen in generations:
            progress(f"{name} on {gen}")
            yield format_row(name, gen, smallest_fit(name, gen, work, remats), params)


def caption(work: Workload, remats: Sequence[str] = REMATS) -> str:
    """What the table measures, printed above it."""
    tokens = f"{work.per_chip_batch} x {work.seq_len}"
    return (
        f"MLM pretraining step, packed rows, {tokens} tokens per chip, {work.dtype} compute, fp32 params and AdamW, "
        "pure FSDP (`fsdp:-1`); the first slice that fits, then the remat policy with the least recompute "
        f"among {', '.join(remats)}. Ideal step = analytic FLOPs / (chips x peak bf16); divide by your MFU."
    )

