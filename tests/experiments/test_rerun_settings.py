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
