"""Multi-process JAX: `jax.distributed.initialize` from gin or the environment.

On a multi-host Cloud TPU VM JAX finds the coordinator itself, through the TPU metadata server
(`mode="on"`; `tpu_scripts/pod.sh` forces it on every worker with `XSTILTS_DISTRIBUTED=on`, which
overrides gin's default `mode="auto"`). `mode="auto"` also joins when the TPU runtime lists several
workers in `TPU_WORKER_HOSTNAMES` or several slices in `MEGASCALE_NUM_SLICES`. Elsewhere
(CPU clusters, tests) give the coordinator explicitly, in gin or as environment variables:
`XSTILTS_COORDINATOR=host:port XSTILTS_NUM_PROCESSES=N XSTILTS_PROCESS_ID=i`; CPU processes
then talk over gloo.
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
MODES = ("auto", "on", "off")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class DistributedConfig:
    """How this process joins the others. mode: "auto" (explicit coordinator if given, else
    JAX's cluster detection on a multi-host TPU VM, else single-process), "off", or "on"
    (always call `jax.distributed.initialize`, letting JAX detect the cluster). The environment
    variable `XSTILTS_DISTRIBUTED` replaces "auto" (launchers set it; an explicit gin mode wins)."""

    mode: Literal["auto", "on", "off"] = "auto"
    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None


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
        raise ConfigError(f"{source}={mode!r}; choose 'auto', 'on' or 'off'.")
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
        jax.distributed.initialize(address, num_processes=num, process_id=pid)
        return True
    if mode == "on" or _multi_host_tpu_vm():
        jax.distributed.initialize()
        return True
    return False
