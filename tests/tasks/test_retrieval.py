"""Retrieval tasks: readers on the shipped samples, bad input, and a walk from files to scores."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import seqio
from tiny import catalog_model, toy_eval_settings

import tasks
from tasks import retrieval
from tasks.sources import retrieval as rs
from xstilts_jax.data.batches import BatchSpec, host_batches
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import ConfigError, InputError, MissingSplitError
from xstilts_jax.evaluation.evaluator import evaluate_tasks
from xstilts_jax.evaluation.retrieval import retrieval_split
from xstilts_jax.tools.list_tasks import describe_tasks


pytestmark = pytest.mark.usefixtures("catalog_env")


def _copy_data(src: Path, tmp_path: Path, monkeypatch, *dirs: str) -> Path:
    for d in dirs:
        shutil.copytree(src / d, tmp_path / d)
    monkeypatch.setenv("XSTILTS_DATA_DIR", str(tmp_path))
    return tmp_path


def test_catalog_lists_the_retrieval_tasks():
    text = describe_tasks(tasks.UNAVAILABLE)
    assert re.search(r"^  bucc2018 +head sentence_embedding +embedding +train: - +eval \(4\): de,fr,ru,zh$", text, re.M)
    assert re.search(r"^  mewslix +head mewslix +dual_encoder +train: mewslix +eval \(11\): ar,de,en,es,fa,ja,pl,ro,ta,tr,uk$", text, re.M)
    assert get_task_record("tatoeba.de").head == get_task_record("bucc2018.fr").head == "sentence_embedding"
    assert get_task_record("lareqa").spec.kind == get_task_record("mewslix.ja").spec.kind == "dual_encoder"
    assert len(seqio.get_mixture_or_task("tatoeba.all_langs").tasks) == len(retrieval.TATOEBA_LANGS)


def test_bucc_reader_drops_repeated_sentences_from_the_output_ids():
    data = rs.bucc("de", "dev")
    split = data.split
    # 6 German lines, one sentence twice: 5 texts, the repeated one with id "" (xtreme drops its pairs)
    assert len(split.queries) == 5 and sorted(split.queries.values()).count("") == 1
    assert len(split.candidates) == 6 and min(split.candidates) == 5  # candidates follow the queries
    assert split.relevant["de-000103"] == ["en-000101"]
    assert retrieval_split("bucc2018.de", "validation") == split


def test_tatoeba_queries_are_foreign_and_lareqa_pools_every_language():
    split = rs.tatoeba("de", "test").split
    assert [split.queries[i] for i in sorted(split.queries)] == [f"de-{i}" for i in range(5)]  # LASER's order
    # candidates in xtreme's sorted English order: "I like", "It is", "My sister", "Please", "Where"
    assert [split.candidates[i] for i in sorted(split.candidates)] == ["en-0", "en-2", "en-3", "en-4", "en-1"]
    assert split.relevant["de-2"] == ["en-2"]
    assert rs.sorted_english_order(["b", " a", "b", "a"]) == [1, 3, 0, 2]  # stripped text, ties in file order
    lareqa = retrieval_split("lareqa.th", "test")
    assert len(lareqa.queries) == 3 and len(lareqa.candidates) == 11 * 6
    # the Nile's length is answered in every language: one relevant sentence per language
    nile = lareqa.relevant["5725c2b7ec44d21400f3d4b1_th"]
    assert len(nile) == 11 and "th_1_1" in nile and "zh_1_1" in nile


def test_mewslix_reader_marks_the_mention_in_its_sentence():
    split = retrieval_split("mewslix.de", "test")
    assert split.relevant == {"test-de-0-0": ["Q937"], "test-de-0-1": ["Q64"]}
    data = rs.mewslix("de", "test")
    assert data.texts[0] == "Albert Einstein: In Ulm wurde eine Ausstellung über { Albert Einstein } eröffnet."
    pairs = rs.wikipedia_pairs("train")
    assert len(pairs) == 7  # the German pair is left out
    assert pairs[-1][0].endswith("{ Istanbul } (historic centre).")


def test_bucc_gold_with_unknown_ids_names_the_file(tmp_path, monkeypatch, catalog_env):
    root = _copy_data(catalog_env, tmp_path, monkeypatch, "bucc2018")
    with open(root / "bucc2018" / "fr-en.dev.gold", "a") as f:
        f.write("fr-999999\ten-000101\n")
    with pytest.raises(InputError, match=r"fr-en.dev.gold:5: gold pair fr-999999\ten-000101 references ids \['fr-999999'\]"):
        rs.bucc("fr", "dev")


def test_missing_files_are_named(tmp_path, monkeypatch, catalog_env):
    root = _copy_data(catalog_env, tmp_path, monkeypatch, "bucc2018", "tatoeba", "mewslix")
    (root / "bucc2018" / "ru-en.dev.en").unlink()
    with pytest.raises(ConfigError, match=r"data file not found; looked for: .*bucc2018/ru-en.dev.en"):
        rs.bucc("ru", "dev")
    (root / "bucc2018" / "ru-en.test.gold").unlink()  # xtreme's download deletes the test gold
    assert rs.bucc("ru", "test").split is None
    with pytest.raises(MissingSplitError, match=r"bucc2018.ru test: no gold to score against.*ru-en.test.gold"):
        retrieval_split("bucc2018.ru", "test")
    (root / "mewslix" / "candidate_set_entities.jsonl").unlink()
    with pytest.raises(ConfigError, match="candidate_set_entities.jsonl"):
        rs.mewslix("en", "dev")


def test_misaligned_or_inconsistent_files_are_refused(tmp_path, monkeypatch, catalog_env):
    root = _copy_data(catalog_env, tmp_path, monkeypatch, "tatoeba", "mewslix")
    with open(root / "tatoeba" / "tatoeba.fra-eng.eng", "a") as f:
        f.write("One line too many.\n")
    with pytest.raises(InputError, match=r"tatoeba.fra-eng.fra has 5 lines but .*tatoeba.fra-eng.eng has 6"):
        rs.tatoeba("fr", "test")
    entities = (root / "mewslix" / "candidate_set_entities.jsonl").read_text().splitlines()
    kept = [line for line in entities if json.loads(line)["entity_id"] != "Q64"]
    (root / "mewslix" / "candidate_set_entities.jsonl").write_text("\n".join(kept) + "\n")
    with pytest.raises(InputError, match=r"mentions \[\('dev-de-0-0', 'Q64'\)\] name entities missing"):
        rs.mewslix("de", "dev")


@pytest.mark.slow
def test_retrieval_tasks_score_end_to_end(tmp_path):
    """Each family, from the shipped files through the tiny model to its official metric and predictions file."""
    settings = toy_eval_settings(64)
    cases = {"bucc2018.de": "test", "tatoeba.zh": "test", "lareqa.de": "test", "mewslix.es": "validation"}
    model = catalog_model(*cases, max_positions=130)
    scores = {t: evaluate_tasks(model, [t], s, settings, predictions_dir=tmp_path)[t] for t, s in cases.items()}
    assert set(scores["bucc2018.de"]) == {"precision", "recall", "f1"}
    assert set(scores["tatoeba.zh"]) == {"accuracy"} and set(scores["lareqa.de"]) == {"map_at_20", "queries"}
    assert set(scores["mewslix.es"]) == {"mrr_at_20", "map@20"}
    assert all(0.0 <= v <= 100.0 for s in scores.values() for v in s.values())
    tatoeba = json.loads((tmp_path / "tatoeba.zh.test.json").read_text())
    assert len(tatoeba) == 5 and all(isinstance(i, int) and 0 <= i < 5 for i in tatoeba)
    bucc = json.loads((tmp_path / "bucc2018.de.test.json").read_text())
    assert all(s.startswith("de-") and t.startswith("en-") for s, t in bucc)
    mewslix = json.loads((tmp_path / "mewslix.es.validation.json").read_text())
    assert list(mewslix) == ["dev-es-2-0"] and len(mewslix["dev-es-2-0"]) == 8  # the whole (small) candidate set


@pytest.mark.parametrize("task_name", ["lareqa", "mewslix"])
def test_dual_encoder_training_tasks_give_a_loss(task_name):
    model = catalog_model(task_name, max_positions=130)
    batch = next(host_batches(BatchSpec(task_name, "train", 48, 4, shuffle=False, repeat=False), 1, 2))
    assert batch["input_ids"].shape == (4, 2, 48) and np.all(batch["input_ids"][:, :, 0] == 0)
    total, count = model.loss({k: np.asarray(v) for k, v in batch.items()}, get_task_record(task_name).head)
    assert int(count) == 4 and np.isfinite(float(total))
