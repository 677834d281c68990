"""Evaluation at scale: a shared candidate set embedded once per evaluation, XTREME-R's lengths per
side, length-bucketed batches that score exactly as unbucketed ones, mesh-sized eval batches, and
BUCC scored on test with the threshold tuned on dev."""

import dataclasses
import json

import pytest
from tiny import TOY_MESH, catalog_model, toy_eval_settings

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.data.batches import BatchSpec, host_batches
from xstilts_jax.data.length_buckets import bucket_of, length_buckets, tokens_used, trim_length
from xstilts_jax.evaluation.decoders import retrieval as decoders
from xstilts_jax.evaluation.embedding_cache import params_directory
from xstilts_jax.errors import ConfigError, InputError
from xstilts_jax.evaluation.evaluator import evaluate_and_write, evaluate_tasks
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.evaluation.retrieval import retrieval_split
from xstilts_jax.experiments.targets import eval_split
from xstilts_jax.partitioning import MeshConfig, Partitioner

pytestmark = pytest.mark.usefixtures("catalog_env")


@pytest.fixture
def embed_calls(monkeypatch):
    """Every `embed` pass the retrieval decoders make: (task, split, length, idx_range)."""
    calls = []
    real = decoders.embed

    def spy(model, task, split, settings, length, idx_range):
        calls.append((task, split, length, idx_range))
        return real(model, task, split, settings, length, idx_range)

    monkeypatch.setattr(decoders, "embed", spy)
    return calls


def test_xtreme_r_lengths_and_shared_sets_come_with_the_split():
    mewslix, lareqa = retrieval_split("mewslix.de", "test"), retrieval_split("lareqa.th", "test")
    assert (mewslix.query_length, mewslix.candidate_length, mewslix.candidate_set) == (64, 64, "mewslix")
    assert (lareqa.query_length, lareqa.candidate_length, lareqa.candidate_set) == (96, 256, "lareqa")
    bucc = retrieval_split("bucc2018.de", "validation")
    assert (bucc.query_length, bucc.candidate_length, bucc.candidate_set) == (None, None, None)


@pytest.mark.slow
def test_mewslix_candidates_are_embedded_once_for_every_language_and_kept_for_a_rerun(tmp_path, embed_calls):
    tasks_ = ["mewslix.de", "mewslix.es"]
    model = catalog_model(*tasks_)
    settings = dataclasses.replace(toy_eval_settings(), length=None)  # each side at XTREME-R's length
    checkpoint = "runs/x/target/checkpoints/100"
    scores = evaluate_and_write(model, tasks_, settings, tmp_path / "eval", checkpoint=checkpoint)
    candidate_passes = [c for c in embed_calls if c[3][0] > 0]  # candidates follow the queries
    assert len(candidate_passes) == 1 and candidate_passes[0][2] == 64
    assert {c[0] for c in embed_calls} == set(tasks_) and all(c[2] == 64 for c in embed_calls)
    saved = params_directory(tmp_path / "eval", checkpoint)
    assert len(list(saved.glob("*/ids.json"))) == 1 and params_directory(tmp_path / "eval", "runs/x/target/checkpoints/200") != saved

    def predictions(directory):
        return {t: (directory / "predictions" / f"{t}.{scores[t]['split']}.json").read_text() for t in tasks_}

    # a rerun of the same checkpoint's evaluation (after a stop) reloads the saved set: no candidate pass
    embed_calls.clear()
    assert evaluate_and_write(model, tasks_, settings, tmp_path / "eval", checkpoint=checkpoint) == scores
    assert [c for c in embed_calls if c[3][0] > 0] == []
    # the same predictions as embedding the set again for a language on its own, in memory only
    task = tasks_[1]
    alone = evaluate_and_write(model, [task], settings, tmp_path / "alone")
    assert alone[task] == scores[task] and predictions(tmp_path / "eval")[task] == (
        tmp_path / "alone" / "predictions" / f"{task}.{scores[task]['split']}.json"
    ).read_text()
    assert len([c for c in embed_calls if c[3][0] > 0]) == 1 and not (tmp_path / "alone" / "embeddings").exists()


def test_length_buckets_and_trimming():
    assert length_buckets(512) == (32, 64, 128, 256, 512) and length_buckets(64) == (32, 64) and length_buckets(20) == (20,)
    assert [bucket_of(n, 512) for n in (1, 32, 33, 300, 512)] == [32, 32, 64, 512, 512] and bucket_of(33, 34) == 34
    with pytest.raises(InputError, match="40 tokens do not fit the input length 34"):
        bucket_of(40, 34)
    batch = next(host_batches(BatchSpec("udpos.de", "test", 64, 4, shuffle=False, repeat=False, bucket_lengths=True), 1, 2))
    used = tokens_used(batch)
    trimmed = trim_length(batch, 64, bucket_of(used, 64))
    assert used <= 32 and trimmed["input_ids"].shape == (len(batch["idx"]), 32)
    assert (batch["segment_ids"][:, 32:] == 0).all() and trimmed["idx"].shape == batch["idx"].shape


@pytest.mark.slow
@pytest.mark.parametrize("task", ["udpos.de", "xcopa.et"])
def test_bucketed_evaluation_scores_exactly_as_unbucketed(task, tmp_path):
    model = catalog_model(task, max_positions=130)
    split = eval_split(task)
    bucketed = dataclasses.replace(toy_eval_settings(128), bucket_lengths=True)
    padded = dataclasses.replace(bucketed, bucket_lengths=False)
    ours = evaluate_tasks(model, [task], split, bucketed, predictions_dir=tmp_path / "bucketed")
    theirs = evaluate_tasks(model, [task], split, padded, predictions_dir=tmp_path / "padded")
    assert ours == theirs
    name = f"{task}.{split}.json"
    assert (tmp_path / "bucketed" / name).read_text() == (tmp_path / "padded" / name).read_text()


def test_eval_batches_are_sized_to_the_mesh():
    partitioner = Partitioner.from_config(TOY_MESH)  # data 2 x fsdp 4, rules "fsdp": 8 batch shards
    assert EvalSettings(32, None, partitioner).global_batch_size() == 32
    assert EvalSettings(5, None, partitioner).global_batch_size() == 8  # rounded up; padding rows are dropped
    assert EvalSettings(32, None, partitioner, per_device_batch_size=3).global_batch_size() == 24
    tensor = Partitioner.from_config(MeshConfig(data=2, fsdp=1, tensor=4, rules="fsdp_tensor"))
    assert EvalSettings(1, None, tensor, per_device_batch_size=16).global_batch_size() == 32  # 2 batch shards


def _write_bucc(root, split: str, pairs: list[tuple[str, str]], extra_de: list[str], extra_en: list[str], gold: bool = True) -> None:
    """One split of `de` in BUCC's release layout: `{src}-en.{split}.{src}`, `.en` (id<TAB>sentence), `.gold`."""
    folder = root / "bucc2018"
    folder.mkdir(parents=True, exist_ok=True)
    de = [(f"de-{split}-{i}", s) for i, (s, _) in enumerate(pairs)] + [(f"de-{split}-x{i}", s) for i, s in enumerate(extra_de)]
    en = [(f"en-{split}-{i}", t) for i, (_, t) in enumerate(pairs)] + [(f"en-{split}-x{i}", s) for i, s in enumerate(extra_en)]
    (folder / f"de-en.{split}.de").write_text("".join(f"{i}\t{s}\n" for i, s in de), encoding="utf-8")
    (folder / f"de-en.{split}.en").write_text("".join(f"{i}\t{s}\n" for i, s in en), encoding="utf-8")
    if gold:
        (folder / f"de-en.{split}.gold").write_text("".join(f"de-{split}-{i}\ten-{split}-{i}\n" for i in range(len(pairs))))


PAIRS = [
    ("Die Katze schläft auf dem Sofa.", "The cat sleeps on the sofa."),
    ("Der Zug hatte heute Verspätung.", "The train was late today."),
    ("Wir essen um sieben Uhr.", "We eat at seven o'clock."),
    ("Das Museum ist geschlossen.", "The museum is closed."),
]


@pytest.mark.slow
def test_bucc_is_scored_on_test_with_the_dev_threshold(tmp_path, monkeypatch, embed_calls):
    _write_bucc(tmp_path, "dev", PAIRS[:3], ["Es regnet."], ["It is sunny.", "Bread is cheap."])
    _write_bucc(tmp_path, "test", PAIRS[1:], ["Ich lese ein Buch."], ["Dogs bark."])
    monkeypatch.setenv("XSTILTS_DATA_DIR", str(tmp_path))
    model = catalog_model("bucc2018.de")
    scores = evaluate_and_write(model, ["bucc2018.de"], toy_eval_settings(64), tmp_path / "eval")
    assert scores["bucc2018.de"]["split"] == "test" and set(scores["bucc2018.de"]) == {"split", "precision", "recall", "f1"}
    assert {(c[1]) for c in embed_calls} == {"test", "validation"}  # test mined, dev mined to tune the threshold
    mined = json.loads((tmp_path / "eval" / "predictions" / "bucc2018.de.test.json").read_text())
    assert all(s.startswith("de-test-") and t.startswith("en-test-") for s, t in mined)

    # xtreme's download deletes the test gold: the same files without de-en.test.gold
    nogold = tmp_path / "nogold"
    _write_bucc(nogold, "dev", PAIRS[:3], ["Es regnet."], ["It is sunny.", "Bread is cheap."])
    _write_bucc(nogold, "test", PAIRS[1:], ["Ich lese ein Buch."], ["Dogs bark."], gold=False)
    monkeypatch.setenv("XSTILTS_DATA_DIR", str(nogold))
    embed_calls.clear()
    with pytest.raises(ConfigError, match=r"No eval task could be scored; the first says: bucc2018.de test: no gold to score against\. .*de-en\.test\.gold"):
        evaluate_and_write(model, ["bucc2018.de"], toy_eval_settings(64), tmp_path / "eval2")
    assert embed_calls == []  # dev is never scored in its place
    assert not (tmp_path / "eval2" / "scores.json").exists()


@pytest.mark.slow
def test_float32_embeddings_rank_as_the_unsharded_host_search():
    """The previous path: float32 embeddings gathered on the host, padded batches, a stable brute-force sort."""
    import numpy as np

    from xstilts_jax.data.task_records import get_task_record
    from xstilts_jax.evaluation.forward import forward_batches
    from xstilts_jax.evaluation.retrieval_metrics import TOP_K

    task, split = "lareqa.de", "test"
    model = catalog_model(task)
    settings = dataclasses.replace(toy_eval_settings(64), embedding_dtype="float32")
    rows = {}
    for batch, out in forward_batches(model, task, split, get_task_record(task).head, dataclasses.replace(settings, bucket_lengths=False), decoders.normalized_embedding):
        rows.update(zip(batch["idx"].tolist(), out["embedding"]))
    data = retrieval_split(task, split)
    queries, candidates = sorted(data.queries), sorted(data.candidates)
    sims = np.stack([rows[i] for i in queries]).astype(np.float64) @ np.stack([rows[i] for i in candidates]).astype(np.float64).T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :TOP_K]
    expected = {data.queries[q]: [data.candidates[candidates[j]] for j in row] for q, row in zip(queries, order)}
    _, predicted = decoders.decode_ranking(model, task, split, settings)
    assert predicted == expected
