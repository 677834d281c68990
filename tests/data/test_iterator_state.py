"""Training batches whose data position is checkpointed: a restore continues exactly, without replay."""

import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf
from etils import epath

from tiny import toy_features

from xstilts_jax import storage
from xstilts_jax.checkpoints.run import Checkpointer
from xstilts_jax.data import iterator_state, task_records
from xstilts_jax.data.batches import BatchSpec, training_batches
from xstilts_jax.data.iterator_state import GroupBatches
from xstilts_jax.data.task_records import TaskRecord, register_task
from xstilts_jax.errors import CheckpointError
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.training.optimizer import OptimizerConfig, make_optimizer
from xstilts_jax.training.train_state import init_train_state, split_model

VOCAB = seqio.PassThroughVocabulary(size=100)
TASKS = ("toy_slices", "toy_slices_b", "toy_generator")


def _rows(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(offset)
    lengths = rng.integers(3, 10, n).astype(np.int32)
    ids = rng.integers(4, 100, (n, 10)).astype(np.int32)
    ids[:, 0] = 0
    ids[np.arange(n), lengths - 1] = 2
    return ids, lengths


def _register(name: str, generator: bool = False, n: int = 40, offset: int = 0) -> None:
    """A class task of `n` rows of 3-9 tokens, read from tensors (checkpointable) or a Python generator (not)."""

    def dataset_fn(split, shuffle_files, seed=None):
        ids, lengths = _rows(n, offset)
        idx = np.arange(n, dtype=np.int32)
        if generator:
            spec = {key: tf.TensorSpec([], tf.int32) for key in ("targets", "idx", "head_id")}
            spec["inputs"] = tf.TensorSpec([None], tf.int32)
            rows = [{"inputs": ids[i, : lengths[i]], "targets": idx[i] % 3, "idx": idx[i], "head_id": np.int32(5)}
                    for i in range(n)]
            return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=spec)
        ds = tf.data.Dataset.from_tensor_slices({"ids": ids, "length": lengths, "idx": idx})
        return ds.map(lambda ex: {"inputs": ex["ids"][: ex["length"]], "targets": ex["idx"] % 3, "idx": ex["idx"],
                                  "head_id": tf.constant(5, tf.int32)})

    seqio.TaskRegistry.remove(name)
    task = seqio.Task(
        name,
        source=seqio.FunctionDataSource(dataset_fn, splits=["train"]),
        preprocessors=[],
        output_features=toy_features(VOCAB),
    )
    register_task(TaskRecord(name, "toy", HeadSpec("classification", 3), "class", ("a", "b", "c")), task)


@pytest.fixture(autouse=True)
def _registry(monkeypatch):
    monkeypatch.setattr(task_records, "_RECORDS", {})
    _register("toy_slices")
    _register("toy_slices_b", offset=1)
    _register("toy_generator", generator=True)
    seqio.MixtureRegistry.remove("toy_slices_mix")
    seqio.MixtureRegistry.add("toy_slices_mix", [("toy_slices", 3.0), ("toy_slices_b", 1.0)])
    yield
    for name in TASKS:
        seqio.TaskRegistry.remove(name)
    seqio.MixtureRegistry.remove("toy_slices_mix")


@pytest.fixture
def no_replay(monkeypatch):
    def refuse(iterator, batches):
        raise AssertionError(f"replayed {batches} batches where the iterator state should have been restored")

    monkeypatch.setattr(iterator_state, "replay", refuse)


@pytest.fixture
def replays(monkeypatch):
    calls = []
    real = iterator_state.replay

    def counting(iterator, batches):
        calls.append(batches)
        real(iterator, batches)

    monkeypatch.setattr(iterator_state, "replay", counting)
    return calls


def _spec(task: str = "toy_slices", **kw) -> BatchSpec:
    return BatchSpec(task=task, split="train", length=16, batch_size=8, seed=3, **kw)


def _group_batches(spec: BatchSpec, position=None) -> GroupBatches:
    return GroupBatches(lambda name: training_batches(spec, pad_id=1, position_offset=2), position or {})


def _assert_same(got, want) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def _run_save_continue(spec: BatchSpec, directory, consumed: int = 7, more: int = 4):
    """Batches 1..consumed, a save, then the next `more` batches of the uninterrupted run."""
    data = _group_batches(spec)
    batches = data.batches(spec.task)
    for _ in range(consumed):  # 40 rows / 4 or 8 per batch: the saved position is inside the second epoch
        next(batches)
    data.save(directory)
    return data.position(), [next(batches) for _ in range(more)]


@pytest.mark.parametrize(
    "kw",
    [{}, {"pack": True, "max_segments": 4}, {"data_shards": 2}],
    ids=["padded", "packed", "two_shards_on_one_host"],
)
def test_a_restored_iterator_continues_exactly_without_replay(kw, tmp_path, no_replay):
    spec = _spec(**kw)
    position, expected = _run_save_continue(spec, epath.Path(tmp_path))
    assert position == {"toy_slices": 7}
    shards = kw.get("data_shards", 1)
    names = {p.name for p in (tmp_path / "toy_slices").iterdir()}
    assert names == {f"shard_{k}-of-{shards}.{ext}" for k in range(shards) for ext in ("index", "data-00000-of-00001")}
    resumed = _group_batches(spec, position)
    resumed.resume(epath.Path(tmp_path), step=7)
    assert resumed.position() == position
    _assert_same([next(resumed.batches("toy_slices")) for _ in range(4)], expected)


def test_a_mixture_iterator_restores_its_sampling_state(tmp_path, no_replay):
    spec = _spec("toy_slices_mix")
    position, expected = _run_save_continue(spec, epath.Path(tmp_path))
    resumed = _group_batches(spec, position)
    resumed.resume(epath.Path(tmp_path), step=7)
    assert (tmp_path / "toy_slices_mix" / "shard_0-of-1.index").exists()
    _assert_same([next(resumed.batches("toy_slices_mix")) for _ in range(4)], expected)


def test_a_generator_source_is_replayed_with_a_notice(tmp_path, replays, capsys):
    spec = _spec("toy_generator")
    position, expected = _run_save_continue(spec, epath.Path(tmp_path))
    marker = tmp_path / "toy_generator" / "shard_0-of-1.replay"
    assert marker.read_text() == "tf.data: PyFunc is stateful\n"
    assert "the data position of toy_generator cannot be checkpointed" in capsys.readouterr().err
    resumed = _group_batches(spec, position)
    resumed.resume(epath.Path(tmp_path), step=7)
    assert replays == [7] and "replaying 7 batches of toy_generator" in capsys.readouterr().err
    _assert_same([next(resumed.batches("toy_generator")) for _ in range(4)], expected)


def test_a_checkpoint_without_iterator_state_resumes_by_replay(tmp_path, replays, capsys):
    spec = _spec()
    position, expected = _run_save_continue(spec, epath.Path(tmp_path))
    resumed = _group_batches(spec, position)
    resumed.resume(None, step=7)  # an older version's checkpoint: no data_iterators/ directory
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["note: checkpoint step 7 has no data iterator state (written by an older version); replaying 7 "
                   "batches to restore the data position"]
    assert replays == [7]
    _assert_same([next(resumed.batches("toy_slices")) for _ in range(4)], expected)
    resumed.save(epath.Path(tmp_path / "again"))  # the replayed iterator saves like a fresh one
    again = _group_batches(spec, resumed.position())
    again.resume(epath.Path(tmp_path / "again"), step=11)
    assert replays == [7]
    _assert_same([next(again.batches("toy_slices"))], [next(resumed.batches("toy_slices"))])


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_a_missing_or_corrupt_iterator_file_is_a_one_line_error(damage, tmp_path):
    spec = _spec()
    position, _ = _run_save_continue(spec, epath.Path(tmp_path / "data_iterators"), more=0)
    index = tmp_path / "data_iterators" / "toy_slices" / "shard_0-of-1.index"
    if damage == "missing":
        index.unlink()
    else:
        index.write_bytes(b"not a checkpoint index")
    with pytest.raises(CheckpointError) as error:
        _group_batches(spec, position).resume(epath.Path(tmp_path / "data_iterators"), step=7)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"data iterator state {index} {'is missing' if damage == 'missing' else 'cannot be read'}")
    assert f"delete {tmp_path / 'data_iterators'}" in message and f"or delete {tmp_path} to resume from the previous" in message


def _state(tiny_config):
    _, params = split_model(build_model(tiny_config, {"cls": HeadSpec("classification", num_labels=3)}, seed=0))
    return init_train_state(params, make_optimizer(OptimizerConfig(learning_rate=1e-3), 10), seed=3)


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_checkpointer_keeps_each_hosts_iterator_state_in_the_step(where, tiny_config, tmp_path, request, no_replay):
    root = str(tmp_path) if where == "local" else request.getfixturevalue("gcs_dir")
    spec, state = _spec(), _state(tiny_config)
    data = _group_batches(spec)
    batches = data.batches("toy_slices")
    with Checkpointer(f"{root}/checkpoints", save_every=1, keep=1) as checkpointer:
        for step in (1, 2):
            next(batches)
            assert checkpointer.save(step, state, data.position(), data_iterators=data.save)
        checkpointer.wait_until_finished()
        assert checkpointer.all_steps() == [2]  # keep=1: step 1 went, its iterator state with it
    expected = [next(batches) for _ in range(3)]
    steps = storage.as_path(f"{root}/checkpoints")
    assert not (steps / "1").exists()
    assert (steps / "2" / "data_iterators" / "toy_slices" / "shard_0-of-1.index").exists()
    with Checkpointer(f"{root}/checkpoints", save_every=1, keep=1) as checkpointer:
        abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), state)
        _, position = checkpointer.restore(abstract_state=abstract)
        resumed = _group_batches(spec, position)
        resumed.resume(checkpointer.data_iterators(2), step=2)
    _assert_same([next(resumed.batches("toy_slices")) for _ in range(3)], expected)
