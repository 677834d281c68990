"""The split each target is scored on: one field of its record (UD-POS: the UD releases' tagged test sets),
read by the evaluation and the results store; a language without that split is reported unscored."""

import json

import pytest
from tiny import catalog_model, toy_eval_settings

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.evaluator import MISSING, evaluate_and_write
from xstilts_jax.experiments.results.records import scoring_split
from xstilts_jax.experiments.tables import format_scores
from xstilts_jax.experiments.targets import TargetRecord, eval_split, get_target, register_target

pytestmark = pytest.mark.usefixtures("catalog_env")


def test_udpos_is_scored_on_test_while_its_dev_task_keeps_validation():
    assert get_target("udpos").scoring_split == "test"
    assert {eval_split(f"udpos.{lang}") for lang in ("en", "de", "kk", "th", "tl", "yo")} == {"test"}
    assert scoring_split("udpos") == "test"  # what the results store and the aggregates read
    # dev evaluation during training (the checkpoint pick) reads the task record: still the dev set
    assert get_task_record("udpos.en").scoring_split == "validation"
    # targets without a `split` keep their tasks' own: dev where it exists, else test
    assert (eval_split("xnli.de"), eval_split("xquad.de"), scoring_split("panx")) == ("validation", "test", "validation")


def test_a_target_split_its_tasks_lack_is_refused():
    record = TargetRecord("copa_dev_only", train_task="copa", eval_tasks={"en": "copa"}, split="test")
    with pytest.raises(ConfigError, match=r"'copa_dev_only' is scored on 'test', which \['copa'\] do not have"):
        register_target(record)


def test_missing_test_split_is_reported_not_replaced_by_dev(tmp_path):
    # The samples hold UD test files for en, de, ar, zh; kk has none (and no dev file either).
    model = catalog_model("udpos.de")
    scores = evaluate_and_write(model, ["udpos.de", "udpos.kk"], toy_eval_settings(64), tmp_path)
    assert scores["udpos.de"]["split"] == "test" and 0.0 <= scores["udpos.de"]["f1"] <= 100.0
    assert set(scores["udpos.kk"]) == {"split", MISSING} and scores["udpos.kk"]["split"] == "test"
    assert "ud-treebanks-v2.5/*/kk_*-ud-test.conllu" in scores["udpos.kk"][MISSING]
    written = json.loads((tmp_path / "scores.json").read_text())
    assert written == scores
    predictions = sorted(p.name for p in (tmp_path / "predictions").iterdir())
    assert predictions == ["udpos.de.test.json"]
    # scored on the UD sample's three German test sentences, not the four of dev-de.tsv
    assert len(json.loads((tmp_path / "predictions" / "udpos.de.test.json").read_text())) == 3
    table = format_scores("udpos", scores)
    assert "udpos.kk         test          not scored: udpos (kk) test: no UD treebank test file" in table


def test_evaluation_where_no_task_has_the_split_fails(tmp_path):
    model = catalog_model("udpos.kk")
    with pytest.raises(ConfigError, match=r"No eval task could be scored; the first says: udpos \(kk\) test"):
        evaluate_and_write(model, ["udpos.kk", "udpos.yo"], toy_eval_settings(64), tmp_path)
    assert not (tmp_path / "scores.json").exists()
