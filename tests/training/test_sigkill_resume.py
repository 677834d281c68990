"""A `train` run killed with SIGKILL mid-training and restarted ends bit-identical to an uninterrupted run."""

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
from tasks import vocabulary
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.experiments.pipeline import model_for, phase_summary
from xstilts_jax.models.ladder import model_config

STEPS = 16


def _command(run_dir: Path) -> list[str]:
    flags = train_flags(run_dir, STEPS, 2, "--gin.OptimizerConfig.learning_rate=1e-3")
    return [sys.executable, "-m", "xstilts_jax.cli", "train", *flags]


def _final_params(run_dir: Path, spm_dir) -> list[np.ndarray]:
    import jax
    from flax import nnx

    checkpoint = phase_summary(run_dir)["checkpoint"]
    assert checkpoint.endswith(f"/{STEPS}")
    model = model_for(model_config("tiny"), ["udpos"], 0, checkpoint, MeshConfig())
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param).to_pure_dict())]


@pytest.mark.slow
def test_sigkill_mid_training_then_restart_is_bit_identical(tmp_path, catalog_env, spm_dir):
    env = process_env(8)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_command(straight), cwd=REPO, env=env, check=True, capture_output=True, timeout=600)

    proc = subprocess.Popen(_command(killed), cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = killed / "checkpoints"
    deadline = time.time() + 300
    while time.time() < deadline and not (checkpoints / "6").is_dir():  # orbax renames a step dir only when complete
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "DONE").exists()
    restarted = subprocess.run(_command(killed), cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert "resumed" in restarted.stdout

    vocabulary.reset()
    os.environ["XSTILTS_VOCAB_DIR"] = str(spm_dir)
    a, b = _final_params(straight, spm_dir), _final_params(killed, spm_dir)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
