"""Run checkpoints: exact resume on an 8-device fsdp mesh, retention, interrupted saves, phase loading."""

from __future__ import annotations

import dataclasses
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from xstilts_jax.checkpoints.pretrained import save_pretrained
from xstilts_jax.checkpoints.run import Checkpointer, load_encoder_from
from xstilts_jax.errors import CheckpointError, ConfigError, DivergenceError
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.partitioning import MeshConfig, Partitioner
from xstilts_jax.training.optimizer import OptimizerConfig, make_optimizer
from xstilts_jax.training.train_state import TrainState, init_train_state, split_model, train_state_shardings
from xstilts_jax.training.train_step import make_train_step

CLS3 = HeadSpec("classification", num_labels=3)
MLM = HeadSpec("mlm")
TAG5 = HeadSpec("tagging", num_labels=5)
PRESET = "fsdp"


class Setup:
    """The tiny model with a classification head, AdamW, a jitted dropout train step on a (data=2, fsdp=4) mesh."""

    def __init__(self, config, heads=None, optimizer=None):
        self.model = build_model(config, heads or {"cls": CLS3}, seed=0)
        self.graphdef, self.params = split_model(self.model)
        self.optimizer = optimizer or make_optimizer(OptimizerConfig(learning_rate=1e-3, warmup_fraction=0.2), 10)
        self.partitioner = Partitioner.from_config(MeshConfig(rules=PRESET, data=2, fsdp=4))
        abstract = jax.eval_shape(self._init)
        self.shardings = train_state_shardings(self.model, abstract, self.partitioner)
        self.abstract = jax.tree.map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), abstract, self.shardings
        )

    def _init(self) -> TrainState:
        return init_train_state(self.params, self.optimizer, seed=3)

    def fresh(self) -> TrainState:
        """A new sharded step-0 state (new buffers: the train step donates its input)."""
        return jax.jit(self._init, out_shardings=self.shardings)()


def _batches(config, n=5, size=8, length=12):
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        ids = rng.integers(3, config.vocab_size, size=(size, length)).astype(np.int32)
        ids[:, 0], ids[:, -1] = 0, 2
        out.append({"input_ids": jnp.asarray(ids), "labels": jnp.asarray(rng.integers(0, 3, size=size), jnp.int32)})
    return out


def _host(state: TrainState) -> dict:
    """Host copy of every leaf, the RNG key as its raw data."""
    tree = {"step": state.step, "params": state.params, "opt_state": state.opt_state}
    return jax.tree.map(np.asarray, dict(tree, rng=jax.random.key_data(state.rng)))


def _assert_trees_equal(a, b) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(np.testing.assert_array_equal, a, b)


def _params(model) -> dict:
    return nnx.to_pure_dict(nnx.state(model, nnx.Param))


def _steps_on_disk(directory) -> list[int]:
    return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


@pytest.fixture(scope="module")
def setup(tiny_config):
    return Setup(tiny_config)


def test_resume_is_bit_identical_to_an_uninterrupted_run(setup, tiny_config, tmp_path):
    batches = _batches(tiny_config)
    step = jax.jit(
        make_train_step(setup.graphdef, setup.optimizer, "cls", setup.partitioner, dropout=True),
        in_shardings=(setup.shardings, setup.partitioner.batch_shardings(batches[0])),
        out_shardings=(setup.shardings, None),
        donate_argnums=(0,),
    )

    def train(state, start, stop):
        for i in range(start, stop):
            state, _ = step(state, batches[i])
        return state

    reference = _host(train(setup.fresh(), 0, 5))

    directory = str(tmp_path / "checkpoints")
    position = {"examples": {"cls": 24}, "epoch": 0}
    with Checkpointer(directory, save_every=3, keep=2) as checkpointer:
        state = train(setup.fresh(), 0, 3)
        saved = _host(state)
        assert checkpointer.save(3, state, position)
        # the async save must have copied the arrays: the next steps donate (overwrite) them
        state = train(state, 3, 5)
    assert _steps_on_disk(directory) == [3]
    assert not [n for n in os.listdir(directory) if "tmp" in n]
    _assert_trees_equal(_host(state), reference)

    with Checkpointer(directory, save_every=3, keep=2) as checkpointer:
        restored, restored_position = checkpointer.restore_latest_or_none(setup.abstract)
    assert restored_position == position
    assert restored.rng.dtype == setup.abstract.rng.dtype
    _assert_trees_equal(_host(restored), saved)
    for leaf, sharding in zip(jax.tree.leaves(restored), jax.tree.leaves(setup.shardings)):
        assert leaf.sharding == sharding
    assert restored.params["encoder"]["layers"]["query"].sharding.spec == jax.sharding.PartitionSpec(None, "fsdp")
    _assert_trees_equal(_host(train(restored, 3, 5)), reference)


@pytest.mark.parametrize("mode, sign", [("max", 1.0), ("min", -1.0)])
def test_keeps_latest_k_plus_best(setup, tmp_path, mode, sign):
    directory = str(tmp_path / "checkpoints")
    state = setup.fresh()
    scores = {1: 0.5, 2: 0.9, 3: 0.7, 4: None, 5: 0.6, 6: None}
    with Checkpointer(directory, save_every=1, keep=2, best_metric="score", best_mode=mode) as checkpointer:
        for s, score in scores.items():
            metrics = None if score is None else {"score": sign * score, "loss": 1.0}
            assert checkpointer.save(s, state, {"epoch": s}, metrics)
        checkpointer.wait_until_finished()
        # step 4 had no metrics: it falls out with age; steps without metrics never evict the best (2)
        assert _steps_on_disk(directory) == [2, 5, 6]
        assert checkpointer.best_step() == 2
        assert checkpointer.latest_step() == 6
        assert checkpointer.metrics(2) == {"score": sign * 0.9, "loss": 1.0}

    # the ranking survives a restart: it is read back from disk
    with Checkpointer(directory, save_every=1, keep=2, best_metric="score", best_mode=mode) as checkpointer:
        assert checkpointer.best_step() == 2
        checkpointer.save(7, state, {}, {"score": sign * 0.8})
        checkpointer.wait_until_finished()
        assert _steps_on_disk(directory) == [2, 6, 7]
        checkpointer.save(8, state, {}, {"score": sign * 0.95})
        checkpointer.wait_until_finished()
        assert _steps_on_disk(directory) == [7, 8]
        assert checkpointer.best_step() == 8


def test_save_schedule_force_and_no_overwrite(setup, tmp_path):
    directory = str(tmp_path / "checkpoints")
    state = setup.fresh()
    with Checkpointer(directory, save_every=2, keep=5, async_save=False) as checkpointer:
        assert not checkpointer.save(1, state, {})
        assert checkpointer.save(2, state, {})
        assert checkpointer.save(3, state, {"end_of_phase": True}, force=True)
        assert not checkpointer.save(3, state, {}, force=True)  # already on disk: left as it is
        assert checkpointer.all_steps() == [2, 3]
        assert checkpointer.best_step() is None
        with pytest.raises(CheckpointError, match="not JSON-serializable"):
            checkpointer.save(4, state, {"bad": object()})
    with Checkpointer(str(tmp_path / "ranked"), save_every=1, keep=1, best_metric="acc") as ranked:
        with pytest.raises(ConfigError, match="lack the tracked best_metric 'acc'"):
            ranked.save(1, state, {}, {"loss": 1.0})
    with Checkpointer(directory, save_every=2, keep=5) as checkpointer:
        _, position = checkpointer.restore(3, abstract_state=setup.abstract)
        assert position == {"end_of_phase": True}
    with pytest.raises(ConfigError, match="keep must be >= 1"):
        Checkpointer(directory, save_every=1, keep=0)


def test_interrupted_save_is_skipped_on_resume(setup, tmp_path):
    directory = str(tmp_path / "checkpoints")
    with Checkpointer(directory, save_every=2, keep=3) as checkpointer:
        assert checkpointer.restore_latest_or_none(setup.abstract) is None
        checkpointer.save(2, setup.fresh(), {"epoch": 0})
    # a save of step 4 killed before orbax finalized (renamed) it
    partial = os.path.join(directory, "4.orbax-checkpoint-tmp")
    os.makedirs(partial)
    shutil.copytree(os.path.join(directory, "2", "state"), os.path.join(partial, "state"))

    with Checkpointer(directory, save_every=2, keep=3) as checkpointer:
        assert checkpointer.latest_step() == 2
        restored, position = checkpointer.restore_latest_or_none(setup.abstract)
        assert int(restored.step) == 0 and position == {"epoch": 0}
        # the resumed run writes step 4 again, over the unfinished attempt
        assert checkpointer.save(4, restored, {"epoch": 1})
    assert _steps_on_disk(directory) == [2, 4]
    with Checkpointer(directory, save_every=2, keep=3) as checkpointer:
        assert checkpointer.restore_latest_or_none(setup.abstract)[1] == {"epoch": 1}


def test_corrupted_latest_checkpoint_is_skipped_with_a_message(setup, tmp_path, capsys):
    directory = str(tmp_path / "checkpoints")
    with Checkpointer(directory, save_every=2, keep=3, async_save=False) as checkpointer:
        checkpointer.save(2, setup.fresh(), {"epoch": 0})
        checkpointer.save(4, setup.fresh(), {"epoch": 1})
    # garble every array file of step 4 (a disk error, a half-copied directory)
    for root, _, files in os.walk(os.path.join(directory, "4", "state")):
        for name in files:
            if not name.startswith(("_METADATA", "_CHECKPOINT_METADATA", "manifest")):
                with open(os.path.join(root, name), "wb") as f:
                    f.write(b"garbage")
    with Checkpointer(directory, save_every=2, keep=3) as checkpointer:
        _, position = checkpointer.restore_latest_or_none(setup.abstract)
        assert position == {"epoch": 0}
    err = capsys.readouterr().err
    assert "skipped unreadable checkpoints" in err and "step 4" in err and "resumed from step 2" in err
    assert _steps_on_disk(directory) == [2, 4]  # nothing deleted


def test_a_corrupted_final_checkpoint_is_moved_aside_and_written_anew(setup, tmp_path, capsys):
    directory = str(tmp_path / "checkpoints")
    with Checkpointer(directory, save_every=2, keep=3, async_save=False) as checkpointer:
        checkpointer.save(2, setup.fresh(), {"epoch": 0})
        checkpointer.save(4, setup.fresh(), {"epoch": 1})
    _garble(directory, 4)
    with Checkpointer(directory, save_every=2, keep=3, async_save=False) as checkpointer:
        state, _ = checkpointer.restore_latest_or_none(setup.abstract)  # falls back to step 2
        assert checkpointer.save(4, state, {"epoch": 1, "retrained": True})  # the rerun reaches step 4 again
    assert _steps_on_disk(directory) == [2, 4]
    aside = [name for name in os.listdir(directory) if name.startswith("4.unreadable-")]
    assert len(aside) == 1 and os.listdir(os.path.join(directory, aside[0]))  # kept, not deleted
    assert "moved the unreadable checkpoint" in capsys.readouterr().err
    with Checkpointer(directory, save_every=2, keep=3) as checkpointer:
        assert checkpointer.restore(4, abstract_state=setup.abstract)[1] == {"epoch": 1, "retrained": True}
    # a later phase loading an unreadable step gets one line naming it and the way out
    _garble(directory, 2)
    with pytest.raises(CheckpointError, match=r"checkpoint .*/2 cannot be read .*delete that DONE file"):
        load_encoder_from(os.path.join(directory, "2"), build_model(setup.model.config, {"cls": CLS3}))


def _garble(directory: str, step: int) -> None:
    """Overwrite every array file of `step` (a disk error, a half-copied directory)."""
    for root, _, files in os.walk(os.path.join(directory, str(step), "state")):
        for name in files:
            if not name.startswith(("_METADATA", "_CHECKPOINT_METADATA", "manifest")):
                with open(os.path.join(root, name), "wb") as f:
                    f.write(b"garbage")


@pytest.mark.parametrize("force", [False, True])
def test_a_save_with_non_finite_parameters_is_refused(setup, tmp_path, force):
    directory = str(tmp_path / "checkpoints")
    with Checkpointer(directory, save_every=2, keep=3, async_save=False) as checkpointer:
        checkpointer.save(2, setup.fresh(), {})
        state = setup.fresh()
        bad = dict(state.params, encoder=jax.tree.map(lambda p: p.at[(0,) * p.ndim].set(jnp.nan), state.params["encoder"]))
        assert not checkpointer.save(3, dataclasses.replace(state, params=bad), {})  # not a save step: not checked
        with pytest.raises(DivergenceError, match=r"step 4 was not saved .*encoder/.*last good checkpoint is step 2"):
            checkpointer.save(4, dataclasses.replace(state, params=bad), {}, force=force)
        assert checkpointer.all_steps() == [2]


@pytest.fixture(scope="module")
def phase_one(tiny_config, tmp_path_factory):
    """An earlier phase with `cls` and `mlm` heads: its run checkpoint and its pretrained export."""
    earlier = Setup(tiny_config, {"cls": CLS3, "mlm": MLM})
    root = tmp_path_factory.mktemp("phase_one")
    run_dir = str(root / "checkpoints")
    with Checkpointer(run_dir, save_every=1, keep=1) as checkpointer:
        checkpointer.save(7, earlier.fresh(), {"epoch": 1})
    pretrained_dir = str(root / "pretrained")
    save_pretrained(pretrained_dir, tiny_config, earlier.params, vocab_dir=None)
    return run_dir, pretrained_dir, earlier.params


@pytest.mark.parametrize("source", ["run", "step", "pretrained"])
def test_load_encoder_from_an_earlier_phase(phase_one, tiny_config, source):
    run_dir, pretrained_dir, params = phase_one
    path = {"run": run_dir, "step": os.path.join(run_dir, "7"), "pretrained": pretrained_dir}[source]
    model = load_encoder_from(path, build_model(tiny_config, {"cls": CLS3, "tag": TAG5}, seed=7))
    loaded = _params(model)
    _assert_trees_equal(loaded["encoder"], params["encoder"])
    _assert_trees_equal(loaded["heads"]["cls"], params["heads"]["cls"])  # in both: loaded
    assert set(loaded["heads"]) == {"cls", "tag"}  # the earlier mlm head is dropped
    fresh = _params(build_model(tiny_config, {"cls": CLS3, "tag": TAG5}, seed=7))
    _assert_trees_equal(loaded["heads"]["tag"], fresh["heads"]["tag"])  # new head: fresh init


@pytest.mark.parametrize("source", ["run", "pretrained"])
def test_load_encoder_from_names_every_mismatch(phase_one, tiny_config, source):
    run_dir, pretrained_dir, _ = phase_one
    path = run_dir if source == "run" else pretrained_dir
    with pytest.raises(CheckpointError) as err:
        load_encoder_from(path, build_model(tiny_config, {"cls": HeadSpec("classification", num_labels=2)}))
    message = str(err.value)
    assert path in message
    assert "heads/cls/out/kernel: checkpoint (32, 3) vs model (32, 2)" in message
    assert "heads/cls/out/bias: checkpoint (3,) vs model (2,)" in message
    assert "heads/cls/dense" not in message


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_encoder_from(str(tmp_path / "nowhere"), None)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="neither a pretrained checkpoint"):
        load_encoder_from(str(tmp_path), None)  # type: ignore[arg-type]


def test_restore_into_another_model_or_optimizer_is_refused(phase_one, setup, tiny_config):
    run_dir, _, _ = phase_one
    before = sorted(os.listdir(run_dir)), sorted(os.listdir(os.path.join(run_dir, "7")))
    with Checkpointer(run_dir, save_every=1, keep=1) as checkpointer:
        with pytest.raises(CheckpointError) as err:
            checkpointer.restore(abstract_state=setup.abstract)  # no mlm head in this model
        message = str(err.value)
        assert os.path.join(run_dir, "7") in message
        assert "heads/mlm/bias: in the checkpoint (128,) but not in the train state" in message

        sgd = Setup(tiny_config, {"cls": CLS3, "mlm": MLM}, optimizer=optax.sgd(0.1))
        with pytest.raises(CheckpointError, match="different optimizer"):
            checkpointer.restore(abstract_state=sgd.abstract)
        with pytest.raises(CheckpointError, match=r"no checkpoint for step 3; it has steps \[7\]"):
            checkpointer.restore(3, abstract_state=sgd.abstract)
    assert (sorted(os.listdir(run_dir)), sorted(os.listdir(os.path.join(run_dir, "7")))) == before
