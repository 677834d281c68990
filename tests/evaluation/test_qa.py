"""Span QA decoding end to end: registered QA tasks → tiny model → n-best span decoding → official metrics."""

import dataclasses
import json
import sys
from pathlib import Path

import gin
import numpy as np
import pytest
import seqio
from jobs import finish, job_envs, launch, process_env
from tfds_mocks import mock_tfds, squad_json_examples
from tiny import TOY_MESH, catalog_config, catalog_model, toy_eval_settings

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.evaluation import qa_metrics
from xstilts_jax.evaluation.evaluator import evaluate_tasks
from xstilts_jax.evaluation.forward import forward_batches
from xstilts_jax.evaluation.decoders import decode
from xstilts_jax.evaluation.decoders.spans import best_answer, window_candidates
from xstilts_jax.evaluation.span_decoding import SpanDecoding

LENGTH = 48  # several windows per example with the sample vocabulary


pytestmark = pytest.mark.usefixtures("catalog_env")


@pytest.fixture(scope="module")
def settings():
    return toy_eval_settings(LENGTH)


def _file_answers(path: Path) -> list[list[str]]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    return [[a["text"] for a in qa["answers"]] for d in data for p in d["paragraphs"] for qa in p["qas"]]


def _brute_force(model, task, split, settings, max_answer_length=30):
    """Best span over every (start, end) token pair of every window, without top-k."""
    ds = seqio.get_mixture_or_task(task).get_dataset(
        {"inputs": LENGTH}, split=split, shuffle=False, try_in_mem_cache=False, trim_output_features=False
    )
    rows = {(int(r["idx"]), int(r["window"])): r for r in ds.as_numpy_iterator()}
    best: dict[int, tuple[float, str]] = {idx: (-np.inf, "") for idx, _ in rows}

    def select(out):
        return {"start": out["start_logits"], "end": out["end_logits"]}

    for batch, out in forward_batches(model, task, split, get_task_record(task).head, settings, select):
        for r, key in enumerate(zip(batch["idx"].tolist(), batch["window"].tolist())):
            offsets, context = rows[key]["offsets"], rows[key]["context"].decode()
            for s in range(len(offsets)):
                for e in range(s, min(len(offsets), s + max_answer_length)):
                    if offsets[s, 0] >= 0 and offsets[e, 0] >= 0 and offsets[e, 1] > offsets[s, 0]:
                        score = float(out["start"][r][s]) + float(out["end"][r][e])
                        if score > best[key[0]][0]:
                            best[key[0]] = (score, context[offsets[s, 0] : offsets[e, 1]])
    return [best[i][1] for i in sorted(best)]


@pytest.mark.slow
def test_span_decoding_equals_brute_force_and_scores_officially(catalog_data, settings, tmp_path):
    raw = {
        "test": squad_json_examples(catalog_data / "xquad" / "xquad.zh.json"),
        "validation": squad_json_examples(catalog_data / "mlqa" / "MLQA_V1" / "dev" / "dev-context-zh-question-zh.json"),
    }
    model = catalog_model("xquad.zh")  # XQuAD and MLQA share SQuAD's head
    gin.bind_parameter("span_decoding.n_best_size", LENGTH)  # top-k over every token: same as brute force
    settings = dataclasses.replace(settings, spans=SpanDecoding())  # the binding applies when settings are built
    with mock_tfds(raw):
        gold, pred, _ = decode(model, "xquad.zh", "test", settings)
        assert list(gold.values()) == _file_answers(catalog_data / "xquad" / "xquad.zh.json")
        assert list(pred.values()) == _brute_force(model, "xquad.zh", "test", settings)
        results = evaluate_tasks(model, ["mlqa.zh"], "validation", settings, predictions_dir=tmp_path)
    # the predictions file is SQuAD's {question id: answer text}, as evaluate.py reads it
    predictions = json.loads((tmp_path / "mlqa.zh.validation.json").read_text())
    contexts = {ex["id"].decode() if isinstance(ex["id"], bytes) else ex["id"]: ex["context"] for ex in raw["validation"]}
    assert predictions.keys() == contexts.keys() and all(predictions[q] in contexts[q] for q in contexts)
    golds = [ex["answers"]["text"] for ex in raw["validation"]]
    assert results["mlqa.zh"] == qa_metrics.mlqa("zh")(golds, list(predictions.values()))
    assert qa_metrics.squad_v1(gold, pred).keys() == results["mlqa.zh"].keys() == {"exact_match", "f1"}


def test_squad_v2_no_answer_threshold(catalog_data, settings):
    raw = {"validation": squad_json_examples(catalog_data / "squad" / "dev-v2.0.json", v2=True)}
    model = catalog_model("squad_v2")
    with mock_tfds(raw):
        gin.bind_parameter("span_decoding.null_score_diff_threshold", -1e9)
        gold, always_null, _ = decode(model, "squad_v2", "validation", dataclasses.replace(settings, spans=SpanDecoding()))
        gin.bind_parameter("span_decoding.null_score_diff_threshold", 1e9)
        _, never_null, _ = decode(model, "squad_v2", "validation", dataclasses.replace(settings, spans=SpanDecoding()))
    assert gold == {"sq2-dev-0": ["about 1,230 kilometres", "1,230 kilometres"], "sq2-dev-1": [], "sq2-dev-2": ["Rotterdam"]}
    assert list(always_null.values()) == ["", "", ""] and all(never_null.values())
    scores = qa_metrics.squad_v2(gold, always_null)
    assert scores["no_answer_exact_match"] == 100.0 and scores["has_answer_exact_match"] == 0.0


def test_squad_v2_scores_carry_the_best_no_answer_thresholds(catalog_data, settings):
    """decoding -> metrics: evaluate-v2.0.py's best_exact / best_f1 from each question's no-answer score."""
    raw = {"validation": squad_json_examples(catalog_data / "squad" / "dev-v2.0.json", v2=True)}
    model = catalog_model("squad_v2")
    with mock_tfds(raw):
        gold, pred, aux = decode(model, "squad_v2", "validation", settings)
        scores = evaluate_tasks(model, ["squad_v2"], "validation", settings)["squad_v2"]
    no_answer = aux["no_answer_score"]
    assert no_answer.keys() == gold.keys() and all(np.isfinite(v) for v in no_answer.values())
    # the default threshold 0: a question is answered "" exactly when its no-answer score is above 0
    assert all((pred[q] == "") == (no_answer[q] > 0.0) for q in gold)
    expected = qa_metrics.squad_v2_best_thresholds(list(gold.values()), list(pred.values()), list(no_answer.values()))
    assert {k: scores[k] for k in expected} == expected
    assert {"exact_match", "f1", "best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"} <= set(scores)


def test_window_candidates_and_best_answer():
    # tokens: <s> q </s> </s> c0 c1 c2 </s> ; context "ab cd ef", c_i = the i-th word
    offsets = np.array([[-1, -1]] * 4 + [[0, 2], [3, 5], [6, 8]] + [[-1, -1]])
    starts, ends = np.array([5, 1, 6, 4, 9]), np.array([4, 6, 5, 1, 9])
    scores = np.arange(5, dtype=np.float32)
    got = window_candidates(starts, scores, ends, scores, offsets, max_answer_length=2)
    # (5,5) "cd", (5,6) "cd ef", (6,6) "ef", (4,4) "ab", (4,5) "ab cd"; (4,6) is 3 tokens; e < s,
    # question tokens and padding (9) are excluded
    assert sorted(got) == sorted([(0 + 2, 3, 5), (0 + 1, 3, 8), (2 + 1, 6, 8), (3 + 0, 0, 2), (3 + 2, 0, 5)])
    assert best_answer("ab cd ef", got, [1.0], allow_no_answer=False) == "ab cd"
    assert best_answer("ab cd ef", got, [6.0, 9.0], allow_no_answer=True) == ""  # min null 6 - best 5 > 0
    assert best_answer("ab cd ef", got, [5.5], allow_no_answer=True, null_score_diff_threshold=1.0) == "ab cd"
    assert best_answer("ab cd ef", [], [0.0], allow_no_answer=False) == ""


@pytest.mark.slow
def test_two_process_span_decoding_equals_one_process(tmp_path):
    """Each host decodes the examples of its data shard; every host ends with all of them."""
    worker = Path(__file__).with_name("qa_multihost_worker.py")
    out = tmp_path / "pred"
    finish(launch([sys.executable, str(worker), str(out)], job_envs(process_env(4), 2)))
    per_process = [json.loads(Path(f"{out}.{i}.json").read_text()) for i in range(2)]
    assert per_process[0] == per_process[1]
    gold, pred, aux = decode(catalog_model("xquad.ro"), "xquad.ro", "test", toy_eval_settings())
    # Hosts hold interleaved shards, so the gathered order is by host; keyed by question id, they agree.
    assert per_process[0][:2] == [gold, pred] and len(gold) == 2
    assert per_process[0][2]["no_answer_score"] == pytest.approx(aux["no_answer_score"], abs=1e-4)


@pytest.mark.slow
def test_squad_then_zero_shot_xquad_through_the_pipeline(catalog_data, tmp_path):
    """The XQuAD target as `xstilts-jax run` drives it: train on SQuAD (TFDS, mocked), score XQuAD per language."""
    from xstilts_jax.experiments.pipeline import Experiment, phase_summary, run_experiment
    from xstilts_jax.training.optimizer import OptimizerConfig
    from xstilts_jax.training.trainer import TrainConfig

    raw = {
        "train": squad_json_examples(catalog_data / "squad" / "train-v1.1.json"),
        "validation": squad_json_examples(catalog_data / "squad" / "dev-v1.1.json"),
        "test": squad_json_examples(catalog_data / "xquad" / "xquad.zh.json"),
    }
    config = catalog_config()
    experiment = Experiment(root=str(tmp_path), target="xquad", target_train="squad",
                            eval_tasks=("xquad.zh", "xquad.ro"), eval_batch_size=8, eval_length=LENGTH)
    train = TrainConfig(task="squad", steps=4, batch_size=8, length=LENGTH, save_every=2, eval_tasks=("squad",),
                        eval_every=2, best_metric="eval/squad/f1")
    with mock_tfds(raw):
        scores = run_experiment(
            experiment, config, TOY_MESH, optimizer=OptimizerConfig(learning_rate=1e-3),
            target_train=train,
        )
    assert set(scores) == {"xquad.zh", "xquad.ro"}  # zh from TFDS (mocked), ro from xtreme's file layout
    for result in scores.values():
        assert result["split"] == "test" and {"exact_match", "f1"} <= set(result) and 0.0 <= result["f1"] <= 100.0
    assert "eval/squad/f1" in phase_summary(experiment.target_dir("tiny_test") / "target")["eval"]
