"""`xstilts-jax eval`: scores a (random) model on every language of a task and writes predictions and scores.json."""

import json

import pytest

import tasks  # noqa: F401  (registers the catalog)
from tasks import vocabulary
from xstilts_jax import cli

EVAL = ["udpos.en", "udpos.de"]


pytestmark = pytest.mark.usefixtures("catalog_env")


def test_eval_writes_predictions_and_scores(tmp_path, capsys):
    argv = [
        "--gin_file=gin/models/tiny.gin", "--gin_file=gin/runs/eval.gin", "--gin_file=gin/meshes/toy_cpu8.gin",
        f"--gin.EncoderConfig.vocab_size={vocabulary.MODEL_VOCABULARY.vocab_size}",
        "--gin.CHECKPOINT=None", f"--gin.EVAL_TASKS={EVAL!r}", f"--gin.EVAL_DIR='{tmp_path}'",
        "--gin.EvalRun.batch_size=8", "--gin.EvalRun.length=32",
    ]
    assert cli.main(["eval", *argv]) == 0
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert set(scores) == set(EVAL)
    for task in EVAL:
        assert scores[task]["split"] == "test" and set(scores[task]) == {"f1", "precision", "recall", "split"}
        predictions = json.loads((tmp_path / "predictions" / f"{task}.test.json").read_text())
        assert predictions and all(isinstance(tags, list) for tags in predictions)
    assert (tmp_path / "operative_config.gin").is_file()
    assert not list(tmp_path.rglob("*.tmp"))
    assert "udpos.de" in capsys.readouterr().out


def test_a_checkpoint_without_the_eval_tasks_head_is_refused(tmp_path, capsys):
    from flax import nnx
    from tiny import catalog_config, catalog_model

    from xstilts_jax.checkpoints.pretrained import save_pretrained

    source = tmp_path / "xnli_trained"  # an encoder with an xnli head only
    save_pretrained(str(source), catalog_config(), nnx.state(catalog_model("xnli.en"), nnx.Param).to_pure_dict(), vocab_dir=None)
    argv = [
        "--gin_file=gin/models/tiny.gin", "--gin_file=gin/runs/eval.gin", "--gin_file=gin/meshes/toy_cpu8.gin",
        f"--gin.EncoderConfig.vocab_size={vocabulary.MODEL_VOCABULARY.vocab_size}",
        f"--gin.CHECKPOINT='{source}'", f"--gin.EVAL_TASKS={EVAL!r}", f"--gin.EVAL_DIR='{tmp_path / 'eval'}'",
    ]
    assert cli.main(["eval", *argv]) == 1
    err = capsys.readouterr().err
    assert f"checkpoint {source} has no trained head 'udpos'" in err and "would score noise" in err
    assert not (tmp_path / "eval" / "scores.json").exists()
