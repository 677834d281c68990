"""The `mlm` task: corpus split, chunking, BERT/XLM-R masking statistics and seeding, and MLM train steps."""

from __future__ import annotations

from pathlib import Path

import gin
import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf
from tiny import catalog_model

from tasks import mlm, vocabulary
from xstilts_jax.data.batches import BatchSpec, host_batches
from xstilts_jax.data.task_records import get_task_record, head_id
from xstilts_jax.errors import ConfigError
from xstilts_jax.training.optimizer import OptimizerConfig, make_optimizer
from xstilts_jax.training.train_state import init_train_state, split_model
from xstilts_jax.training.train_step import make_train_step

SAMPLE_LINES = [
    line.strip() for line in (Path(mlm.__file__).parent / "data" / mlm.DEFAULT_CORPUS).read_text().splitlines() if line.strip()
]


pytestmark = pytest.mark.usefixtures("catalog_env")


def _examples(split: str = "train", length: int | None = 32, seed: int | None = 0, epochs: int = 1) -> list[dict]:
    task = seqio.get_mixture_or_task(mlm.TASK)
    lengths = None if length is None else {"inputs": length}
    ds = task.get_dataset(
        lengths, split=split, shuffle=False, seed=seed, num_epochs=epochs, trim_output_features=False, try_in_mem_cache=False
    )
    return list(ds.as_numpy_iterator())


def _specials() -> tuple[int, ...]:
    v = vocabulary.MODEL_VOCABULARY
    return (v.bos_id, v.eos_id, v.pad_id, v.mask_id, v.unk_id)


def test_corpus_splits_every_20th_line_into_validation() -> None:
    def texts(split: str) -> list[str]:
        spec = mlm.mlm_source()
        return [ex["text"].decode() for ex in spec.canonicalize(spec.source.get_dataset(split, shuffle=False)).as_numpy_iterator()]

    train, val = texts("train"), texts("validation")
    assert val == SAMPLE_LINES[19::20] and len(val) == len(SAMPLE_LINES) // 20
    assert len(train) + len(val) == len(SAMPLE_LINES) and set(train).isdisjoint(val)
    assert get_task_record(mlm.TASK).label_kind == "tokens" and get_task_record(mlm.TASK).spec.kind == "mlm"


def test_mlm_metric_is_masked_token_accuracy() -> None:
    (metric,) = seqio.get_mixture_or_task(mlm.TASK).metric_fns
    assert metric([[5, 9], [7]], [[5, 8], [7]]) == {"accuracy": pytest.approx(200 / 3)}


def test_corpus_files_from_gin_globs(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("first line\n\n  second line  \n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("third line\n", encoding="utf-8")
    gin.bind_parameter("mlm_corpus.files", [str(tmp_path / "*.txt")])
    gin.bind_parameter("mlm_corpus.validation_every", 2)
    spec = mlm.mlm_source()
    lines = {
        split: [ex["text"].decode() for ex in spec.source.get_dataset(split, shuffle=False).as_numpy_iterator()]
        for split in ("train", "validation")
    }
    assert lines == {"train": ["first line", "third line"], "validation": ["second line"]}
    gin.bind_parameter("mlm_corpus.files", [str(tmp_path / "missing*.txt")])
    with pytest.raises(ConfigError, match=r"mlm: corpus file\(s\) .*missing\*\.txt.* not found .*mlm_corpus.files"):
        mlm.corpus_files()


def test_long_lines_are_cut_into_chunks_with_specials() -> None:
    v = vocabulary.MODEL_VOCABULARY
    chunks: dict[int, list[int]] = {}
    for ex in _examples("validation", length=12):
        original = np.where(ex["targets"] >= 0, ex["targets"], ex["inputs"])
        assert 3 <= len(original) <= 12 and original[0] == v.bos_id and original[-1] == v.eos_id
        chunks.setdefault(int(ex["idx"]), []).extend(original[1:-1].tolist())
    assert [chunks[i] for i in sorted(chunks)] == [list(v.encode(line)) for line in SAMPLE_LINES[19::20]]


def test_masking_statistics_and_specials() -> None:
    vocab_size, mask_id = 802, 801
    specials = (0, 2, 1, mask_id, 3)
    rng = np.random.default_rng(0)
    ids = np.concatenate([[0], rng.integers(4, mask_id, 40_000), [3] * 50, [2], [1] * 100]).astype(np.int32)
    inputs, targets = (
        t.numpy() for t in mlm.mask_ids(tf.constant(ids), tf.constant([7, 11]), specials, vocab_size, mask_id, mlm.MaskingRates())
    )
    special = np.isin(ids, specials)
    chosen = targets >= 0
    assert not chosen[special].any() and np.array_equal(inputs[special], ids[special])
    np.testing.assert_array_equal(targets[chosen], ids[chosen])
    np.testing.assert_array_equal(inputs[~chosen], ids[~chosen])
    assert abs(chosen.sum() / (~special).sum() - 0.15) < 0.01
    masked = inputs[chosen] == mask_id
    kept = inputs[chosen] == ids[chosen]
    replaced = ~masked & ~kept
    assert abs(masked.mean() - 0.8) < 0.02 and abs(kept.mean() - 0.1) < 0.015 and abs(replaced.mean() - 0.1) < 0.015
    random_ids = inputs[chosen][replaced]
    assert not np.isin(random_ids, specials).any() and random_ids.min() >= 0 and random_ids.max() < vocab_size
    # ~600 uniform draws over 797 ids hit ~420 distinct ones; a narrow range would hit far fewer
    assert len(np.unique(random_ids)) > 350 and random_ids.min() < 20 and random_ids.max() > 780


def test_seed_reproduces_masks_and_epochs_mask_anew() -> None:
    first, again, other = _examples(seed=3), _examples(seed=3), _examples(seed=4)
    same = all(np.array_equal(a["inputs"], b["inputs"]) for a, b in zip(first, again, strict=True))
    assert same and all(np.array_equal(a["targets"], b["targets"]) for a, b in zip(first, again, strict=True))
    assert any(not np.array_equal(a["targets"], b["targets"]) for a, b in zip(first, other, strict=True))
    two = _examples(seed=3, epochs=2)
    assert len(two) == 2 * len(first)
    epoch1, epoch2 = two[: len(first)], two[len(first) :]
    assert [int(e["idx"]) for e in epoch1] == [int(e["idx"]) for e in epoch2]
    assert sum(not np.array_equal(a["targets"], b["targets"]) for a, b in zip(epoch1, epoch2)) > len(first) // 2
    chosen = sum(int((e["targets"] >= 0).sum()) for e in first)
    candidates = sum(int((~np.isin(np.where(e["targets"] >= 0, e["targets"], e["inputs"]), _specials())).sum()) for e in first)
    assert abs(chosen / candidates - 0.15) < 0.03


def test_batches_never_mask_specials_or_padding() -> None:
    v = vocabulary.MODEL_VOCABULARY
    for pack in (False, True):
        spec = BatchSpec(mlm.TASK, "train", length=48, batch_size=8, pack=pack, seed=1)
        batch = next(host_batches(spec, pad_id=v.pad_id, position_offset=v.pad_id + 1))
        labels, ids = batch["labels"], batch["input_ids"]
        assert labels.shape == ids.shape and (labels >= 0).any()
        assert (labels[batch["segment_ids"] == 0] == -1).all() and (ids[batch["segment_ids"] == 0] == v.pad_id).all()
        assert not np.isin(labels[labels >= 0], _specials()).any()
        assert np.isin(ids[labels < 0], [v.mask_id]).sum() == 0  # only chosen positions carry <mask>
        heads = batch["head_id"]
        assert (heads[heads >= 0] == head_id(mlm.HEAD)).all()


@pytest.mark.slow  # compiles a train step (~12 s on an idle 2-core machine)
def test_mlm_train_steps_reduce_a_finite_loss() -> None:
    v = vocabulary.MODEL_VOCABULARY
    batch = next(host_batches(BatchSpec(mlm.TASK, "train", length=32, batch_size=8, seed=0), v.pad_id, v.pad_id + 1))
    model = catalog_model(mlm.TASK, max_positions=40)
    graphdef, params = split_model(model)
    optimizer = make_optimizer(OptimizerConfig(learning_rate=3e-3, warmup_fraction=0.0), total_steps=20)
    state = init_train_state(params, optimizer, seed=0)
    step = jax.jit(make_train_step(graphdef, optimizer, get_task_record(mlm.TASK).head, dropout=False))
    losses = []
    for _ in range(6):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
        assert int(metrics["num_targets"]) == int((batch["labels"] >= 0).sum())
    assert all(np.isfinite(losses)) and losses[0] == pytest.approx(np.log(v.vocab_size), rel=0.2)
    assert losses[-1] < losses[0]


def test_shuffled_reading_interleaves_files_and_hosts_read_their_own(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text("".join(f"{name} line {i}\n" for i in range(2000)), encoding="utf-8")
    gin.bind_parameter("mlm_corpus.files", [str(tmp_path / "*.txt")])
    source = mlm.mlm_source().source

    def files_of(ds, n: int) -> list[str]:
        return [ex["text"].decode()[0] for ex in ds.take(n).as_numpy_iterator()]

    # The case: a shuffled pass used to start with 15,000 lines of the first file alone.
    first = files_of(source.get_dataset("train", shuffle=True, seed=0), 1500)
    assert abs(first.count("a") - 750) <= 1
    orders = {files_of(source.get_dataset("train", shuffle=True, seed=s), 1)[0] for s in range(8)}
    assert orders == {"a", "b"}  # the seed shuffles which file comes first
    # Two hosts, two files: each host reads one file (no host reads the whole corpus).
    shards = [set(files_of(source.get_dataset("train", shuffle=False, shard_info=seqio.ShardInfo(i, 2)), 4000)) for i in (0, 1)]
    assert shards == [{"a"}, {"b"}]
    # More hosts than files: by line index, disjoint and complete.
    lines = [[ex["text"] for ex in source.get_dataset("validation", shuffle=False, shard_info=seqio.ShardInfo(i, 3)).as_numpy_iterator()] for i in range(3)]
    assert sum(map(len, lines)) == 200 and len(set().union(*lines)) == 200
