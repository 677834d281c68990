"""SIGTERM (a preemption notice) to one host of a `train` run: every host saves the same step and exits 0;
rerunning resumes from that step and finishes. One process alone does the same."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xstilts_jax.training.preemption import PreemptionWatch

REPO = Path(__file__).resolve().parents[2]
STEPS, SAVE_EVERY = 40, 2  # enough steps that the notice lands mid-run; a regular save shows training is under way


def _command(run_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "xstilts_jax.cli", "train",
        "--gin_file=gin/models/tiny.gin", "--gin_file=gin/runs/target.gin", "--gin_file=gin/meshes/toy_cpu8.gin",
        "--gin.TASK='udpos'", f"--gin.MODEL_DIR='{run_dir}'", f"--gin.TrainConfig.steps={STEPS}",
        f"--gin.TrainConfig.save_every={SAVE_EVERY}", "--gin.TrainConfig.batch_size=8", "--gin.TrainConfig.length=32",
        "--gin.TrainConfig.keep=100",
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hosts(env: dict[str, str], count: int) -> list[dict[str, str]]:
    """The environments of `count` processes of one job (a coordinator on a free loopback port)."""
    coordinator = f"127.0.0.1:{_free_port()}"
    return [dict(env, XSTILTS_COORDINATOR=coordinator, XSTILTS_PROCESS_ID=str(i)) for i in range(count)]


def _env(catalog_env, catalog_vocab_dir, devices: int) -> dict[str, str]:
    env = dict(os.environ, XSTILTS_DATA_DIR=str(catalog_env), XSTILTS_VOCAB_DIR=str(catalog_vocab_dir))
    return dict(env, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", PYTHONPATH=str(REPO))


def _launch(run_dir: Path, envs: list[dict[str, str]]) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(_command(run_dir), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for env in envs
    ]


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-3000:] for log in logs)
    return logs


def _preempted_step(log: str) -> int:
    lines = [line for line in log.splitlines() if "preempted at step" in line]
    assert len(lines) == 1 and "saved; rerun to resume" in lines[0], log[-3000:]
    return int(lines[0].split("preempted at step ", 1)[1].split(";", 1)[0])


def _signal_mid_run(procs: list[subprocess.Popen], target: subprocess.Popen, run_dir: Path) -> None:
    deadline = time.time() + 300
    while time.time() < deadline and not (run_dir / "checkpoints" / str(SAVE_EVERY)).is_dir():
        assert all(p.poll() is None for p in procs), "a process ended before the preemption notice"
        time.sleep(0.05)
    target.send_signal(signal.SIGTERM)


def _steps_on_disk(run_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())


@pytest.mark.slow
def test_sigterm_to_one_of_two_hosts_saves_everywhere_and_the_rerun_resumes(tmp_path, catalog_env, catalog_vocab_dir):
    run_dir, base = tmp_path / "run", dict(_env(catalog_env, catalog_vocab_dir, 4), XSTILTS_NUM_PROCESSES="2")
    procs = _launch(run_dir, _hosts(base, 2))
    _signal_mid_run(procs, procs[1], run_dir)  # the notice reaches host 1 only
    logs = _finish(procs)
    steps = {_preempted_step(log) for log in logs}
    assert len(steps) == 1, logs  # every host stopped at the same step
    step = steps.pop()
    assert SAVE_EVERY <= step < STEPS and _steps_on_disk(run_dir)[-1] == step
    assert not (run_dir / "DONE").exists()

    logs = _finish(_launch(run_dir, _hosts(base, 2)))  # a restarted job: a fresh coordinator
    assert all(f"resumed {run_dir} at step {step}" in log for log in logs)
    assert json.loads((run_dir / "DONE").read_text())["steps"] == STEPS


@pytest.mark.slow
def test_sigterm_to_a_single_process_saves_and_exits_zero(tmp_path, catalog_env, catalog_vocab_dir):
    run_dir = tmp_path / "run"
    procs = _launch(run_dir, [_env(catalog_env, catalog_vocab_dir, 8)])
    _signal_mid_run(procs, procs[0], run_dir)
    step = _preempted_step(_finish(procs)[0])
    assert SAVE_EVERY <= step < STEPS and _steps_on_disk(run_dir)[-1] == step
    assert not (run_dir / "DONE").exists()


def test_one_process_watch_sees_sigterm_and_restores_the_previous_handler():
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("outer"))  # a stray SIGTERM must not kill pytest
    try:
        with PreemptionWatch() as watch:
            assert not watch.reached(1)
            signal.raise_signal(signal.SIGTERM)
            assert watch.reached(2) and not seen
        signal.raise_signal(signal.SIGTERM)
        assert seen == ["outer"]
    finally:
        signal.signal(signal.SIGTERM, previous)
