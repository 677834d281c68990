"""Every path on gs:// (against a local GCS emulator): storage helpers, run checkpoints, converted
models, TensorBoard, the run lock, DONE markers and predictions, and one `xstilts-jax train` run."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
import tensorflow as tf
from flax import nnx

from xstilts_jax import storage
from xstilts_jax.checkpoints.pretrained import load_config, load_pretrained, save_pretrained
from xstilts_jax.checkpoints.run import Checkpointer, load_encoder_from
from xstilts_jax.errors import CheckpointError, ConfigError
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.training.optimizer import OptimizerConfig, make_optimizer
from xstilts_jax.training.run_lock import RunLock
from xstilts_jax.training.train_state import init_train_state, split_model
from xstilts_jax.training.summaries import SummaryWriter


def _params(model) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(nnx.to_pure_dict(nnx.state(model, nnx.Param)))]


def test_as_path_keeps_bucket_uris_and_makes_local_paths_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert str(storage.as_path("gs://bucket/runs/x")) == "gs://bucket/runs/x"
    assert str(storage.as_path("runs/x")) == str(tmp_path / "runs" / "x")
    assert storage.is_remote("gs://b/x") and not storage.is_remote(tmp_path)


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_exclusive_create_atomic_write_and_upload(where, tmp_path, request):
    root = str(tmp_path / "root") if where == "local" else request.getfixturevalue("gcs_dir")
    lock = f"{root}/run/LOCK"
    assert storage.create_exclusive(lock, "first")
    assert not storage.create_exclusive(lock, "second")
    assert storage.as_path(lock).read_text() == "first"
    storage.write_text_atomic(f"{root}/run/DONE", "{}")
    storage.write_text_atomic(f"{root}/run/DONE", '{"a": 1}')
    (tmp_path / "db").write_bytes(b"\x00sqlite")
    storage.upload(tmp_path / "db", f"{root}/results/results.sqlite")
    assert storage.as_path(f"{root}/results/results.sqlite").read_bytes() == b"\x00sqlite"
    assert sorted(p.name for p in storage.as_path(f"{root}/run").iterdir()) == ["DONE", "LOCK"]  # no temporaries left
    assert json.loads(storage.as_path(f"{root}/run/DONE").read_text()) == {"a": 1}


def test_run_checkpoint_saves_restores_and_loads_on_gcs(gcs_dir, tiny_config):
    model = build_model(tiny_config, {"cls": HeadSpec("classification", num_labels=3)}, seed=0)
    _, params = split_model(model)
    state = init_train_state(params, make_optimizer(OptimizerConfig(learning_rate=1e-3), 10), seed=3)
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), state)
    directory = f"{gcs_dir}/run/checkpoints"
    with Checkpointer(directory, save_every=1, keep=2) as checkpointer:
        assert checkpointer.directory == directory  # not made a local ./gs:/ path
        assert checkpointer.save(1, state, {"udpos": 7})
        checkpointer.wait_until_finished()
    with Checkpointer(directory, save_every=1, keep=2) as checkpointer:  # a new process's view: listed from the bucket
        assert checkpointer.all_steps() == [1]
        restored, position = checkpointer.restore(abstract_state=abstract)
    assert position == {"udpos": 7}
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.params), jax.device_get(restored.params))
    loaded = load_encoder_from(f"{directory}/1", build_model(tiny_config, {"cls": HeadSpec("classification", num_labels=3)}, seed=9))
    for a, b in zip(_params(loaded), _params(model)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(CheckpointError, match=f"{gcs_dir}/nowhere does not exist"):
        load_encoder_from(f"{gcs_dir}/nowhere", loaded)


def test_converted_model_round_trips_on_gcs(gcs_dir, tiny_config):
    model = build_model(tiny_config, {"mlm": HeadSpec("mlm")}, seed=1)
    out = f"{gcs_dir}/pretrained/tiny"
    save_pretrained(out, tiny_config, nnx.to_pure_dict(nnx.state(model, nnx.Param)), vocab_dir=None)
    assert sorted(p.name for p in storage.as_path(out).iterdir()) == ["config.json", "model.gin", "params"]
    assert load_config(out) == tiny_config
    for a, b in zip(_params(load_pretrained(out, {"mlm": HeadSpec("mlm")})), _params(model)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(CheckpointError, match="not empty; pass --overwrite"):
        save_pretrained(out, tiny_config, nnx.to_pure_dict(nnx.state(model, nnx.Param)), vocab_dir=None)
    save_pretrained(out, tiny_config, nnx.to_pure_dict(nnx.state(model, nnx.Param)), vocab_dir=None, overwrite=True)
    assert load_config(out) == tiny_config


def test_tensorboard_events_reach_the_bucket(gcs_dir, tmp_path):
    writer = SummaryWriter(f"{gcs_dir}/tensorboard", sync_seconds=0)
    writer.scalars(1, {"train/loss": 2.5})
    uploaded = list(storage.as_path(f"{gcs_dir}/tensorboard").iterdir())
    assert len(uploaded) == 1 and uploaded[0].name.startswith("events.out.tfevents")  # synced while running
    writer.scalars(2, {"train/loss": 1.5})
    writer.close()
    local = tmp_path / uploaded[0].name
    local.write_bytes(uploaded[0].read_bytes())
    losses = [
        (e.step, float(tf.make_ndarray(v.tensor))) for e in tf.compat.v1.train.summary_iterator(str(local)) for v in e.summary.value
    ]
    assert losses == [(1, 2.5), (2, 1.5)]


def test_run_lock_on_gcs_refuses_a_second_writer(gcs_dir):
    with RunLock(gcs_dir):
        holder = json.loads(storage.as_path(f"{gcs_dir}/LOCK").read_text())
        assert holder["host"]
        storage.as_path(f"{gcs_dir}/LOCK").write_text(json.dumps(dict(holder, host="other-host")))
        with pytest.raises(ConfigError, match="in use by process .* on host other-host"):
            RunLock(gcs_dir).__enter__()
    assert not storage.as_path(f"{gcs_dir}/LOCK").exists()
