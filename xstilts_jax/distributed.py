"""Multi-process JAX: `jax.distributed.initialize` from gin or the environment.

On a multi-host Cloud TPU VM JAX finds the coordinator itself, through the TPU metadata server
(`mode="on"`; `tpu_scripts/pod.sh` forces it on every worker with `XSTILTS_DISTRIBUTED=on`, which
overrides gin's default `mode="auto"`). `mode="auto"` also joins when the TPU runtime lists several
workers in `TPU_WORKER_HOSTNAMES` or several slices in `MEGASCALE_NUM_SLICES`. Elsewhere
(CPU clusters, tests) give the coordinator explicitly, in gin or as environment variables:
`XSTILTS_COORDINATOR=host:port XSTILTS_NUM_PROCESSES=N XSTILTS_PROCESS_ID=i`; CPU processes
then talk over gloo.

NVIDIA GPUs (`mode="gpu"`, or `XSTILTS_DISTRIBUTED=gpu` from a launcher): one process per host or
per GPU, collectives over NCCL (the CUDA backend's own). The coordinator comes from gin or the same
`XSTILTS_*` variables; without one, JAX detects a SLURM job (`srun`) or an Open MPI job (`mpirun`)
from their environment variables. `DistributedConfig.local_device_ids` (or
`XSTILTS_LOCAL_DEVICE_IDS=0,1`) limits a process to some of the host's GPUs.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Literal

import jax

import gin
from xstilts_jax.errors import ConfigError

ENV_COORDINATOR = "XSTILTS_COORDINATOR"
ENV_NUM_PROCESSES = "XSTILTS_NUM_PROCESSES"
ENV_PROCESS_ID = "XSTILTS_PROCESS_ID"
ENV_MODE = "XSTILTS_DISTRIBUTED"
ENV_LOCAL_DEVICE_IDS = "XSTILTS_LOCAL_DEVICE_IDS"
MODES = ("auto", "on", "off", "gpu")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DistributedConfig:
    """How this process joins the others. mode: "auto" (explicit coordinator if given, else
    JAX's cluster detection on a multi-host TPU VM, else single-process), "off", or "on"
    (always call `jax.distributed.initialize`, letting JAX detect the cluster), or "gpu" (NVIDIA
    GPUs over NCCL: the explicit coordinator, else JAX's SLURM / Open MPI detection; an error when
    neither is there). The environment variable `XSTILTS_DISTRIBUTED` replaces "auto" (launchers set
    it; an explicit gin mode wins)."""

    mode: Literal["auto", "on", "off", "gpu"] = "auto"
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    local_device_ids: tuple[int, ...] | None = None  # GPUs this process drives; default: all it sees


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} must be an integer.") from None


def _multi_host_tpu_vm() -> bool:
    """A TPU VM that is one worker of several (the TPU runtime lists every worker's hostname), or
    one slice of several (multi-slice sets MEGASCALE_NUM_SLICES)."""
    hosts = [h for h in os.environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h.strip()]
    return len(hosts) > 1 or (_env_int("MEGASCALE_NUM_SLICES") or 1) > 1


def _mode(config: DistributedConfig) -> str:
    """The gin mode, or the launcher's `XSTILTS_DISTRIBUTED` where gin leaves the default "auto"."""
    mode = config.mode
    if mode == "auto" and os.environ.get(ENV_MODE):
        mode, source = os.environ[ENV_MODE], f"environment variable {ENV_MODE}"
    else:
        source = "DistributedConfig.mode"
    if mode not in MODES:
        raise ConfigError(f"{source}={mode!r}; choose 'auto', 'on', 'off' or 'gpu'.")
    return mode


def initialize_from_config(config: DistributedConfig | None = None) -> bool:
    """Join the process group described by gin / the environment; True if JAX is now multi-process.

    Call before anything touches a JAX backend. Calling it again is a no-op.
    """
    config = config or DistributedConfig()
    mode = _mode(config)
    if mode == "off":
        return False
    if jax.distributed.is_initialized():
        return True
    address = config.coordinator_address or os.environ.get(ENV_COORDINATOR) or None
    if address:
        num = config.num_processes if config.num_processes is not None else _env_int(ENV_NUM_PROCESSES)
        pid = config.process_id if config.process_id is not None else _env_int(ENV_PROCESS_ID)
        if num is None or pid is None:
            raise ConfigError(
                f"coordinator {address!r} given but not the process count and index: set DistributedConfig.num_processes "
                f"and .process_id in gin, or {ENV_NUM_PROCESSES} and {ENV_PROCESS_ID}."
            )
        if not 0 <= pid < num:
            raise ConfigError(f"process_id={pid} must be in 0..{num - 1} (num_processes={num}).")
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # only the CPU backend reads it
        jax.distributed.initialize(address, num_processes=num, process_id=pid, **_local_devices(config))
        return True
    if mode == "gpu":
        return _initialize_detected_gpu_cluster(config)
    if mode == "on" or _multi_host_tpu_vm():
        jax.distributed.initialize()
        return True
    return False


def _local_devices(config: DistributedConfig) -> dict[str, list[int]]:
    """`local_device_ids` for `jax.distributed.initialize`, from gin or `XSTILTS_LOCAL_DEVICE_IDS`."""
    ids = config.local_device_ids
    raw = os.environ.get(ENV_LOCAL_DEVICE_IDS, "")
    if ids is None and raw.strip():
        try:
            ids = tuple(int(x) for x in raw.split(","))
        except ValueError:
            raise ConfigError(f"environment variable {ENV_LOCAL_DEVICE_IDS}={raw!r} must be comma-separated GPU indices, e.g. 0,1.") from None
    return {} if ids is None else {"local_device_ids": list(ids)}


# The cluster environments `jax.distributed.initialize()` reads on GPU machines, and the variable each sets.
GPU_CLUSTERS: dict[str, str] = {"SLURM": "SLURM_JOB_ID", "Open MPI": "OMPI_MCA_orte_hnp_uri"}


def _initialize_detected_gpu_cluster(config: DistributedConfig) -> bool:
    """`mode="gpu"` without a coordinator: let JAX read SLURM's or Open MPI's environment."""
    found = [name for name, var in GPU_CLUSTERS.items() if os.environ.get(var)]
    if not found:
        raise ConfigError(
            "DistributedConfig.mode='gpu' found no coordinator and no SLURM or Open MPI job: set "
            f"{ENV_COORDINATOR}, {ENV_NUM_PROCESSES} and {ENV_PROCESS_ID} (or DistributedConfig.coordinator_address / "
            "num_processes / process_id in gin), or launch with srun / mpirun."
        )
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU-only test runs of the same launch
    jax.distributed.initialize(**_local_devices(config))
    return True
