"""Meshes, logical axis rules and shardings (t5x conventions, `jax.jit` with shardings).

Every parameter carries logical axis names (`batch, length, embed, heads, kv, mlp,
vocab, layers, choices`). A *rules preset* maps logical names to mesh axes
(`data, fsdp, tensor`); a logical name maps to the first of its mesh axes not yet
used by an earlier dimension of the same array, as in t5x.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
from typing import Any, Iterator, Mapping, Sequence

import gin
import jax
import numpy as np
from flax import nnx
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from xstilts_jax.errors import ConfigError

MESH_AXES: tuple[str, ...] = ("data", "fsdp", "tensor")
LOGICAL_AXES: tuple[str, ...] = ("batch", "length", "embed", "heads", "kv", "mlp", "vocab", "layers", "choices")

MeshAxes = str | tuple[str, ...] | None
Rules = tuple[tuple[str, MeshAxes], ...]

# Presets by name. Unlisted logical axes are replicated.
RULES_PRESETS: dict[str, Rules] = {
    # Parameters replicated; the batch split over every device.
    "data_parallel": (("batch", ("data", "fsdp", "tensor")),),
    # ZeRO-3 style: parameters and optimizer state sharded along `embed` over fsdp.
    "fsdp": (
        ("batch", ("data", "fsdp")),
        ("embed", "fsdp"),
        ("vocab", "tensor"),
    ),
    # FSDP plus Megatron-style tensor parallelism over heads / mlp / vocab.
    "fsdp_tensor": (
        ("batch", ("data", "fsdp")),
        ("embed", "fsdp"),
        ("heads", "tensor"),
        ("mlp", "tensor"),
        ("vocab", "tensor"),
    ),
}


def get_rules(name: str) -> Rules:
    """The logical-axis rules preset called `name`."""
    if name not in RULES_PRESETS:
        raise ConfigError(f"Unknown logical axis rules preset {name!r}; choose one of {sorted(RULES_PRESETS)}.")
    return RULES_PRESETS[name]


def resolve_mesh_shape(axes: Mapping[str, int], num_devices: int) -> dict[str, int]:
    """Fill one `-1` axis so the product equals `num_devices`; check divisibility."""
    unknown = [a for a in axes if a not in MESH_AXES]
    if unknown:
        raise ConfigError(f"Unknown mesh axis {unknown[0]!r}; mesh axes are {MESH_AXES}.")
    shape = {a: int(axes.get(a, 1)) for a in MESH_AXES}
    fill = [a for a, n in shape.items() if n == -1]
    if len(fill) > 1:
        raise ConfigError(f"Only one mesh axis may be -1, got {fill}.")
    for a, n in shape.items():
        if n == 0 or n < -1:
            raise ConfigError(f"Mesh axis {a}={n} must be a positive size or -1.")
    known = math.prod(n for n in shape.values() if n != -1)
    if fill:
        if num_devices % known:
            raise ConfigError(
                f"Mesh {dict(axes)}: the fixed axes multiply to {known}, which does not divide the "
                f"{num_devices} devices; choose sizes whose product divides {num_devices}."
            )
        shape[fill[0]] = num_devices // known
    elif known != num_devices:
        raise ConfigError(
            f"Mesh {dict(axes)} has {known} devices but {num_devices} are available; make the product "
            f"equal {num_devices} or set one axis to -1."
        )
    return shape


@gin.configurable
@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Mesh axis sizes (`-1` fills the rest) and the logical rules preset.

    `dcn_data` > 1 is a multi-slice run: `data`, `fsdp` and `tensor` then describe one
    slice (ICI) and the mesh's `data` axis is `dcn_data * data`, its outer factor
    crossing slices over the data-center network (only data parallelism goes over DCN).
    """

    data: int = 1
    fsdp: int = -1
    tensor: int = 1
    rules: str = "fsdp"
    dcn_data: int = 1

    def axes(self) -> dict[str, int]:
        return {"data": self.data, "fsdp": self.fsdp, "tensor": self.tensor}


def make_mesh(config: MeshConfig, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A `Mesh` with axes (data, fsdp, tensor) over `devices` (default: all)."""
    get_rules(config.rules)  # fail early on a bad preset name
    devices = list(jax.devices() if devices is None else devices)
    slices = config.dcn_data
    if slices < 1 or len(devices) % slices:
        raise ConfigError(
            f"MeshConfig.dcn_data={slices} must be a positive number of slices that divides the "
            f"{len(devices)} devices; set it to the number of TPU slices (1 for one slice)."
        )
    shape = resolve_mesh_shape(config.axes(), len(devices) // slices)
    dims = tuple(shape[a] for a in MESH_AXES)
    if slices > 1:
        return Mesh(_hybrid_grid(dims, slices, devices), MESH_AXES)
    try:  # topology-aware device order on TPU; plain order elsewhere
        grid = mesh_utils.create_device_mesh(dims, devices=devices)
    except (ValueError, AssertionError, NotImplementedError):
        grid = np.asarray(devices).reshape(dims)
    return Mesh(grid, MESH_AXES)


def _hybrid_grid(ici: tuple[int, ...], slices: int, devices: Sequence[jax.Device]) -> np.ndarray:
    """Device grid of `slices` slices stacked along the data axis (index 0 of `ici`).

    TPU devices know their slice (`slice_index`); elsewhere each process is a slice when
    there are `slices` processes, else consecutive blocks of devices are (CPU tests).
    """
    dcn = (slices,) + (1,) * (len(ici) - 1)
    if all(hasattr(d, "slice_index") for d in devices):
        return mesh_utils.create_hybrid_device_mesh(ici, dcn, devices=devices)
    if len({d.process_index for d in devices}) == slices:
        return mesh_utils.create_hybrid_device_mesh(ici, dcn, devices=devices, process_is_granule=True)
    grid = np.asarray(devices).reshape((slices,) + ici)
    return grid.reshape((slices * ici[0],) + ici[1:])


def logical_to_mesh_spec(logical: Sequence[str | None] | None, rules: Rules, mesh: Mesh | None = None) -> PartitionSpec:
    """Map logical axis names to a mesh PartitionSpec (t5x semantics).

    Each logical axis takes the mesh axes its rule names, skipping those already used
    by an earlier dimension and, when `mesh` is given, those of size 1.
    """
    if logical is None:
        return PartitionSpec()
    table = dict(rules)
    used: set[str] = set()
    out: list[MeshAxes] = []
    for name in logical:
        target = table.get(name) if name is not None else None
        if target is None:
            out.append(None)
            continue
        cands = (target,) if isinstance(target, str) else tuple(target)
        picked = tuple(
            a for a in cands if a not in used and (mesh is None or mesh.shape[a] > 1)
        )
        used.update(picked)
        out.append(None if not picked else picked[0] if len(picked) == 1 else picked)
    while out and out[-1] is None:
        out.pop()
    return PartitionSpec(*out)


# --- activation constraints --------------------------------------------------------

_CONTEXT: contextvars.ContextVar[Partitioner | None] = contextvars.ContextVar("xstilts_partitioner", default=None)


def current_partitioner() -> "Partitioner | None":
    """The partitioner of the enclosing `Partitioner.activation_rules` context, if any."""
    return _CONTEXT.get()


def constrain(x: jax.Array, logical: Sequence[str | None]) -> jax.Array:
    """Sharding constraint on an activation by logical names; a no-op outside `Partitioner.activation_rules`."""
    partitioner = _CONTEXT.get()
    if partitioner is None:
        return x
    return jax.lax.with_sharding_constraint(x, partitioner.sharding(logical))


# --- the Partitioner ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Partitioner:
    """The mesh and its logical rules, built once from a `MeshConfig` (t5x's `PjitPartitioner`):
    shardings of parameters and batches by logical names, and host-local ↔ global arrays.

    Code that places or moves arrays takes a `Partitioner`, not a (mesh, rules) pair.
    """

    mesh: Mesh
    rules: Rules

    @classmethod
    def from_config(cls, config: MeshConfig, devices: Sequence[jax.Device] | None = None) -> "Partitioner":
        """The partitioner of `config`'s mesh (over `devices`, default all) and rules preset."""
        return cls(make_mesh(config, devices), get_rules(config.rules))

    def spec(self, logical: Sequence[str | None] | None) -> PartitionSpec:
        """The mesh PartitionSpec of an array with these logical axis names."""
        return logical_to_mesh_spec(logical, self.rules, self.mesh)

    def sharding(self, logical: Sequence[str | None] | None) -> NamedSharding:
        """The NamedSharding of an array with these logical axis names."""
        return NamedSharding(self.mesh, self.spec(logical))

    def replicated(self) -> NamedSharding:
        """A sharding that keeps a full copy on every device."""
        return NamedSharding(self.mesh, PartitionSpec())

    @contextlib.contextmanager
    def activation_rules(self) -> Iterator[None]:
        """Context in which `constrain` places activations on this mesh by these rules."""
        token = _CONTEXT.set(self)
        try:
            yield
        finally:
            _CONTEXT.reset(token)

    def module_shardings(self, module: nnx.Module) -> dict[str, Any]:
        """NamedShardings of a module's parameters (pure dict) by their logical axis names."""
        specs = nnx.get_partition_spec(nnx.state(module, nnx.Param))
        axes = jax.tree.map(
            lambda s: tuple(s) if isinstance(s, PartitionSpec) else (),
            nnx.to_pure_dict(specs),
            is_leaf=lambda x: isinstance(x, PartitionSpec),
        )
        return jax.tree.map(self.sharding, axes, is_leaf=lambda x: isinstance(x, tuple))

    def batch_sharding(self, ndim: int) -> NamedSharding:
        """A batch array's sharding: the leading dim on the `batch` rule, the rest replicated."""
        return self.sharding(("batch",) + (None,) * (ndim - 1))

    def batch_shardings(self, batch: Mapping[str, Any]) -> dict[str, NamedSharding]:
        """Shardings for every feature of a batch (arrays or abstract arrays)."""
        return {k: self.batch_sharding(np.ndim(v) if not hasattr(v, "ndim") else v.ndim) for k, v in batch.items()}

    def batch_axes(self) -> tuple[str, ...]:
        """The mesh axes the `batch` rule splits a batch over."""
        spec = self.spec(("batch",))
        axes = spec[0] if len(spec) else None
        return (axes,) if isinstance(axes, str) else tuple(axes or ())

    def batch_shards(self) -> int:
        """How many ways a batch is split (the devices along `batch_axes`)."""
        return math.prod(self.mesh.shape[a] for a in self.batch_axes())

    def check_batch_divisible(self, batch_size: int) -> None:
        """Raise a clear error when the global batch cannot be split over the batch mesh axes."""
        names, shards = self.batch_axes(), self.batch_shards()
        if batch_size % shards:
            raise ConfigError(
                f"Batch size {batch_size} is not divisible by the {shards} batch shards of mesh axes {names}; "
                f"use a batch size that is a multiple of {shards}."
            )

    def to_global(self, batch: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
        """Assemble every host's local rows into global arrays sharded on the `batch` rule."""
        out = {}
        for key, value in batch.items():
            global_shape = (value.shape[0] * jax.process_count(),) + value.shape[1:]
            out[key] = jax.make_array_from_process_local_data(self.batch_sharding(value.ndim), value, global_shape)
        return out

    def to_host_local(self, value: jax.Array) -> np.ndarray:
        """This host's rows of a batch-sharded global array (the inverse of `to_global`)."""
        if jax.process_count() == 1:
            return np.asarray(value)
        from jax.experimental import multihost_utils

        spec = self.batch_sharding(value.ndim).spec
        return np.asarray(multihost_utils.global_array_to_host_local_array(value, self.mesh, spec))
