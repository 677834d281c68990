"""`xstilts-jax train` / `eval`: bad gin, unknown tasks and checkpoint/model mismatches are clear one-line errors."""

import pytest

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax import cli
from xstilts_jax.checkpoints.pretrained import save_pretrained
from xstilts_jax.models.ladder import model_config

BASE = ["--gin_file=gin/models/tiny.gin", "--gin_file=gin/runs/target.gin", "--gin_file=gin/meshes/toy_cpu8.gin"]


pytestmark = pytest.mark.usefixtures("catalog_env")


def _error(capsys, *argv):
    assert cli.main(["train", *argv]) == 1
    return capsys.readouterr().err


def test_bad_gin_names_the_binding(capsys, tmp_path):
    err = _error(capsys, *BASE, "--gin.TASK='udpos'", f"--gin.MODEL_DIR='{tmp_path}'", "--gin.TrainConfig.stepz=3")
    assert "gin configuration error" in err and "stepz" in err and "Traceback" not in err


def test_missing_required_macro_names_it(capsys):
    err = _error(capsys, *BASE, "--gin.TASK='udpos'")
    assert "MODEL_DIR" in err or "model_dir" in err


def test_unknown_task_suggests_close_names(capsys, tmp_path):
    err = _error(capsys, *BASE, "--gin.TASK='udposs'", f"--gin.MODEL_DIR='{tmp_path}'", "--gin.TrainConfig.steps=1")
    assert "Unknown task or mixture 'udposs'" in err and "'udpos'" in err


def test_checkpoint_of_another_model_lists_the_mismatch(capsys, tmp_path):
    from flax import nnx

    from xstilts_jax.models import build_model

    other = model_config("tiny", hidden_size=32, num_heads=2, mlp_dim=64)
    source = tmp_path / "other"
    save_pretrained(str(source), other, nnx.state(build_model(other, {}), nnx.Param).to_pure_dict(), vocab_dir=None)
    err = _error(
        capsys, *BASE, "--gin.TASK='udpos'", f"--gin.MODEL_DIR='{tmp_path / 'run'}'", "--gin.TrainConfig.steps=1",
        f"--gin.INIT_FROM='{source}'",
    )
    assert str(source) in err and "encoder/layers/query: checkpoint (2, 32, 2, 16) vs model (2, 64, 4, 16)" in err
    assert not (tmp_path / "run" / "checkpoints").exists()
