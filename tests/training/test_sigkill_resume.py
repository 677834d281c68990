"""A `train` run killed with SIGKILL mid-training and restarted ends bit-identical to an uninterrupted run.

Only the killed run needs a process of its own; the uninterrupted reference and the restart run the
same command in this process (same XLA flags, same 8 devices).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from jobs import REPO, process_env, train_flags

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.cli import main as cli_main
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.experiments.pipeline import model_for, phase_summary
from xstilts_jax.models.ladder import model_config

STEPS = 16


def _flags(run_dir: Path) -> list[str]:
    return train_flags(run_dir, STEPS, 2, "--gin.OptimizerConfig.learning_rate=1e-3")


def _final_params(run_dir: Path) -> list[np.ndarray]:
    import jax
    from flax import nnx

    checkpoint = phase_summary(run_dir)["checkpoint"]
    assert checkpoint.endswith(f"/{STEPS}")
    model = model_for(model_config("tiny"), ["udpos"], 0, checkpoint, MeshConfig())
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param).to_pure_dict())]


@pytest.mark.slow
def test_sigkill_mid_training_then_restart_is_bit_identical(tmp_path, catalog_env, capsys):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert cli_main(["train", *_flags(straight)]) == 0

    command = [sys.executable, "-m", "xstilts_jax.cli", "train", *_flags(killed)]
    proc = subprocess.Popen(command, cwd=REPO, env=process_env(8), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = killed / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not (checkpoints / "6").is_dir():  # orbax renames a step dir only when complete
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "DONE").exists() and not (checkpoints / str(STEPS)).exists()
    capsys.readouterr()
    assert cli_main(["train", *_flags(killed)]) == 0  # the restart
    assert f"resumed {killed} at step " in capsys.readouterr().out

    a, b = _final_params(straight), _final_params(killed)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
