"""Zero-shot scoring of registered catalog tasks: decoding, re-joining split sentences, metrics, JSON."""

import json
from pathlib import Path

import pytest
from tiny import TOY_MESH, catalog_model

import tasks  # noqa: F401  (registers the catalog)
from tasks import sources
from xstilts_jax.evaluation import metrics
from xstilts_jax.evaluation.evaluator import evaluate_tasks
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.evaluation.decoders import decode
from xstilts_jax.partitioning import Partitioner

pytestmark = pytest.mark.usefixtures("catalog_env")


def _sentences(path: Path) -> list[list[str]]:
    blocks = path.read_text(encoding="utf-8").strip().split("\n\n")
    return [[line.split("\t")[1] for line in block.splitlines()] for block in blocks]


def test_split_tagging_sentences_are_rejoined_and_scored(catalog_data):
    partitioner = Partitioner.from_config(TOY_MESH)
    model = catalog_model("udpos.de")
    gold_sentences = _sentences(catalog_data / "udpos" / "dev-de.tsv")
    # length 8 leaves 6 subwords a piece: most sentences are split into several examples
    gold, pred, _ = decode(model, "udpos.de", "validation", EvalSettings(8, 8, partitioner))
    assert gold == gold_sentences
    assert [len(p) for p in pred] == [len(g) for g in gold]
    assert all(tag in sources.UPOS_TAGS for p in pred for tag in p)
    unsplit_gold, _, _ = decode(model, "udpos.de", "validation", EvalSettings(8, 64, partitioner))
    assert unsplit_gold == gold


def test_evaluate_tasks_writes_predictions_and_scores(tmp_path):
    partitioner = Partitioner.from_config(TOY_MESH)
    model = catalog_model("xcopa.zh")
    results = evaluate_tasks(
        model, ["xcopa.zh", "xcopa.th"], "test", EvalSettings(8, 64, partitioner), predictions_dir=tmp_path
    )
    assert set(results) == {"xcopa.zh", "xcopa.th"}
    for task in results:
        predictions = json.loads((tmp_path / f"{task}.test.json").read_text())
        gold, _, _ = decode(model, task, "test", EvalSettings(8, 64, partitioner))
        assert results[task] == metrics.accuracy(gold, predictions)
        assert 0.0 <= results[task]["accuracy"] <= 100.0


def test_mlm_dev_evaluation_scores_the_masked_tokens_of_every_line():
    from xstilts_jax.data.batches import BatchSpec, host_batches

    partitioner = Partitioner.from_config(TOY_MESH)
    model = catalog_model("mlm")
    # length 16: long lines become several chunks sharing the line's idx, re-joined per line
    gold, pred, _ = decode(model, "mlm", "validation", EvalSettings(8, 16, partitioner))
    expected: dict[int, list[int]] = {}
    spec = BatchSpec("mlm", "validation", 16, 8, shuffle=False, repeat=False)
    for batch in host_batches(spec, model.config.pad_id, model.config.position_offset):
        for idx, labels in zip(batch["idx"], batch["labels"]):
            expected.setdefault(int(idx), []).extend(int(t) for t in labels if t >= 0)
    assert gold == [expected[i] for i in sorted(expected)] and sum(map(len, gold)) > 20
    assert [len(p) for p in pred] == [len(g) for g in gold]
    assert gold == decode(model, "mlm", "validation", EvalSettings(8, 16, partitioner))[0]  # fixed eval masks
    score = evaluate_tasks(model, ["mlm"], "validation", EvalSettings(8, 16, partitioner))["mlm"]["accuracy"]
    flat_gold, flat_pred = sum(gold, []), sum(pred, [])
    assert score == pytest.approx(100 * sum(g == p for g, p in zip(flat_gold, flat_pred)) / len(flat_gold))
