"""The phase training loop: TensorBoard summaries, checkpoints, and resuming after a crash."""

import glob

import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf

from xstilts_jax.data import task_heads
from xstilts_jax.data.task_heads import TaskHead, register_task_head
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.trainer import TrainConfig, heads_of, train

VOCAB = seqio.PassThroughVocabulary(size=128)


def _register(name: str) -> None:
    def dataset_fn(split, shuffle_files, seed=None):
        rng = np.random.default_rng(0)
        rows = []
        for i in range(64):
            n = int(rng.integers(4, 12))
            ids = np.concatenate([[0], rng.integers(4, 40, n - 2), [2]]).astype(np.int32)
            rows.append({"inputs": ids, "targets": np.int32(ids[1] % 3), "idx": np.int32(i), "head_id": np.int32(7)})
        spec = {"inputs": tf.TensorSpec([None], tf.int32), "targets": tf.TensorSpec([], tf.int32),
                "idx": tf.TensorSpec([], tf.int32), "head_id": tf.TensorSpec([], tf.int32)}  # fmt: skip
        return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=spec)

    seqio.TaskRegistry.remove(name)
    seqio.TaskRegistry.add(
        name,
        source=seqio.FunctionDataSource(dataset_fn, splits=["train"]),
        preprocessors=[],
        output_features={"inputs": seqio.Feature(VOCAB, add_eos=False), "targets": seqio.Feature(VOCAB, add_eos=False, rank=0)},
    )
    register_task_head(name, TaskHead("toy", HeadSpec("classification", 3), "class", ("a", "b", "c"), max_length=16))


@pytest.fixture(autouse=True)
def _toy(monkeypatch):
    monkeypatch.setattr(task_heads, "_TASK_HEADS", {})
    _register("toy_train")
    yield
    # seqio's registries are global: leave them as the catalog made them
    for name in ("toy_train", "toy_other"):
        seqio.TaskRegistry.remove(name)
    seqio.MixtureRegistry.remove("toy_mix")


MESH = MeshConfig(data=2, fsdp=4, rules="fsdp")
OPT = OptimizerConfig(learning_rate=3e-3, warmup_fraction=0.0)


def _model(tiny_config):
    return build_model(tiny_config.replace(dropout_rate=0.0), {"toy": HeadSpec("classification", 3)}, seed=0)


class Crash(Exception):
    pass


@pytest.mark.slow
def test_resume_after_a_crash_equals_an_uninterrupted_run(tiny_config, tmp_path):
    config = TrainConfig(task="toy_train", steps=6, batch_size=8, save_every=2, log_every=2, eval_every=4)
    straight = train(_model(tiny_config), tmp_path / "a", config, MESH, OPT, evaluate=lambda m, s: {"eval/x": float(s)})

    def crash_at_4(model, step):
        raise Crash()

    with pytest.raises(Crash):
        train(_model(tiny_config), tmp_path / "b", config, MESH, OPT, evaluate=crash_at_4)
    assert sorted(p.split("/")[-1] for p in glob.glob(str(tmp_path / "b" / "checkpoints" / "[0-9]*"))) == ["2"]
    resumed = train(_model(tiny_config), tmp_path / "b", config, MESH, OPT, evaluate=lambda m, s: {"eval/x": float(s)})
    for a, b in zip(jax.tree.leaves(jax.tree.map(np.asarray, _params(straight))), jax.tree.leaves(_params(resumed))):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-6)
    # TensorBoard got the training curve and the eval metric
    tags = set()
    for path in glob.glob(str(tmp_path / "a" / "tensorboard" / "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags |= {v.tag for v in event.summary.value}
    assert {"train/loss", "train/learning_rate", "train/grad_norm", "train/tokens_per_s", "eval/x"} <= tags


def _params(model):
    from flax import nnx

    return nnx.state(model, nnx.Param).to_pure_dict()


def test_heads_of_routes_mixtures_over_several_heads():
    _register("toy_other")
    task_heads._TASK_HEADS["toy_other"] = TaskHead("other", HeadSpec("classification", 2), "class", ("x", "y"))
    seqio.MixtureRegistry.remove("toy_mix")
    seqio.MixtureRegistry.add("toy_mix", ["toy_train", "toy_other"], default_rate=1.0)
    assert heads_of("toy_train") == "toy"
    assert set(heads_of("toy_mix")) == {"toy", "other"}
