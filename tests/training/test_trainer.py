"""The phase training loop: TensorBoard summaries, checkpoints, and resuming after a crash."""

import dataclasses
import glob
import shutil
import signal

import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf
from tiny import TOY_MESH, toy_features

from xstilts_jax.data import iterator_state, task_records
from xstilts_jax.data.iterator_state import CheckpointableBatches
from xstilts_jax.data.task_records import TaskRecord, register_task
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.partitioning import Partitioner
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.data.layouts import layout_groups
from xstilts_jax.errors import CheckpointError, ConfigError, DivergenceError, Preempted
from xstilts_jax.training import step_builder
from xstilts_jax.checkpoints.run import Checkpointer, load_encoder_from
from xstilts_jax.training.model_init import build_sharded_model
from xstilts_jax.training.train_state import split_model
from xstilts_jax.training.trainer import TrainConfig, _group_of_step, heads_of, resolve_steps, train

VOCAB = seqio.PassThroughVocabulary(size=128)


def _register(name: str, choices: int = 0, head_id: int = 7) -> None:
    """A toy task of 64 examples: a class task, or a `choices`-way multiple-choice task."""

    def dataset_fn(split, shuffle_files, seed=None):
        # read from tensors, so tf.data can checkpoint the data position (a Python generator cannot be)
        rng = np.random.default_rng(0)
        ids, lengths = np.zeros((64, 11), np.int32), np.zeros(64, np.int32)
        for i in range(64):
            n = int(rng.integers(4, 12))
            ids[i, :n], lengths[i] = np.concatenate([[0], rng.integers(4, 40, n - 2), [2]]), n
        rows = {"ids": ids, "length": lengths, "targets": ids[:, 1] % (choices or 3), "idx": np.arange(64, dtype=np.int32)}

        def example(row):
            inputs = row["ids"][: row["length"]]
            inputs = tf.stack([inputs] * choices) if choices else inputs
            return {"inputs": inputs, "targets": row["targets"], "idx": row["idx"], "head_id": tf.constant(head_id, tf.int32)}

        return tf.data.Dataset.from_tensor_slices(rows).map(example)

    seqio.TaskRegistry.remove(name)
    task = seqio.Task(
        name,
        source=seqio.FunctionDataSource(dataset_fn, splits=["train"]),
        preprocessors=[],
        output_features=toy_features(VOCAB, rank=2 if choices else 1),
    )
    if choices:
        labels = tuple(str(i) for i in range(choices))
        register_task(TaskRecord(name, name, HeadSpec("multiple_choice"), "choice", labels, max_length=16), task)
    else:
        register_task(TaskRecord(name, "toy", HeadSpec("classification", 3), "class", ("a", "b", "c"), max_length=16), task)


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    monkeypatch.setattr(task_records, "_RECORDS", {})
    _register("toy_train")
    yield
    # seqio's registries are global: leave them as the catalog made them
    for name in ("toy_train", "toy_other", "toy_choice"):
        seqio.TaskRegistry.remove(name)
    for name in ("toy_mix", "toy_layouts", "toy_layouts#choice2", "toy_layouts#class"):
        seqio.MixtureRegistry.remove(name)


OPT = OptimizerConfig(learning_rate=3e-3, warmup_fraction=0.0)


def _model(tiny_config):
    return build_model(tiny_config.replace(dropout_rate=0.0), {"toy": HeadSpec("classification", 3)}, seed=0)


class Crash(Exception):
    pass


def _same_batches(got, want) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        for key in b:
            np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.slow
def test_resume_after_a_crash_equals_an_uninterrupted_run(tiny_config, tmp_path, monkeypatch, capsys):
    seen, replays = [], []  # every batch handed to the train loop; every replay (batches read again)
    real_next, real_replay = CheckpointableBatches.__next__, iterator_state.replay

    def recording(self):
        seen.append(real_next(self))
        return seen[-1]

    def counting(iterator, batches):
        replays.append(batches)
        real_replay(iterator, batches)

    monkeypatch.setattr(CheckpointableBatches, "__next__", recording)
    monkeypatch.setattr(iterator_state, "replay", counting)
    config = TrainConfig(task="toy_train", steps=6, batch_size=8, save_every=2, log_every=2, eval_every=4)
    straight = train(_model(tiny_config), tmp_path / "a", config, TOY_MESH, OPT, evaluate=lambda m, s: {"eval/x": float(s)}).model
    straight_batches = seen[:]

    def crash_at_4(model, step):
        raise Crash()

    with pytest.raises(Crash):
        train(_model(tiny_config), tmp_path / "b", config, TOY_MESH, OPT, evaluate=crash_at_4)
    assert sorted(p.split("/")[-1] for p in glob.glob(str(tmp_path / "b" / "checkpoints" / "[0-9]*"))) == ["2"]
    iterators = tmp_path / "b" / "checkpoints" / "2" / "data_iterators"
    assert (iterators / "toy_train" / "shard_0-of-1.index").exists()
    for copy in ("old", "corrupt"):
        shutil.copytree(tmp_path / "b", tmp_path / copy)
    seen.clear()
    resumed = train(_model(tiny_config), tmp_path / "b", config, TOY_MESH, OPT, evaluate=lambda m, s: {"eval/x": float(s)}).model
    for a, b in zip(jax.tree.leaves(jax.tree.map(np.asarray, _params(straight))), jax.tree.leaves(_params(resumed))):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-6)
    _same_batches(seen, straight_batches[2:])  # the iterator state continued the data exactly ...
    assert replays == []  # ... and no batch was read twice
    # TensorBoard got the training curve and the eval metric
    tags, fills = set(), []
    for path in glob.glob(str(tmp_path / "a" / "tensorboard" / "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags |= {v.tag for v in event.summary.value}
            fills += [float(tf.make_ndarray(v.tensor)) for v in event.summary.value if v.tag == "train/fill"]
    assert {"train/loss", "train/learning_rate", "train/grad_norm", "train/tokens_per_s", "train/fill", "eval/x"} <= tags
    assert fills and all(4 / 16 <= f <= 11 / 16 for f in fills)  # toy rows of 4-11 tokens padded to 16

    # a checkpoint of an older version (no data_iterators/) resumes by replay, with a notice
    shutil.rmtree(tmp_path / "old" / "checkpoints" / "2" / "data_iterators")
    capsys.readouterr()
    seen.clear()
    train(_model(tiny_config), tmp_path / "old", config, TOY_MESH, OPT, evaluate=lambda m, s: {"eval/x": float(s)})
    _same_batches(seen, straight_batches[2:])
    assert replays == [2] and "checkpoint step 2 has no data iterator state" in capsys.readouterr().err
    # an unreadable iterator file stops the resume, naming it
    index = tmp_path / "corrupt" / "checkpoints" / "2" / "data_iterators" / "toy_train" / "shard_0-of-1.index"
    index.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=f"data iterator state {index} cannot be read"):
        train(_model(tiny_config), tmp_path / "corrupt", config, TOY_MESH, OPT, evaluate=lambda m, s: {})


def _params(model):
    from flax import nnx

    return nnx.state(model, nnx.Param).to_pure_dict()


def test_a_model_built_on_the_mesh_trains_like_a_host_built_one_and_is_consumed(tiny_config, tmp_path):
    config = TrainConfig(task="toy_train", steps=3, batch_size=8, save_every=3, log_every=1)
    partitioner = Partitioner.from_config(TOY_MESH)
    sharded = build_sharded_model(tiny_config.replace(dropout_rate=0.0), {"toy": HeadSpec("classification", 3)}, 0, partitioner)
    initial = jax.tree.leaves(split_model(sharded)[1])
    on_mesh = train(sharded, tmp_path / "mesh", config, TOY_MESH, OPT).model
    assert all(x.is_deleted() for x in initial)  # donated into the train state: never held twice
    on_host = train(_model(tiny_config), tmp_path / "host", config, TOY_MESH, OPT).model
    for a, b in zip(jax.tree.leaves(_params(on_mesh)), jax.tree.leaves(_params(on_host))):
        assert a.sharding.is_equivalent_to(b.sharding, a.ndim)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_heads_of_routes_mixtures_over_several_heads():
    _register("toy_other")
    task_records._RECORDS["toy_other"] = TaskRecord("toy_other", "other", HeadSpec("classification", 2), "class", ("x", "y"))
    seqio.MixtureRegistry.remove("toy_mix")
    seqio.MixtureRegistry.add("toy_mix", ["toy_train", "toy_other"], default_rate=1.0)
    assert heads_of("toy_train") == "toy"
    assert set(heads_of("toy_mix")) == {"toy", "other"}


def test_epochs_become_steps_over_the_training_examples():
    assert resolve_steps(TrainConfig(task="toy_train", epochs=1.0, batch_size=8), 16) == 8
    assert resolve_steps(TrainConfig(task="toy_train", epochs=0.3, batch_size=8), 16) == 3  # 19.2 examples, rounded up
    assert resolve_steps(TrainConfig(task="toy_train", epochs=2, steps=5, batch_size=8), 16) == 5  # steps win
    with pytest.raises(ConfigError, match="steps or TrainConfig.epochs"):
        TrainConfig(task="toy_train")
    with pytest.raises(ConfigError, match="eval_tasks"):
        TrainConfig(task="toy_train", steps=2, best_metric="eval/x")


@pytest.mark.slow
def test_best_checkpoint_is_handed_on(tiny_config, tmp_path):
    config = TrainConfig(task="toy_train", steps=6, batch_size=8, save_every=100, keep=1, eval_every=2,
                         eval_tasks=("unused",), best_metric="eval/x")
    # the dev metric peaks at step 2; later steps are worse
    result = train(_model(tiny_config), tmp_path, config, TOY_MESH, OPT, evaluate=lambda m, s: {"eval/x": -abs(s - 2.0)})
    assert result.best_step == 2 and result.checkpoint.endswith("/checkpoints/2")
    assert result.eval_metrics == {"eval/x": -4.0}  # the last evaluation
    with Checkpointer(str(tmp_path / "checkpoints"), save_every=100, keep=1) as checkpointer:
        assert checkpointer.all_steps() == [2, 6]  # keep-1 latest plus the best


def _poisoned_from(first_bad: int):
    """`make_train_step` whose update is NaN (parameters and loss) from step `first_bad` on."""
    real = step_builder.make_train_step

    def poisoned(*args, **kwargs):
        step = real(*args, **kwargs)

        def run(state, batch):
            new_state, metrics = step(state, batch)
            bad = new_state.step >= first_bad
            params = jax.tree.map(lambda p: jax.numpy.where(bad, jax.numpy.nan, p), new_state.params)
            metrics = dict(metrics, loss=jax.numpy.where(bad, jax.numpy.nan, metrics["loss"]))
            return dataclasses.replace(new_state, params=params), metrics

        return run

    return poisoned


@pytest.mark.slow
def test_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setattr(step_builder, "make_train_step", _poisoned_from(3))
    config = TrainConfig(task="toy_train", steps=6, batch_size=8, save_every=2, log_every=1)
    with pytest.raises(DivergenceError, match="diverged at step 3.*last good checkpoint is step 2"):
        train(_model(tiny_config), tmp_path, config, TOY_MESH, OPT)
    with Checkpointer(str(tmp_path / "checkpoints"), save_every=2, keep=2) as checkpointer:
        assert checkpointer.all_steps() == [2]


@pytest.mark.slow
def test_a_nan_at_a_save_forced_by_evaluation_is_refused(tiny_config, tmp_path, monkeypatch):
    """eval_every not a multiple of log_every: the loss is not looked at on step 3, but its forced save is checked."""
    monkeypatch.setattr(step_builder, "make_train_step", _poisoned_from(3))
    config = TrainConfig(task="toy_train", steps=6, batch_size=8, save_every=2, log_every=4, eval_every=3,
                         eval_tasks=("unused",))
    with pytest.raises(DivergenceError, match="step 3 was not saved.*not finite.*last good checkpoint is step 2"):
        train(_model(tiny_config), tmp_path, config, TOY_MESH, OPT, evaluate=lambda m, s: {"eval/x": 0.0})
    with Checkpointer(str(tmp_path / "checkpoints"), save_every=2, keep=2) as checkpointer:
        assert checkpointer.all_steps() == [2]
    restored = _params(load_encoder_from(str(tmp_path / "checkpoints" / "2"), _model(tiny_config)))
    assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(restored))


def test_sigterm_to_a_single_process_saves_and_the_rerun_resumes_there(tiny_config, tmp_path, capsys):
    config = TrainConfig(task="toy_train", steps=6, batch_size=8, save_every=100, eval_every=2, eval_tasks=("unused",))

    def sigterm_at_2(model, step):  # a preemption notice arriving while step 2 is evaluated
        if step == 2:
            signal.raise_signal(signal.SIGTERM)
        return {}

    with pytest.raises(Preempted) as stopped:
        train(_model(tiny_config), tmp_path, config, TOY_MESH, OPT, evaluate=sigterm_at_2)
    assert stopped.value.step == 3 and stopped.value.checkpoint.endswith("/checkpoints/3")
    with Checkpointer(str(tmp_path / "checkpoints"), save_every=100, keep=2) as checkpointer:
        assert checkpointer.all_steps() == [2, 3]  # the evaluated step and the preemption save
    result = train(_model(tiny_config), tmp_path, config, TOY_MESH, OPT, evaluate=lambda m, s: {})
    assert f"resumed {tmp_path} at step 3" in capsys.readouterr().out
    assert result.steps == 6 and result.checkpoint.endswith("/checkpoints/6")


def test_a_mixture_of_layouts_trains_one_layout_group_per_step(tiny_config, tmp_path, capsys):
    _register("toy_choice", choices=2, head_id=9)
    seqio.MixtureRegistry.add("toy_layouts", [("toy_train", 3.0), ("toy_choice", 1.0)])
    groups = layout_groups("toy_layouts")
    assert [(g.layout, g.weight) for g in groups] == [("choice2", 0.25), ("class", 0.75)]
    draws = [_group_of_step(groups, 0, s) for s in range(400)]
    assert 0.18 < draws.count(0) / 400 < 0.32

    def model():
        heads = {"toy": HeadSpec("classification", 3), "toy_choice": HeadSpec("multiple_choice")}
        return build_model(tiny_config.replace(dropout_rate=0.0), heads, seed=0)

    def crash_at_4(m, step):
        raise Crash()

    before = jax.tree.map(np.asarray, _params(model()))
    config = TrainConfig(task="toy_layouts", steps=8, batch_size=8, save_every=4, eval_every=4, eval_tasks=("unused",))
    after = _params(train(model(), tmp_path / "a", config, TOY_MESH, OPT, evaluate=lambda m, s: {}).model)
    table = capsys.readouterr().out
    assert "sampling rates of toy_layouts (train):" in table and "75.00%" in table and "25.00%" in table

    def changed(head):
        pairs = zip(jax.tree.leaves(before["heads"][head]), jax.tree.leaves(after["heads"][head]))
        return any(not np.allclose(a, np.asarray(b)) for a, b in pairs)

    assert changed("toy") and changed("toy_choice")
    # a run stopped after step 4 and resumed draws the same groups and data: it ends where the straight run ends
    with pytest.raises(Crash):
        train(model(), tmp_path / "b", config, TOY_MESH, OPT, evaluate=crash_at_4)
    resumed = _params(train(model(), tmp_path / "b", config, TOY_MESH, OPT, evaluate=lambda m, s: {}).model)
    for a, b in zip(jax.tree.leaves(jax.tree.map(np.asarray, after)), jax.tree.leaves(resumed)):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-6)
