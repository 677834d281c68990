"""`xstilts-jax run` on a target that exists only as one registered record: no gin file, no engine change."""

import json

import pytest

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.cli import main as cli
from xstilts_jax.experiments import targets
from xstilts_jax.experiments.results.store import ResultsStore
from xstilts_jax.experiments.targets import Recipe, TargetRecord, register_target


@pytest.fixture
def toy_target(monkeypatch, catalog_env):
    """POS tagging scored in German and Chinese, trained on the English UD sample: one record."""
    monkeypatch.setattr(targets, "_TARGETS", dict(targets._TARGETS))  # the record leaves with the test
    return register_target(
        TargetRecord(
            "toy_pos",
            train_task="udpos",
            eval_tasks={"de": "udpos.de", "zh": "udpos.zh"},
            dev_tasks=("udpos.en",),
            best_metric="eval/udpos.en/f1",
            recipe=Recipe(epochs=1, batch_size=8, length=32, learning_rate=1e-3),
        )
    )


@pytest.mark.slow
def test_a_new_target_runs_from_its_record_alone(toy_target, tmp_path, capsys):
    args = [
        "run",
        "--gin_file=gin/models/tiny.gin",
        "--gin_file=gin/meshes/toy_cpu8.gin",
        "--gin_file=gin/runs/xstilts.gin",
        "--gin.Experiment.target='toy_pos'",
        f"--gin.Experiment.root='{tmp_path}/runs'",
        "--gin.Experiment.eval_batch_size=8",
        "--gin.Experiment.eval_length=32",
        f"--gin.results_db.path='{tmp_path}/results.sqlite'",
    ]
    assert cli(args) == 0
    assert "target phase done" in capsys.readouterr().out
    target_dir = tmp_path / "runs" / "tiny" / "seed0" / "baseline" / "toy_pos"
    summary = json.loads((target_dir / "target" / "DONE").read_text())
    # the recipe and dev tasks of the record drove the target phase: 1 epoch at batch 8, best by English dev F1
    assert summary["task"] == "udpos" and set(summary["eval"]) >= {"eval/udpos.en/f1"} and summary["best_step"] is not None
    scores = json.loads((target_dir / "eval" / "scores.json").read_text())
    assert set(scores) == {"udpos.de", "udpos.zh"} and {s["split"] for s in scores.values()} == {"test"}
    with ResultsStore(str(tmp_path / "results.sqlite")) as store:
        rows = store.scores(metric="f1")
    assert {(r.target, r.task, r.language) for r in rows} == {("toy_pos", "udpos", "de"), ("toy_pos", "udpos", "zh")}
