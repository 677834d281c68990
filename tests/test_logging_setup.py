"""The console filter: known library noise is dropped, real warnings and errors still reach the user."""

import os
import subprocess
import sys

import pytest
from absl import logging as absl_logging

from xstilts_jax.gin_utils import REPO_ROOT
from xstilts_jax.logging_setup import is_noise, quiet_libraries, quiet_native_stderr

ORBAX_NOISE = "Given directory is read only=/runs/demo/toy_s/seed0/mlm/mlm/checkpoints"
SEQIO_NOISE = "Using an uncached FunctionDataset for training is not recommended since it often results in ..."
CUDA_NOISE = "I0000 00:00:1796514806.802633    1415 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\n"
REAL_WARNING = "checkpoint 40 of runs/demo is unreadable; restoring step 20"


def test_the_noise_list_matches_only_the_noise():
    assert is_noise(ORBAX_NOISE) and is_noise(SEQIO_NOISE) and is_noise(CUDA_NOISE)
    assert not is_noise(REAL_WARNING)
    assert not is_noise("E0000 cuda_platform.cc:52] failed to allocate 2.0GiB")  # a real native error stays


def test_library_noise_is_dropped_and_a_real_warning_kept(caplog):
    quiet_libraries()
    quiet_libraries()  # idempotent: one filter per logger
    with caplog.at_level("WARNING"):
        absl_logging.warning(ORBAX_NOISE)
        absl_logging.warning(SEQIO_NOISE)
        absl_logging.warning(REAL_WARNING)
        import logging

        logging.getLogger("tensorflow").warning(SEQIO_NOISE)
        logging.getLogger("tensorflow").error("tf.data: file not found: tasks/data/udpos/de.conllu")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [REAL_WARNING, "tf.data: file not found: tasks/data/udpos/de.conllu"]


def test_native_stderr_noise_is_dropped_and_real_lines_replayed(capfd):
    with quiet_native_stderr():
        os.write(2, CUDA_NOISE.encode())
        os.write(2, b"E0000 xla: real native error\n")
        print("python-level stderr line", file=sys.stderr)
    err = capfd.readouterr().err
    assert "cudart_stub" not in err
    assert "E0000 xla: real native error\n" in err and "python-level stderr line" in err
    os.write(2, CUDA_NOISE.encode())  # outside the block nothing is filtered: the descriptor is restored
    assert "cudart_stub" in capfd.readouterr().err


def test_native_stderr_is_replayed_when_the_block_raises(capfd):
    with pytest.raises(RuntimeError, match="boom"):
        with quiet_native_stderr():
            os.write(2, b"the reason it failed\n")
            raise RuntimeError("boom")
    assert "the reason it failed" in capfd.readouterr().err


@pytest.mark.slow
def test_a_command_that_loads_tensorflow_starts_quietly():
    """`xstilts-jax results --help` imports TensorFlow: no start-up chatter, the help itself printed."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO_ROOT))
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "xstilts_jax.cli", "results", "--help"], capture_output=True, text=True, env=env,
        cwd=REPO_ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: xstilts-jax results" in done.stdout
    assert not [line for line in done.stderr.splitlines() if is_noise(line)], done.stderr
    assert "absl::InitializeLog" not in done.stderr and "cuda" not in done.stderr.lower()
