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


def test_a_rerun_of_a_finished_run_with_other_settings_is_refused(capsys, tmp_path):
    import gin

    from xstilts_jax.experiments.pipeline import DONE, mark_done
    from xstilts_jax.gin_utils import parse_gin
    from xstilts_jax.models.config import EncoderConfig
    from xstilts_jax.tools.train_cli import TrainRun, run_settings
    from xstilts_jax.training.trainer import TrainConfig

    run_dir = tmp_path / "run"
    flags = [f"--gin.MODEL_DIR='{run_dir}'", "--gin.TASK='udpos'"]
    # the DONE marker a finished 3-step run of these flags leaves
    parse_gin([f.split("=", 1)[1] for f in BASE], [f[len("--gin."):].replace("=", " = ", 1) for f in flags] + ["TrainConfig.steps = 3"])
    mark_done(run_dir, {"checkpoint": str(run_dir / "checkpoints" / "3"), "settings": run_settings(TrainRun(), EncoderConfig(), TrainConfig())})
    gin.clear_config()
    (run_dir / "operative_config.gin").write_text("# the finished run's config\n")
    err = _error(capsys, *BASE, *flags, "--gin.TrainConfig.steps=5")
    assert f"{run_dir} already finished with other settings (train.steps: 3 -> 5)" in err
    assert "new directory" in err and f"delete {run_dir / DONE}" in err
    assert (run_dir / "operative_config.gin").read_text() == "# the finished run's config\n"
    assert not (run_dir / "checkpoints").exists()


def test_an_unwritable_run_directory_is_one_line(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    err = _error(capsys, *BASE, "--gin.TASK='udpos'", f"--gin.MODEL_DIR='{blocker / 'run'}'", "--gin.TrainConfig.steps=1")
    assert f"cannot use {blocker}" in err and "choose a path this user can write" in err and "Traceback" not in err
