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
    with pytest.raises(ConfigError, match="environment variable XSTILTS_DISTRIBUTED='yes'; choose 'auto', 'on', 'off' or 'gpu'"):
        initialize_from_config(DistributedConfig())


def _free_slurm_job_id() -> int:
    """A SLURM job id whose coordinator port (JAX: 61440 + id mod 4096) is free on this machine."""
    import socket

    for job in range(4096 + os.getpid() % 4096, 2 * 4096):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 61440 + job % 4096))
                return job
            except OSError:
                continue
    raise RuntimeError("no free port in 61440..65535")


def test_gpu_mode_joins_a_slurm_job_through_jax_detection(tmp_path):
    """`XSTILTS_DISTRIBUTED=gpu` under srun: no coordinator given, JAX reads SLURM's variables (CPU processes here)."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER % 0)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("XSTILTS_", "SLURM_", "OMPI_"))}
    base.update(JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags(2), XSTILTS_DISTRIBUTED="gpu")
    slurm = dict(SLURM_JOB_ID=str(_free_slurm_job_id()), SLURM_STEP_NODELIST="127.0.0.1", SLURM_NTASKS="2")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), "slurm"], env=dict(base, **slurm, SLURM_PROCID=str(i), SLURM_LOCALID=str(i)),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "RESULT 2 4 6.0" in out


def test_gpu_mode_needs_a_coordinator_or_a_cluster(monkeypatch):
    for key in ("XSTILTS_COORDINATOR", "XSTILTS_DISTRIBUTED", "XSTILTS_LOCAL_DEVICE_IDS", "SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError, match="mode='gpu' found no coordinator and no SLURM or Open MPI job"):
        initialize_from_config(DistributedConfig(mode="gpu"))
    calls = []
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setenv("OMPI_MCA_orte_hnp_uri", "1234.0;tcp://10.0.0.1:4000")
    monkeypatch.setenv("XSTILTS_LOCAL_DEVICE_IDS", "0,1")
    assert initialize_from_config(DistributedConfig(mode="gpu")) is True
    assert calls == [((), {"local_device_ids": [0, 1]})]  # JAX's Open MPI detection, two GPUs for this process
    monkeypatch.setenv("XSTILTS_LOCAL_DEVICE_IDS", "first")
    with pytest.raises(ConfigError, match="XSTILTS_LOCAL_DEVICE_IDS='first' must be comma-separated GPU indices"):
        initialize_from_config(DistributedConfig(mode="gpu"))
    calls.clear()
    config = DistributedConfig(mode="gpu", coordinator_address="10.0.0.1:1234", num_processes=4, process_id=3, local_device_ids=(3,))
    assert initialize_from_config(config) is True
    assert calls == [(("10.0.0.1:1234",), {"num_processes": 4, "process_id": 3, "local_device_ids": [3]})]
