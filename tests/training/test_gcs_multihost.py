"""2 processes × 4 CPU devices (gloo) train into a gs:// run directory on a local GCS emulator, save,
restore on both hosts and continue exactly, equal to 1 process × 8 devices; both write one params-only
export; one writer records the results.

`TrainConfig.data_shards=2` makes the global batches independent of the host count: each of the
2 seqio shards fills its half of every global batch, read by its own host in the 2-process run and
both by the one host in the reference run.
"""

import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx
from jobs import finish, job_envs, launch, process_env, train_flags

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax import storage
from xstilts_jax.cli import main as cli_main
from xstilts_jax.experiments.pipeline import model_for, phase_summary
from xstilts_jax.experiments.results.store import ResultsStore
from xstilts_jax.models.ladder import model_config
from xstilts_jax.partitioning import MeshConfig

WORKER = Path(__file__).with_name("gcs_multihost_worker.py")
STEPS, SAVE_EVERY = 4, 2
EXTRA = ("--gin.TrainConfig.data_shards=2", "--gin.OptimizerConfig.learning_rate=1e-3")


def _params(checkpoint: str) -> list[np.ndarray]:
    model = model_for(model_config("tiny"), ["udpos"], 0, checkpoint, MeshConfig())
    return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param).to_pure_dict())]


@pytest.mark.slow
def test_two_hosts_save_restore_and_export_a_run_on_gcs_like_one_host(gcs_dir, catalog_env, tmp_path):
    run_dir = f"{gcs_dir}/runs/udpos"
    flags = train_flags(run_dir, STEPS, SAVE_EVERY, *EXTRA)
    logs = finish(launch([sys.executable, str(WORKER), run_dir, str(STEPS), *flags], job_envs(process_env(4), 2)))
    assert all(f"resumed {run_dir} at step {SAVE_EVERY}" in log for log in logs)  # both hosts restored from the bucket
    assert "refused: process 1 of a 2-process job" in logs[1]

    root = storage.as_path(run_dir)
    assert phase_summary(root)["checkpoint"] == f"{run_dir}/checkpoints/{STEPS}"
    assert {p.name for p in root.iterdir()} >= {"DONE", "checkpoints", "tensorboard", "results.sqlite"}
    assert not (root / "LOCK").exists() and not (root / "results.sqlite.LOCK").exists()
    assert any(p.name.startswith("events.out.tfevents") for p in (root / "tensorboard").iterdir())
    resumed = _params(f"{run_dir}/checkpoints/{STEPS}")
    single = tmp_path / "single"
    assert cli_main(["train", *train_flags(single, STEPS, SAVE_EVERY, *EXTRA)]) == 0  # the reference: this process, 8 devices
    reference, uninterrupted = _params(str(single / "checkpoints" / str(STEPS))), _params(f"{run_dir}.uninterrupted/{STEPS}")
    exported = _params(f"{run_dir}/export")
    assert len(reference) == len(resumed) == len(uninterrupted) == len(exported) > 0
    for res, straight, ref, exp in zip(resumed, uninterrupted, reference, exported):
        assert np.array_equal(res, straight)  # a restore from the bucket continues exactly
        np.testing.assert_allclose(res, ref, rtol=0, atol=1e-6)  # cross-process reductions may round differently
        assert np.array_equal(exp, res)  # the export both hosts wrote holds the last step's parameters
    assert sorted(p.name for p in (root / "export").iterdir()) == ["config.json", "model.gin", "params"]
    with ResultsStore(f"{run_dir}/results.sqlite", create=False) as store:
        assert [r.run_id for r in store.runs()] == [run_dir]  # written once, by process 0
