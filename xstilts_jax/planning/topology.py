"""Accelerators and the topology names users type: TPU slices (v4-512, v5p-256, v5e-256, v6e-256)
and NVIDIA GPU clusters (h100-8, h200-16: the GPU model and the GPU count).

Per-chip HBM and peak dense bf16 FLOP/s are the published figures: Cloud TPU
(cloud.google.com/tpu/docs/system-architecture-tpu-vm and the per-version pages) and NVIDIA's data
sheets (dense, without sparsity; the SXM parts unless named). v4 and v5p names count TensorCores
(two per chip); v5e and v6e names count chips. `device_kinds` are substrings of
`jax.Device.device_kind` by which the benchmarks find a device's peak (`chip_for_device_kind`).
"""

from __future__ import annotations

import dataclasses
import math
import re

from xstilts_jax.errors import ConfigError

GIB = 1024**3


@dataclasses.dataclass(frozen=True)
class TpuGeneration:
    """One TPU version: its libtpu name, torus rank, HBM and peak bf16 FLOP/s per chip."""

    name: str
    libtpu: str
    torus_dims: int
    hbm_bytes: int
    peak_flops: float
    cores_per_chip_in_name: int  # v4-8 means 8 TensorCores = 4 chips
    max_chips: int
    chip_config: str = "default"  # libtpu's chip_config_name; "megacore": one device per 2-core chip
    device_kinds: tuple[str, ...] = ()


GENERATIONS: dict[str, TpuGeneration] = {
    "v4": TpuGeneration("v4", "v4", 3, 32 * GIB, 275e12, 2, 4096, "megacore", ("TPU v4",)),
    "v5p": TpuGeneration("v5p", "v5p", 3, 95 * GIB, 459e12, 2, 8960, "megacore", ("TPU v5p", "TPU v5")),
    "v5e": TpuGeneration("v5e", "v5e", 2, 16 * GIB, 197e12, 1, 256, "default", ("TPU v5 lite", "TPU v5e")),
    "v6e": TpuGeneration("v6e", "v6e", 2, 32 * GIB, 918e12, 1, 256, "default", ("TPU v6 lite", "TPU v6e", "TPU v6")),
}


@dataclasses.dataclass(frozen=True)
class GpuGeneration:
    """One NVIDIA GPU model: memory and peak dense bf16 FLOP/s per GPU, GPUs per host (NVLink domain)."""

    name: str
    hbm_bytes: int
    peak_flops: float
    device_kinds: tuple[str, ...]
    gpus_per_host: int = 8
    max_chips: int = 4096


# Memory: the data sheet's GB read as GiB (nvidia-smi shows 81559 MiB on an H100 SXM, 143771 MiB on an H200).
GPU_GENERATIONS: dict[str, GpuGeneration] = {
    "h100": GpuGeneration("h100", 80 * GIB, 989.4e12, ("H100",)),  # SXM
    "h100-pcie": GpuGeneration("h100-pcie", 80 * GIB, 756e12, ("H100 PCIe",)),
    "h200": GpuGeneration("h200", 141 * GIB, 989.4e12, ("H200",)),
    "gh200": GpuGeneration("gh200", 96 * GIB, 989.4e12, ("GH200",), gpus_per_host=1),
    "b200": GpuGeneration("b200", 180 * GIB, 2250e12, ("B200",)),
    "a100": GpuGeneration("a100", 80 * GIB, 312e12, ("A100",)),
    "l4": GpuGeneration("l4", 24 * GIB, 121e12, ("L4",)),
}


def chip_for_device_kind(device_kind: str) -> TpuGeneration | GpuGeneration | None:
    """The accelerator whose `device_kinds` entry is the longest substring of `device_kind` (so
    "NVIDIA GH200 480GB" is a GH200, not an H200, and "TPU v5 lite" a v5e, not a v5p); None if none is."""
    best, length = None, 0
    for chip in (*GENERATIONS.values(), *GPU_GENERATIONS.values()):
        for kind in chip.device_kinds:
            if kind.lower() in device_kind.lower() and len(kind) > length:
                best, length = chip, len(kind)
    return best
_ALIASES = {"v5litepod": "v5e", "v5lite": "v5e", "v6": "v6e"}


@dataclasses.dataclass(frozen=True)
class Topology:
    """A TPU slice (or `num_slices` identical slices over DCN) in libtpu's terms."""

    generation: TpuGeneration
    shape: tuple[int, ...]  # chips per torus dimension of one slice
    num_slices: int = 1

    @property
    def chips_per_slice(self) -> int:
        return math.prod(self.shape)

    @property
    def chips(self) -> int:
        return self.chips_per_slice * self.num_slices

    @property
    def libtpu_name(self) -> str:
        """The name `jax.experimental.topologies.get_topology_desc` takes, e.g. 'v5p:4x4x8'."""
        return f"{self.generation.libtpu}:{'x'.join(map(str, self.shape))}"

    @property
    def user_name(self) -> str:
        """The Cloud TPU accelerator type of one slice, e.g. 'v5p-256'."""
        g = self.generation
        return f"{g.name}-{self.chips_per_slice * g.cores_per_chip_in_name}"

    def describe(self) -> str:
        slices = f" x {self.num_slices} slices" if self.num_slices > 1 else ""
        return f"{self.user_name}{slices} ({self.libtpu_name}, {self.chips} chips)"

    def doubled(self) -> "Topology | None":
        """The standard slice with twice the chips, or None when the generation has no larger one."""
        gen = self.generation
        if self.chips_per_slice * 2 > gen.max_chips:
            return None
        return Topology(gen, torus_shape(self.chips_per_slice * 2, gen.torus_dims), self.num_slices)


@dataclasses.dataclass(frozen=True)
class GpuTopology:
    """`chips` NVIDIA GPUs of one model, NCCL between them (one slice, no torus)."""

    generation: GpuGeneration
    chips: int
    num_slices: int = 1

    @property
    def chips_per_slice(self) -> int:
        return self.chips

    @property
    def user_name(self) -> str:
        return f"{self.generation.name}-{self.chips}"

    def describe(self) -> str:
        hosts = max(1, -(-self.chips // self.generation.gpus_per_host))
        gpus = f"{self.chips} {self.generation.name.upper()} GPU{'s' if self.chips > 1 else ''}"
        return f"{self.user_name} ({gpus}, {hosts} host{'s' if hosts > 1 else ''})"

    def doubled(self) -> "GpuTopology | None":
        return GpuTopology(self.generation, self.chips * 2) if self.chips * 2 <= self.generation.max_chips else None


def torus_shape(chips: int, dims: int) -> tuple[int, ...]:
    """The standard slice shape for `chips` chips: start at 2x2(x1) and double the smallest dimension."""
    if chips < 1 or chips & (chips - 1):
        raise ConfigError(f"TPU slices have a power-of-two number of chips, got {chips}.")
    if chips == 1:
        return (1,) * dims
    shape = [1] * dims if dims == 2 else [2, 2, 1]
    while math.prod(shape) < chips:
        i = shape.index(min(shape))
        shape[i] *= 2
        shape.sort()
    return tuple(shape)


def parse_topology(name: str, num_slices: int = 1) -> Topology | GpuTopology:
    """Parse 'v5p-256' (Cloud TPU accelerator type) or 'v5p:4x4x8' (libtpu) into a `Topology`, or
    'h100-8' (GPU model and count) into a `GpuTopology`."""
    if num_slices < 1:
        raise ConfigError(f"--num_slices must be >= 1, got {num_slices}.")
    gpu = re.fullmatch(r"\s*([a-z]+\d+(?:-pcie)?)-(\d+)\s*", name.lower())
    if gpu and gpu.group(1) in GPU_GENERATIONS:
        if num_slices != 1:
            raise ConfigError(f"{name!r}: GPU clusters have no slices; give the total GPU count instead of --num_slices.")
        count = int(gpu.group(2))
        gen = GPU_GENERATIONS[gpu.group(1)]
        if not 1 <= count <= gen.max_chips:
            raise ConfigError(f"{name!r}: the GPU count must be in 1..{gen.max_chips}.")
        return GpuTopology(gen, count)
    known = ", ".join(f"{g}-N" for g in (*GENERATIONS, *GPU_GENERATIONS))
    m = re.fullmatch(r"\s*(v\d+[a-z]*)\s*([-:])\s*([\dx]+)\s*", name.lower())
    if not m:
        raise ConfigError(f"Unknown topology {name!r}; use an accelerator type ({known}, e.g. v5p-256 or h100-8) or a libtpu name like v5p:4x4x8.")
    gen_name = _ALIASES.get(m.group(1), m.group(1))
    if gen_name not in GENERATIONS:
        raise ConfigError(f"Unknown TPU generation {m.group(1)!r} in {name!r}; known: {sorted(GENERATIONS)}.")
    gen = GENERATIONS[gen_name]
    if m.group(2) == ":":
        shape = tuple(int(x) for x in m.group(3).split("x") if x)
        if len(shape) != gen.torus_dims:
            raise ConfigError(f"{gen.name} slices have {gen.torus_dims} torus dimensions; {name!r} has {len(shape)}.")
    else:
        if not m.group(3).isdigit():
            raise ConfigError(f"TPU accelerator type {name!r} must end in a number, e.g. {gen.name}-256.")
        count = int(m.group(3))
        if count % gen.cores_per_chip_in_name:
            raise ConfigError(f"{name!r}: {gen.name} names count TensorCores, so the number must be even.")
        chips = max(count // gen.cores_per_chip_in_name, 1)
        if chips > gen.max_chips:
            raise ConfigError(f"{name!r} has {chips} chips; one {gen.name} slice has at most {gen.max_chips}. Use --num_slices.")
        shape = torus_shape(chips, gen.torus_dims)
    return Topology(gen, shape, num_slices)


def slice_sizes(generation: str, min_chips: int = 4) -> list[Topology]:
    """Every standard single-slice topology of a generation from `min_chips` chips up, smallest first."""
    gen = GENERATIONS[generation]
    out, chips = [], min_chips
    while chips <= gen.max_chips:
        out.append(Topology(gen, torus_shape(chips, gen.torus_dims)))
        chips *= 2
    return out
