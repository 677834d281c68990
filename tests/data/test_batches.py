"""seqio task → host batches → global sharded arrays; converter chosen from the task records."""

import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf
from tiny import TOY_MESH

from xstilts_jax.data import task_records
from xstilts_jax.data.batches import BatchSpec, host_batches, label_kind_of
from xstilts_jax.data.task_records import TaskRecord, register_task
from xstilts_jax.errors import ConfigError
from xstilts_jax.models.heads import HeadSpec
from xstilts_jax.partitioning import Partitioner

VOCAB = seqio.PassThroughVocabulary(size=100)


def _examples(n: int):
    rng = np.random.default_rng(0)
    for i in range(n):
        length = int(rng.integers(3, 10))
        yield {"inputs": np.concatenate([[0], rng.integers(4, 100, length - 2), [2]]).astype(np.int32),
               "targets": np.int32(i % 3), "idx": np.int32(i)}


TOY_HEAD = ("toy", HeadSpec("classification", 3), "class", ("a", "b", "c"))


def _register(name: str, head: tuple = TOY_HEAD, n: int = 40) -> None:
    def dataset_fn(split, shuffle_files, seed=None):
        spec = {"inputs": tf.TensorSpec([None], tf.int32), "targets": tf.TensorSpec([], tf.int32),
                "idx": tf.TensorSpec([], tf.int32)}
        return tf.data.Dataset.from_generator(lambda: _examples(n), output_signature=spec)

    features = {
        "inputs": seqio.Feature(VOCAB, add_eos=False),
        "targets": seqio.Feature(VOCAB, add_eos=False, rank=0),
    }
    seqio.TaskRegistry.remove(name)
    task = seqio.Task(
        name,
        source=seqio.FunctionDataSource(dataset_fn, splits=["train"]),
        preprocessors=[seqio.map_over_dataset(lambda ex: dict(ex, head_id=tf.constant(5, tf.int32)))],
        output_features=features,
    )
    register_task(TaskRecord(name, *head), task)


@pytest.fixture(autouse=True)
def _registry(monkeypatch):
    monkeypatch.setattr(task_records, "_RECORDS", {})
    _register("toy_task")
    yield
    # seqio's registries are global: leave them as the catalog made them
    for name in ("toy_task", "toy_tags_task"):
        seqio.TaskRegistry.remove(name)
    seqio.MixtureRegistry.remove("toy_mix")


def test_global_batches_are_sharded():
    partitioner = Partitioner.from_config(TOY_MESH)
    spec = BatchSpec(task="toy_task", split="train", length=16, batch_size=8, seed=3)
    first = partitioner.to_global(next(host_batches(spec, pad_id=1, position_offset=2)))
    assert first["input_ids"].shape == (8, 16) and first["labels"].shape == (8,)
    assert first["input_ids"].sharding.spec[0] == ("data", "fsdp")
    assert len(first["input_ids"].addressable_shards) == 8
    assert np.all(np.asarray(first["head_id"]) == 5)
    assert np.all(np.asarray(first["input_ids"])[:, -1] == 1)  # padded with the pad id, not 0


def test_packed_batches_carry_positions_and_segments():
    spec = BatchSpec(task="toy_task", split="train", length=32, batch_size=4, pack=True, max_segments=4, shuffle=False)
    batch = next(host_batches(spec, pad_id=1, position_offset=2))
    assert batch["labels"].shape == (4, 4) and batch["cls_positions"].shape == (4, 4)
    assert batch["segment_ids"].max() > 1 and batch["positions"][0, 0] == 2


def test_mixture_of_different_label_kinds_is_refused():
    _register("toy_tags_task", ("tags", HeadSpec("tagging", 2), "tags", ("O", "X")))
    seqio.MixtureRegistry.remove("toy_mix")
    seqio.MixtureRegistry.add("toy_mix", ["toy_task", "toy_tags_task"], default_rate=1.0)
    assert label_kind_of("toy_task") == "class"
    with pytest.raises(ConfigError, match=r"mixes label kinds \['class', 'tags'\]"):
        label_kind_of("toy_mix")


def test_batch_size_must_split_over_hosts(monkeypatch):
    monkeypatch.setattr(jax, "process_count", lambda: 3)
    with pytest.raises(ConfigError, match="not divisible by the 3 hosts"):
        next(host_batches(BatchSpec(task="toy_task", split="train", length=16, batch_size=8), 1, 2))


def test_data_shards_that_do_not_split_the_batch_are_a_config_error(catalog_env):
    from tasks import vocabulary

    spec = BatchSpec(task="udpos", split="train", length=32, batch_size=8, data_shards=3)
    with pytest.raises(ConfigError, match=r"data_shards=3 .* global batch size 8; set TrainConfig.data_shards"):
        host_batches(spec, vocabulary.MODEL_VOCABULARY.pad_id, 2)
