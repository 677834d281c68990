"""Leaderboard submissions scored as google-research/xtreme's evaluate.py scores them: span QA written as
SQuAD's {id: answer} JSON, Tatoeba in xtreme's sorted-English order, LAReQA named as not submittable."""

import json
from pathlib import Path

import pytest
from tiny import catalog_model, toy_eval_settings

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.evaluation import qa_metrics
from xstilts_jax.evaluation.evaluator import evaluate_and_write

pytestmark = pytest.mark.usefixtures("catalog_env")


def official_squad(label_file: Path, prediction_file: Path) -> dict[str, float]:
    """evaluate.py's QA path: read_squad on both files (the labels' `data`, the predictions' {id: text}),
    then evaluate_squad.evaluate: every labelled question counts, an unanswered one scores 0."""
    labels = json.loads(label_file.read_text(encoding="utf-8"))["data"]
    predictions = json.loads(prediction_file.read_text(encoding="utf-8"))
    exact = f1 = total = 0.0
    for article in labels:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                total += 1
                if qa["id"] in predictions:
                    one = qa_metrics.squad_v1([[a["text"] for a in qa["answers"]]], [predictions[qa["id"]]])
                    exact, f1 = exact + one["exact_match"] / 100, f1 + one["f1"] / 100
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}


def test_qa_submission_is_squad_json_that_the_official_scorer_reads(catalog_data, tmp_path):
    from xstilts_jax.experiments.results.submission import write_submission

    predictions = tmp_path / "predictions"
    predictions.mkdir()
    # as the evaluator writes them: <task>.<split>.json holding {question id: answer text}
    answers = {"xquad-ro-0": "Marea Nordului.", "xquad-ro-1": "1.230 de kilometri"}
    (predictions / "xquad.ro.test.json").write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    write_submission(tmp_path / "submission", predictions)
    written = tmp_path / "submission" / "xquad" / "test-ro.json"
    assert json.loads(written.read_text(encoding="utf-8")) == answers
    # By hand: q0 normalizes to "marea nordului", a gold answer (EM 1, F1 1); q1 "1230 de kilometri" against
    # "aproximativ 1230 de kilometri": EM 0, precision 3/3, recall 3/4, F1 6/7.
    expected = {"exact_match": 50.0, "f1": 100.0 * (1 + (2 * 1.0 * 0.75) / 1.75) / 2}
    assert official_squad(catalog_data / "xquad" / "xquad.ro.json", written) == pytest.approx(expected, abs=1e-12)


def test_evaluated_qa_predictions_become_a_submission_scored_like_the_run(catalog_data, tmp_path):
    from xstilts_jax.experiments.results.submission import write_submission

    scores = evaluate_and_write(catalog_model("xquad.ro"), ["xquad.ro"], toy_eval_settings(48), tmp_path / "eval")
    write_submission(tmp_path / "submission", tmp_path / "eval" / "predictions")
    official = official_squad(catalog_data / "xquad" / "xquad.ro.json", tmp_path / "submission" / "xquad" / "test-ro.json")
    assert official == pytest.approx({k: scores["xquad.ro"][k] for k in ("exact_match", "f1")}, abs=1e-9)


def official_accuracy(label_lines: list[str], prediction_file: Path) -> float:
    """evaluate.py's Tatoeba path: read_label on both (stripped lines), accuracy = share of equal lines."""
    predictions = [line.strip() for line in prediction_file.read_text().splitlines()]
    assert len(predictions) == len(label_lines)
    return 100 * sum(p == l for p, l in zip(predictions, label_lines)) / len(predictions)


def test_tatoeba_submission_follows_xtremes_sorted_english_order(catalog_data, tmp_path, monkeypatch):
    import numpy as np

    from xstilts_jax.evaluation import metrics
    from xstilts_jax.evaluation.decoders import retrieval as decoders
    from xstilts_jax.evaluation.retrieval import retrieval_split
    from xstilts_jax.experiments.results.submission import write_submission

    english = (catalog_data / "tatoeba" / "tatoeba.deu-eng.eng").read_text().splitlines()
    assert english[1] == "Where is the nearest train station?" and english[2] == "It is very cold today."
    # xtreme's tatoeba_preprocess sorts the English lines: "I like ..." (0), "It is ..." (2), "My sister ..." (3),
    # "Please ..." (4), "Where ..." (1). Its label of German line i is where English line i landed:
    official_labels = ["0", "4", "1", "2", "3"]
    # A model that finds each German line's translation except line 3, which it matches with English line 1.
    found = {0: 0, 1: 1, 2: 2, 3: 1, 4: 4}
    split = retrieval_split("tatoeba.de", "test")
    assert sorted(split.queries.values()) == [f"de-{i}" for i in range(5)]  # German asks, English answers
    vectors = {idx: np.eye(5, dtype=np.float32)[int(cid[3:])] for idx, cid in split.candidates.items()}
    vectors |= {idx: np.eye(5, dtype=np.float32)[found[int(qid[3:])]] for idx, qid in split.queries.items()}
    from tiny import toy_eval_settings

    from xstilts_jax.evaluation.retrieval_search import place

    idx = sorted(vectors)
    side = place(np.stack([vectors[i] for i in idx]), toy_eval_settings().partitioner.mesh)
    pass_ = decoders.Embedded(side.vectors, np.concatenate([idx, np.full(side.vectors.shape[0] - len(idx), -1)]))
    monkeypatch.setattr(decoders, "embed", lambda model, task, s, settings, length, idx_range: pass_)
    gold, predicted = decoders.decode_nearest(None, "tatoeba.de", "test", toy_eval_settings())
    assert (gold, predicted) == ([0, 4, 1, 2, 3], [0, 4, 1, 4, 3])  # positions in the sorted English file
    ours = metrics.accuracy(gold, predicted)["accuracy"]

    predictions = tmp_path / "predictions"
    predictions.mkdir()
    (predictions / "tatoeba.de.test.json").write_text(json.dumps(predicted))
    write_submission(tmp_path / "submission", predictions)
    written = tmp_path / "submission" / "tatoeba" / "test-de.tsv"
    assert official_accuracy(official_labels, written) == ours == 80.0
    # LASER's order (the English line numbers themselves) would score 20 against the same labels.
    (predictions / "tatoeba.de.test.json").write_text(json.dumps([found[i] for i in range(5)]))
    write_submission(tmp_path / "submission", predictions, overwrite=True)
    assert official_accuracy(official_labels, written) == 20.0


def test_the_missing_tasks_listing_names_lareqa_and_why(tmp_path):
    from xstilts_jax.evaluation.aggregation import BENCHMARKS
    from xstilts_jax.experiments.results.submission import lacking_lines

    files = [Path("xnli") / "test-de.tsv", Path("mewslix") / "test-de.json"]
    lines = lacking_lines(files, BENCHMARKS["xtreme_r"])
    assert lines[0].startswith("  xnli: ar, bg, el, en, es, fr")  # written in part: its missing languages
    assert "  udpos: all languages" in lines
    lareqa = [line for line in lines if line.startswith("  lareqa:")]
    assert lareqa == [
        "  lareqa: never written: google-research/xtreme's evaluate.py has no LAReQA reader and lists no LAReQA "
        "languages (XTREME_R_TASK2LANGS['lareqa'] is empty), so no leaderboard file format exists; its mAP@20 is "
        "in the run's own scores (`results --aggregate`)"
    ]
    assert not any(line.startswith("  lareqa") for line in lacking_lines(files, BENCHMARKS["xtreme"]))  # not an XTREME task
