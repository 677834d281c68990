"""SIGTERM (a preemption notice) to one host of a `train` run: every host saves the same step and exits 0;
rerunning resumes from that step and finishes. One process alone does the same (run in this process: the
notice is a SIGTERM to the test process itself)."""

import json
import signal
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from jobs import finish, job_envs, launch, process_env, train_flags

from xstilts_jax.errors import Preempted
from xstilts_jax.cli import main as cli_main
from xstilts_jax.training.preemption import PreemptionWatch

STEPS, SAVE_EVERY = 20, 2  # enough steps that the notice lands mid-run (it stops the run within ~2 steps); a regular save shows training is under way


def _flags(run_dir: Path) -> list[str]:
    return train_flags(run_dir, STEPS, SAVE_EVERY, "--gin.TrainConfig.keep=100")


def _command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "xstilts_jax.cli", "train", *_flags(run_dir)]


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
def test_sigterm_to_one_of_two_hosts_saves_everywhere_and_the_rerun_resumes(tmp_path, catalog_env):
    run_dir = tmp_path / "run"
    procs = launch(_command(run_dir), job_envs(process_env(4), 2))
    _signal_mid_run(procs, procs[1], run_dir)  # the notice reaches host 1 only
    logs = finish(procs, code=Preempted.EXIT_CODE)  # unfinished: `train && next` must stop
    steps = {_preempted_step(log) for log in logs}
    assert len(steps) == 1, logs  # every host stopped at the same step
    step = steps.pop()
    assert SAVE_EVERY <= step < STEPS and _steps_on_disk(run_dir)[-1] == step
    assert not (run_dir / "DONE").exists()

    logs = finish(launch(_command(run_dir), job_envs(process_env(4), 2)))  # a restarted job: a fresh coordinator
    assert all(f"resumed {run_dir} at step {step}" in log for log in logs)
    assert json.loads((run_dir / "DONE").read_text())["steps"] == STEPS


@pytest.mark.slow
def test_sigterm_to_a_single_process_saves_and_exits_75(tmp_path, catalog_env, capsys):
    run_dir = tmp_path / "run"
    seen = []
    # the watch installs its handler in the main thread; a SIGTERM outside it must not kill pytest
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("outside the run"))

    ended = threading.Event()

    def notice() -> None:
        while not (run_dir / "checkpoints" / str(SAVE_EVERY)).is_dir():
            if ended.wait(0.05):
                return  # the run ended first: the assertions below say so
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=notice)
    sender.start()
    try:
        assert cli_main(["train", *_flags(run_dir)]) == Preempted.EXIT_CODE  # what the CLI process exits with
    finally:
        ended.set()
        sender.join()
        signal.signal(signal.SIGTERM, previous)
    assert not seen, "the notice arrived outside the training loop"
    step = _preempted_step(capsys.readouterr().out)
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
