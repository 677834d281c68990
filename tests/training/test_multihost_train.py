"""Training over 2 processes × 4 CPU devices (gloo) with a save and a restore equals 1 process × 8 devices.

`TrainConfig.data_shards=2` makes the global batches independent of the host count: each of the
2 seqio shards fills its half of every global batch, read by its own host in the 2-process run and
both by the one host in the reference run.
"""

import os
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx
from jobs import finish, job_envs, launch, process_env, train_flags

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.cli import main as cli_main
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.experiments.pipeline import model_for, phase_summary
from xstilts_jax.models.ladder import model_config

WORKER = Path(__file__).with_name("multihost_train_worker.py")
STEPS, SAVE_EVERY = 6, 3


def _flags(run_dir: Path) -> list[str]:
    extra = ["--gin.TrainConfig.data_shards=2", "--gin.OptimizerConfig.learning_rate=1e-3"]
    return train_flags(run_dir, STEPS, SAVE_EVERY, *extra)


def _params(checkpoint: Path) -> list[np.ndarray]:
    model = model_for(model_config("tiny"), ["udpos"], 0, str(checkpoint), MeshConfig())
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param).to_pure_dict())]


@pytest.mark.slow
def test_two_process_train_save_restore_equals_one_process(tmp_path, catalog_env):
    multi, single = tmp_path / "multi", tmp_path / "single"
    command = [sys.executable, str(WORKER), str(multi), str(STEPS), *_flags(multi)]
    logs = finish(launch(command, job_envs(process_env(4), 2)))
    assert all(f"resumed {multi} at step {SAVE_EVERY}" in log for log in logs)  # both hosts restored the save
    assert phase_summary(multi)["checkpoint"] == str(multi / "checkpoints" / str(STEPS))
    assert sorted(os.listdir(multi)) == ["DONE", "checkpoints", "operative_config.gin", "tensorboard"]

    assert cli_main(["train", *_flags(single)]) == 0  # the reference: this process, 8 devices
    reference = _params(single / "checkpoints" / str(STEPS))
    resumed = _params(multi / "checkpoints" / str(STEPS))
    uninterrupted = _params(Path(f"{multi}.uninterrupted") / str(STEPS))
    assert len(reference) == len(resumed) == len(uninterrupted) > 0
    for ref, res, straight in zip(reference, resumed, uninterrupted):
        assert np.array_equal(res, straight)  # a restore continues exactly
        np.testing.assert_allclose(res, ref, rtol=0, atol=1e-6)  # cross-process reductions may round differently


def test_data_shards_that_do_not_split_the_batch_are_a_config_error(catalog_env):
    from tasks import vocabulary
    from xstilts_jax.data.batches import BatchSpec, host_batches
    from xstilts_jax.errors import ConfigError

    spec = BatchSpec(task="udpos", split="train", length=32, batch_size=8, data_shards=3)
    with pytest.raises(ConfigError, match=r"data_shards=3 .* global batch size 8; set TrainConfig.data_shards"):
        host_batches(spec, vocabulary.MODEL_VOCABULARY.pad_id, 2)
