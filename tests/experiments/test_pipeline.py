"""The three-phase pipeline on the shipped sample data: phases, DONE markers, reuse, baseline."""

import json
from pathlib import Path

import pytest
from tiny import TOY_MESH, catalog_config

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.experiments import pipeline
from xstilts_jax.experiments.pipeline import Experiment, phase_done, phase_summary, run_experiment
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.trainer import TrainConfig

EVAL = ("udpos.en", "udpos.de", "udpos.ar", "udpos.zh")


pytestmark = pytest.mark.usefixtures("catalog_env")


def _run(tmp_path, intermediate, target="udpos", mlm=None, seed=0):
    config = catalog_config()
    experiment = Experiment(
        root=str(tmp_path), mlm=mlm, intermediate=intermediate, target_train="udpos", target=target, eval_tasks=EVAL,
        eval_batch_size=8, eval_length=64, seed=seed,
    )
    small = dict(batch_size=8, length=64, save_every=2, log_every=2)
    return experiment, run_experiment(
        experiment,
        config,
        TOY_MESH,
        mlm_train=TrainConfig(
            task="mlm", steps=2, eval_every=1, eval_tasks=("mlm",), best_metric="eval/mlm/accuracy", **small
        ) if mlm else None,
        intermediate_train=TrainConfig(task="socialiqa", steps=2, **small) if intermediate else None,
        target_train=TrainConfig(
            task="udpos", steps=4, eval_every=2, eval_tasks=("udpos.en",), best_metric="eval/udpos.en/f1", **small
        ),
        optimizer=OptimizerConfig(learning_rate=1e-3),
        mlm_optimizer=OptimizerConfig(learning_rate=3e-3, b2=0.98) if mlm else None,
    )


@pytest.mark.slow
def test_three_phases_then_reuse_and_skip(tmp_path, monkeypatch):
    experiment, scores = _run(tmp_path, "socialiqa", mlm="mlm")
    assert set(scores) == set(EVAL)
    for task, result in scores.items():
        assert result["split"] == "test" and 0.0 <= result["f1"] <= 100.0  # UD-POS: the UD test sets
    inter = experiment.intermediate_dir("tiny_test")
    target = experiment.target_dir("tiny_test")
    assert phase_done(experiment.mlm_dir("tiny_test")) and phase_done(inter)
    assert phase_done(target / "target") and phase_done(target / "eval")
    # each phase hands on a checkpoint: the best dev masked-token accuracy for MLM, the last for the
    # intermediate phase (no eval tasks), the best dev F1 for the target
    mlm_summary, target_summary = phase_summary(experiment.mlm_dir("tiny_test")), phase_summary(target / "target")
    assert mlm_summary["best_step"] in (1, 2) and set(mlm_summary["eval"]) == {"eval/mlm/accuracy"}
    assert mlm_summary["checkpoint"] == str(tmp_path / "tiny_test" / "mlm" / "mlm" / "checkpoints" / str(mlm_summary["best_step"]))
    assert mlm_summary["settings"]["optimizer"]["learning_rate"] == 3e-3  # the pretraining recipe's own optimizer
    assert phase_summary(inter)["best_step"] is None and phase_summary(inter)["checkpoint"].endswith("/checkpoints/2")
    assert target_summary["best_step"] in (2, 4) and target_summary["checkpoint"].endswith(f"/{target_summary['best_step']}")
    assert set(target_summary["eval"]) == {"eval/udpos.en/f1", "eval/udpos.en/precision", "eval/udpos.en/recall"}
    assert phase_summary(target / "eval")["checkpoint"] == target_summary["export"]  # the params-only export
    assert json.loads((target / "eval" / "scores.json").read_text()) == scores
    assert (target / "eval" / "predictions" / "udpos.de.test.json").is_file()

    # a second target reuses the finished intermediate phase: only one more target phase trains
    trained = []
    real_train = pipeline.train
    monkeypatch.setattr(pipeline, "train", lambda model, run_dir, *a, **k: trained.append(Path(run_dir)) or real_train(model, run_dir, *a, **k))
    _run(tmp_path, "socialiqa", target="udpos_again", mlm="mlm")
    assert trained == [experiment.target_dir("tiny_test").parent / "udpos_again" / "target"]

    # a finished experiment reruns nothing and returns the stored scores
    trained.clear()
    assert _run(tmp_path, "socialiqa", mlm="mlm")[1] == scores and trained == []

    # another seed varies fine-tuning only: its first phase to train is its own intermediate phase (the model
    # size's MLM phase is reused); the baseline's first is its target phase. Stopped there: the phases
    # themselves ran above.
    class Stop(Exception):
        pass

    def first_phase_only(model, run_dir, *a, **k):
        trained.append(Path(run_dir))
        raise Stop

    monkeypatch.setattr(pipeline, "train", first_phase_only)
    with pytest.raises(Stop):
        _run(tmp_path, "socialiqa", mlm="mlm", seed=1)
    assert trained == [tmp_path / "tiny_test" / "seed1" / "intermediate" / "socialiqa"]
    trained.clear()
    with pytest.raises(Stop):
        _run(tmp_path, None)
    baseline = Experiment(root=str(tmp_path), intermediate=None, target="udpos")
    assert trained == [baseline.target_dir("tiny_test") / "target"]
    assert baseline.target_dir("tiny_test").parent.name == "baseline"


def test_target_without_training_scores_the_previous_encoder(tmp_path, monkeypatch):
    """Retrieval targets (Tatoeba, BUCC) evaluate the encoder as it is: no target phase runs."""
    config = catalog_config()
    experiment = Experiment(root=str(tmp_path), target="tatoeba", target_train=None, eval_tasks=("tatoeba.de",),
                            eval_batch_size=8, eval_length=32)
    monkeypatch.setattr(pipeline, "train", lambda *a, **k: pytest.fail("nothing should train"))
    scores = run_experiment(experiment, config, TOY_MESH, optimizer=OptimizerConfig())
    assert set(experiment.phase_dirs("tiny_test")) == {"eval"}
    assert 0.0 <= scores["tatoeba.de"]["accuracy"] <= 100.0 and scores["tatoeba.de"]["split"] == "test"


def test_the_mlm_phase_belongs_to_the_model_size(tmp_path):
    """One pretrained encoder per size: every seed and intermediate task shares it; it needs its own optimizer."""
    cells = [Experiment(root=str(tmp_path), mlm="mlm", intermediate=i, target="udpos", seed=s) for s in (0, 1) for i in (None, "mnli")]
    assert {c.mlm_dir("encoder_30b") for c in cells} == {tmp_path / "encoder_30b" / "mlm" / "mlm"}
    with pytest.raises(Exception, match=r"Experiment.mlm='mlm' needs the pretraining optimizer \(mlm/OptimizerConfig\)"):
        run_experiment(cells[0], catalog_config(), TOY_MESH, optimizer=OptimizerConfig(),
                       mlm_train=TrainConfig(task="mlm", steps=1), target_train=TrainConfig(task="udpos", steps=1))
