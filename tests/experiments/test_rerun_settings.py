"""A finished phase records its settings; a rerun with other settings is refused before anything is written."""

import json

import pytest

from xstilts_jax.errors import ConfigError
from xstilts_jax.experiments.pipeline import DONE, check_settings, mark_done, phase_settings
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.trainer import TrainConfig


def _settings(**train):
    return phase_settings(train=TrainConfig(task="xnli", **train), optimizer=OptimizerConfig(), init_from=None)


def test_a_rerun_with_other_settings_is_refused(tmp_path):
    settings = _settings(steps=10)
    check_settings(tmp_path, settings)  # not finished: nothing to compare
    mark_done(tmp_path, {"checkpoint": "c", "settings": settings})
    before = (tmp_path / DONE).read_text()
    check_settings(tmp_path, _settings(steps=10))  # the same settings: a rerun skips the phase
    with pytest.raises(ConfigError) as err:
        check_settings(tmp_path, _settings(steps=20, batch_size=16))
    message = str(err.value)
    assert f"{tmp_path} already finished with other settings" in message
    assert "train.steps: 10 -> 20" in message and "train.batch_size: 32 -> 16" in message
    assert f"delete {tmp_path / DONE}" in message and "new directory" in message
    assert (tmp_path / DONE).read_text() == before


def test_settings_are_plain_json_and_old_markers_are_accepted(tmp_path):
    settings = _settings(steps=10, eval_tasks=("xnli.en",))
    assert json.loads(json.dumps(settings)) == settings and settings["train"]["eval_tasks"] == ["xnli.en"]
    mark_done(tmp_path, {"checkpoint": "c"})  # written before settings were recorded
    check_settings(tmp_path, settings)


@pytest.mark.usefixtures("catalog_env")
def test_a_grid_cell_rerun_with_other_settings_is_refused_before_anything_runs(tmp_path, monkeypatch):
    import tasks  # noqa: F401  (registers the catalog)
    from tiny import TOY_MESH, catalog_config

    from xstilts_jax.experiments import pipeline
    from xstilts_jax.experiments.pipeline import Experiment, run_experiment

    config, optimizer = catalog_config(), OptimizerConfig(learning_rate=1e-3)
    experiment = Experiment(root=str(tmp_path), intermediate="socialiqa", target="udpos", eval_tasks=("udpos.en",))
    finished = TrainConfig(task="socialiqa", steps=2)
    settings = phase_settings(model=config, train=finished, optimizer=optimizer, load_from=None, seed=0)
    mark_done(experiment.intermediate_dir(config.name), {"checkpoint": "c", "settings": settings})
    monkeypatch.setattr(pipeline, "model_for", lambda *a, **k: pytest.fail("nothing should be built"))
    with pytest.raises(ConfigError, match=r"intermediate/socialiqa already finished with other settings \(train.steps: 2 -> 3\)"):
        run_experiment(experiment, config, TOY_MESH, optimizer=optimizer,
                       intermediate_train=TrainConfig(task="socialiqa", steps=3), target_train=TrainConfig(task="udpos", steps=1))
