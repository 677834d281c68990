"""Subprocess jobs of the tests: free loopback ports, process environments, launching and waiting.

Tests that run the CLI or a worker script in fresh processes (one process, or several joined into
one JAX job over gloo) start them here, from the repository root, importing this checkout.
"""

import os
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"


def free_port() -> int:
    """A loopback TCP port no one listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(devices: int, **extra: str) -> dict[str, str]:
    """This process's environment (the catalog's data and vocabulary included) for a process with
    `devices` CPU devices that imports this checkout and the test helpers."""
    path = os.pathsep.join([str(REPO), str(TESTS)])
    return dict(os.environ, XLA_FLAGS=xla_flags(devices), PYTHONPATH=path, **extra)


def xla_flags(devices: int) -> str:
    """This process's XLA flags (the tests' compile options) with `devices` host devices instead of its own count."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    return " ".join([*flags, f"--xla_force_host_platform_device_count={devices}"])


def job_envs(env: dict[str, str], count: int) -> list[dict[str, str]]:
    """The environments of the `count` processes of one job (its coordinator on a free loopback port)."""
    coordinator = f"127.0.0.1:{free_port()}"
    job = dict(env, XSTILTS_COORDINATOR=coordinator, XSTILTS_NUM_PROCESSES=str(count))
    return [dict(job, XSTILTS_PROCESS_ID=str(i)) for i in range(count)]


def launch(command: list[str], envs: list[dict[str, str]]) -> list[subprocess.Popen]:
    """Start `command` once per environment in the repository root, output and errors in one text pipe."""
    return [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for env in envs
    ]


def finish(procs: list[subprocess.Popen], timeout: float = 600, code: int = 0) -> list[str]:
    """Wait for every process; assert each exited with `code` (showing the tails of the logs if not) and return the logs.

    Every pipe is drained at once: waiting on one process while another fills its pipe (64 KB of warnings)
    would block that one in a write while the first waits for it at a barrier."""
    with ThreadPoolExecutor(max_workers=len(procs)) as pool:
        logs = list(pool.map(lambda p: p.communicate(timeout=timeout)[0], procs))
    assert all(p.returncode == code for p in procs), "\n".join(log[-3000:] for log in logs)
    return logs


def train_flags(run_dir: Path, steps: int, save_every: int, *flags: str) -> list[str]:
    """Flags of `xstilts-jax train`: the tiny model on the `udpos` target over the toy 8-device mesh, batch 8,
    length 32, then `flags`."""
    return [
        "--gin_file=gin/models/tiny.gin", "--gin_file=gin/runs/target.gin", "--gin_file=gin/meshes/toy_cpu8.gin",
        "--gin.TASK='udpos'", f"--gin.MODEL_DIR='{run_dir}'", f"--gin.TrainConfig.steps={steps}",
        f"--gin.TrainConfig.save_every={save_every}", "--gin.TrainConfig.batch_size=8", "--gin.TrainConfig.length=32",
        *flags,
    ]
