"""Target records: `Experiment.target` alone resolves the tasks, the target phase's recipe fills in what gin leaves unbound."""

import gin
import pytest

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.errors import ConfigError
from xstilts_jax.experiments import targets
from xstilts_jax.experiments.pipeline import Experiment, target_phase_defaults
from xstilts_jax.experiments.results.records import RunInfo
from xstilts_jax.experiments.results.submission import QA_FORMAT, NoSubmissionFormat
from xstilts_jax.experiments.targets import BASELINE, Recipe, TargetRecord, get_target, register_target, system_name
from xstilts_jax.tools import run_cli


def test_the_target_name_alone_resolves_training_and_eval_tasks():
    xnli = Experiment(target="xnli")
    assert xnli.target_train == "mnli"
    assert xnli.eval_tasks == tuple(f"xnli.{lang}" for lang in sorted(get_target("xnli").languages))
    assert set(xnli.phase_dirs("m")) == {"target", "eval"}
    assert Experiment(target="tatoeba").target_train is None  # scored without target training
    bound = Experiment(target="xnli", target_train="anli_r1", eval_tasks=("xnli.de",))
    assert (bound.target_train, bound.eval_tasks) == ("anli_r1", ("xnli.de",))
    # an unregistered target runs when its tasks are bound, and otherwise names the close ones
    assert Experiment(target="my_nli", target_train="mnli", eval_tasks=("xnli.de",)).target_train == "mnli"
    with pytest.raises(ConfigError, match=r"No target 'xnlj' is registered\. Did you mean 'xnli'\?"):
        Experiment(target="xnlj")


def test_the_baseline_has_one_name():
    assert system_name(None) == BASELINE == Experiment(target="xnli").target_dir("m").parent.name
    assert system_name("mnli") == "mnli"
    assert RunInfo("r", "m", 1, "xnli").intermediate == BASELINE  # the results store's too


def test_eval_tasks_lead_to_their_target_its_split_and_leaderboard_format():
    assert targets.target_of_eval_task("xquad.de").name == "xquad"
    assert targets.target_of_eval_task("mnli") is None and targets.target_of_eval_task("xquad") is None
    assert (get_target("xquad").scoring_split, get_target("xnli").scoring_split) == ("test", "validation")
    assert get_target("xquad").submission is get_target("mlqa").submission is QA_FORMAT
    assert isinstance(get_target("lareqa").submission, NoSubmissionFormat)


def test_target_phase_defaults_come_from_the_record():
    expected = {"epochs": 2, "batch_size": 16, "eval_tasks": ("squad",), "best_metric": "eval/squad/f1"}
    assert target_phase_defaults("xquad") == expected
    assert target_phase_defaults("lareqa") == {"batch_size": 32}
    assert target_phase_defaults("not_a_target") == {}


def test_gin_bindings_override_the_recipe():
    gin.parse_config(["import xstilts_jax.training.trainer", "target/TrainConfig.epochs = 3", "TrainConfig.best_metric = None"])
    config = run_cli.phase_config("target", "squad", target_phase_defaults("xquad"))
    assert (config.epochs, config.batch_size, config.eval_tasks, config.best_metric) == (3, 16, ("squad",), None)
    assert run_cli._optimizer("xnli").learning_rate == 1e-5
    gin.parse_config(["import xstilts_jax.training.optimizer", "OptimizerConfig.learning_rate = 1e-3"])
    assert run_cli._optimizer("xnli").learning_rate == 1e-3


def test_a_target_record_is_checked_against_the_task_records(monkeypatch):
    monkeypatch.setattr(targets, "_TARGETS", {})
    with pytest.raises(ConfigError, match="lists 'xnli.fr' as its 'de' eval task, but that task's language is 'fr'"):
        register_target(TargetRecord("bad", "mnli", {"de": "xnli.fr"}))
    with pytest.raises(ConfigError, match="Unknown task or mixture 'mnlii'"):
        register_target(TargetRecord("bad", "mnlii", {"de": "xnli.de"}))
    with pytest.raises(ConfigError, match="needs dev tasks"):
        TargetRecord("bad", "mnli", {"de": "xnli.de"}, best_metric="eval/xnli.en/accuracy")
    good = register_target(TargetRecord("good", "mnli", {"de": "xnli.de"}, recipe=Recipe(epochs=1)))
    assert register_target(good) is good  # the same record again is fine; a different one is not
    with pytest.raises(ConfigError, match="already registered"):
        register_target(TargetRecord("good", "snli", {"de": "xnli.de"}))
    with pytest.raises(ConfigError, match=r"scored on different splits \['test', 'validation'\]"):
        register_target(TargetRecord("mixed", None, {"de": "xnli.de", "en": "xquad.en"}))
