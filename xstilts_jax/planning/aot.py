"""Compile the trainer's real train step for a TPU topology on a CPU host (no TPU, no memory),
or for a GPU cluster.

The process must load libtpu as a compile-only backend: call `prepare_environment()`
before JAX creates any backend (the `plan` command does). Parameters, optimizer state
and the batch are abstract (`jax.ShapeDtypeStruct` with shardings); nothing is allocated.

GPUs: on a machine whose JAX sees enough GPUs, the step is compiled for them (XLA's GPU buffer
assignment). Elsewhere JAX cannot compile for a GPU, so the same step is compiled for as many CPU
host devices (`prepare_environment(host_devices=N)`), and the plan says its memory is a CPU-compiled
estimate: the same sharding and the same arrays, but XLA's CPU fusion and attention (the GPU's
cuDNN kernel keeps no [batch, heads, q, k] scores).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Sequence

import jax
from flax import nnx

from xstilts_jax.data.feature_converters import abstract_batch
from xstilts_jax.errors import ConfigError
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.heads import HeadSpec
from xstilts_jax.models.model import Model, build_model
from xstilts_jax.partitioning import MeshConfig, Partitioner
from xstilts_jax.planning.topology import GpuTopology, Topology
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.step_builder import build_train_step

# The heads the planner compiles: the head, and the label kind and packing of the batches it trains on.
PLANNED_HEADS: dict[str, tuple[HeadSpec, str, bool]] = {
    "mlm": (HeadSpec("mlm"), "tokens", True),
    "classification": (HeadSpec("classification", 3), "class", False),
    "tagging": (HeadSpec("tagging", 17), "tags", False),
    "span": (HeadSpec("span"), "span", False),
}


# Let libtpu load as a compile-only backend on a machine without TPUs, quietly.
PLANNER_ENV: dict[str, str] = {
    "ALLOW_MULTIPLE_LIBTPU_LOAD": "1",
    "TPU_SKIP_MDS_QUERY": "1",
    "TPU_STDERR_LOG_LEVEL": "3",
    "TPU_MIN_LOG_LEVEL": "3",
}


def prepare_environment(host_devices: int | None = None) -> None:
    """Set `PLANNER_ENV` (unless already set), and `host_devices` CPU devices for a GPU plan compiled on
    the CPU; call before the process's first JAX backend."""
    for key, value in PLANNER_ENV.items():
        os.environ.setdefault(key, value)
    if host_devices:
        flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
        os.environ["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count={host_devices}"])


def gpu_devices(topology: GpuTopology) -> list[jax.Device]:
    """`topology.chips` GPUs when JAX sees that many, else as many CPU host devices (a CPU-compiled estimate)."""
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:  # no GPU backend in this process
        gpus = []
    if len(gpus) >= topology.chips:
        return list(gpus[: topology.chips])
    cpus = jax.devices("cpu")
    if len(cpus) < topology.chips:
        raise ConfigError(
            f"{topology.describe()}: no {topology.chips} GPUs here and only {len(cpus)} CPU host devices to compile the "
            f"estimate for; start the process with XLA_FLAGS=--xla_force_host_platform_device_count={topology.chips} "
            "(`xstilts-jax plan` sets it)."
        )
    return list(cpus[: topology.chips])


def topology_devices(topology: Topology | GpuTopology) -> list[jax.Device]:
    """Compile-only devices of a TPU `topology` from libtpu; for a GPU cluster, `gpu_devices`."""
    if isinstance(topology, GpuTopology):
        return gpu_devices(topology)
    from jax.experimental import topologies

    kwargs: dict[str, object] = {"chip_config_name": topology.generation.chip_config}
    if topology.num_slices > 1:
        kwargs["num_slices"] = topology.num_slices
    try:
        devices = list(topologies.get_topology_desc(topology.libtpu_name, "tpu", **kwargs).devices)
    except Exception as e:  # libtpu reports bad shapes as RuntimeError/ValueError with its own text
        raise ConfigError(
            f"libtpu cannot describe topology {topology.describe()}: {e}. Install libtpu (pip install -e '.[tpu]') "
            "and use a standard slice size."
        ) from e
    if len(devices) != topology.chips:
        raise ConfigError(f"libtpu gave {len(devices)} devices for {topology.describe()}; expected one per chip.")
    return devices


class CompilerOutOfMemory(Exception):
    """The TPU compiler refused the step: its buffers cannot fit in HBM at all."""

    def __init__(self, message: str, compile_s: float, mesh_shape: dict[str, int]):
        super().__init__(message)
        self.compile_s = compile_s
        self.mesh_shape = mesh_shape


@dataclasses.dataclass(frozen=True)
class CompiledStep:
    """Per-chip memory of the compiled step (bytes) and how long compiling took."""

    argument_bytes: int
    output_bytes: int
    alias_bytes: int
    temp_bytes: int
    code_bytes: int
    compile_s: float
    mesh_shape: dict[str, int]
    platform: str = "tpu"  # the devices compiled for: "cpu" for a GPU plan made without GPUs

    @property
    def total_bytes(self) -> int:
        """Peak per-chip footprint: inputs + outputs not donated into inputs + temporaries + code."""
        return self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes + self.code_bytes


def planned_batch(head: str, batch: int, seq_len: int) -> dict[str, jax.ShapeDtypeStruct]:
    """Shapes of one global batch for `head`, as its feature converter emits them."""
    if head not in PLANNED_HEADS:
        raise ConfigError(f"--head={head!r} cannot be planned; choose one of {sorted(PLANNED_HEADS)}.")
    _, label_kind, pack = PLANNED_HEADS[head]
    return abstract_batch(label_kind, batch, seq_len, pack=pack)


def planned_model(spec: "StepSpec") -> Model:
    """The abstract model (ShapeDtypeStruct parameters) the planner compiles for `spec`."""
    return nnx.eval_shape(lambda: build_model(spec.config, {spec.head: PLANNED_HEADS[spec.head][0]}, seed=0))


@dataclasses.dataclass(frozen=True)
class StepSpec:
    """What to compile: the model, the TPU slice(s), the mesh, and one global batch for one head."""

    config: EncoderConfig
    topology: Topology | GpuTopology
    mesh_config: MeshConfig
    batch: int
    seq_len: int
    head: str = "mlm"
    accumulate_steps: int = 1


def compile_train_step(
    spec: StepSpec, optimizer_config: OptimizerConfig | None = None, devices: Sequence[jax.Device] | None = None
) -> CompiledStep:
    """Lower and compile the trainer's step (`build_train_step`) for `spec.topology` on abstract inputs."""
    config, topology, mesh_config, head = spec.config, spec.topology, spec.mesh_config, spec.head
    batch, seq_len = spec.batch, spec.seq_len
    if seq_len > config.max_length:
        raise ConfigError(f"--seq_len={seq_len} exceeds {config.name}'s position table ({config.max_length}).")
    devices = list(devices) if devices is not None else topology_devices(topology)
    partitioner = Partitioner.from_config(mesh_config, devices)
    partitioner.check_batch_divisible(batch, spec.accumulate_steps)
    example = planned_batch(head, batch, seq_len)
    model = planned_model(spec)
    train_step = build_train_step(
        model, optimizer_config or OptimizerConfig(), partitioner, 1000, accumulate_steps=spec.accumulate_steps
    )
    start = time.perf_counter()
    try:
        compiled = train_step.jit(head).lower(train_step.abstract_state, example).compile()
    except jax.errors.JaxRuntimeError as e:
        if "RESOURCE_EXHAUSTED" in str(e):
            mesh_shape = dict(partitioner.mesh.shape)
            raise CompilerOutOfMemory(str(e).splitlines()[0], time.perf_counter() - start, mesh_shape) from e
        raise
    seconds = time.perf_counter() - start
    mem = compiled.memory_analysis()
    return CompiledStep(
        argument_bytes=int(mem.argument_size_in_bytes),
        output_bytes=int(mem.output_size_in_bytes),
        alias_bytes=int(mem.alias_size_in_bytes),
        temp_bytes=int(mem.temp_size_in_bytes),
        code_bytes=int(mem.generated_code_size_in_bytes),
        compile_s=seconds,
        mesh_shape=dict(partitioner.mesh.shape),
        platform=devices[0].platform,
    )
