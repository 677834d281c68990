"""`initialize_from_config`: two CPU processes (gloo on loopback) form one JAX job and reduce across it."""

import os
import subprocess
import sys
import textwrap

import jax
import pytest
from jobs import free_port, xla_flags

from xstilts_jax.distributed import DistributedConfig, initialize_from_config
from xstilts_jax.errors import ConfigError

WORKER = textwrap.dedent(
    """
    import sys
    import gin
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from xstilts_jax.distributed import initialize_from_config
    if sys.argv[1] == "gin":  # process 0 configured by gin, process 1 by the environment
        gin.parse_config(["DistributedConfig.coordinator_address = '127.0.0.1:%s'",
                          "DistributedConfig.num_processes = 2", "DistributedConfig.process_id = 0"])
    assert initialize_from_config()
    mesh = Mesh(np.array(jax.devices()), ("data",))
    local = np.full((2,), jax.process_index() + 1, np.float32)  # 2 local devices, one row each
    x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), local)
    total = jax.jit(jnp.sum, out_shardings=NamedSharding(mesh, P()))(x)
    print("RESULT", jax.process_count(), jax.device_count(), float(total.addressable_data(0)), flush=True)
    """
)


def test_two_cpu_processes_psum_over_gloo(tmp_path):
    port = free_port()
    script = tmp_path / "worker.py"
    script.write_text(WORKER % port)
    base = {k: v for k, v in os.environ.items() if not k.startswith("XSTILTS_")}
    base.update(JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags(2))
    procs = [
        subprocess.Popen([sys.executable, str(script), "gin"], env=base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        subprocess.Popen(
            [sys.executable, str(script), "env"],
            env=dict(base, XSTILTS_COORDINATOR=f"127.0.0.1:{port}", XSTILTS_NUM_PROCESSES="2", XSTILTS_PROCESS_ID="1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ),
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        # 2 processes x 2 devices; rows 1, 1 (process 0) and 2, 2 (process 1)
        assert "RESULT 2 4 6.0" in out


def test_single_process_and_bad_config(monkeypatch):
    for key in ("XSTILTS_COORDINATOR", "XSTILTS_NUM_PROCESSES", "XSTILTS_PROCESS_ID", "TPU_WORKER_HOSTNAMES",
                "XSTILTS_DISTRIBUTED", "MEGASCALE_NUM_SLICES"):
        monkeypatch.delenv(key, raising=False)
    assert initialize_from_config(DistributedConfig()) is False
    assert initialize_from_config(DistributedConfig(mode="off", coordinator_address="x:1")) is False
    with pytest.raises(ConfigError, match="XSTILTS_NUM_PROCESSES and XSTILTS_PROCESS_ID"):
        initialize_from_config(DistributedConfig(coordinator_address="127.0.0.1:1"))
    with pytest.raises(ConfigError, match="process_id=2 must be in 0..1"):
        initialize_from_config(DistributedConfig(coordinator_address="127.0.0.1:1", num_processes=2, process_id=2))
    monkeypatch.setenv("XSTILTS_NUM_PROCESSES", "two")
    with pytest.raises(ConfigError, match="XSTILTS_NUM_PROCESSES='two' must be an integer"):
        initialize_from_config(DistributedConfig(coordinator_address="127.0.0.1:1", process_id=0))
    with pytest.raises(ConfigError, match="DistributedConfig.mode='sometimes'"):
        initialize_from_config(DistributedConfig(mode="sometimes"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "env, mode, joins",
    [
        ({"XSTILTS_DISTRIBUTED": "on"}, "auto", True),  # pod.sh on a TPU VM: JAX asks the metadata server
        ({"XSTILTS_DISTRIBUTED": "on"}, "off", False),  # an explicit gin mode wins over the launcher
        ({"TPU_WORKER_HOSTNAMES": "t1k-w-0,t1k-w-1"}, "auto", True),
        ({"TPU_WORKER_HOSTNAMES": "t1k-w-0"}, "auto", False),
        ({"MEGASCALE_NUM_SLICES": "2"}, "auto", True),
        ({}, "on", True),
        ({}, "auto", False),
    ],
)
def test_tpu_vm_joins_through_jax_cluster_detection(monkeypatch, env, mode, joins):
    for key in ("XSTILTS_COORDINATOR", "TPU_WORKER_HOSTNAMES", "XSTILTS_DISTRIBUTED", "MEGASCALE_NUM_SLICES"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    calls = []
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: calls.append((a, k)))
    assert initialize_from_config(DistributedConfig(mode=mode)) is joins
    assert calls == ([((), {})] if joins else [])  # no arguments: JAX's own cluster detection


def test_bad_launcher_mode_names_the_variable(monkeypatch):
    monkeypatch.setenv("XSTILTS_DISTRIBUTED", "yes")
    with pytest.raises(ConfigError, match="environment variable XSTILTS_DISTRIBUTED='yes'; choose 'auto', 'on' or 'off'"):
        initialize_from_config(DistributedConfig())
