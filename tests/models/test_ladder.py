"""Ladder model configs are read from their gin files without touching the global gin config."""

import gin
import pytest

from xstilts_jax.errors import ConfigError
from xstilts_jax.gin_utils import parse_gin
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.ladder import LADDER, available_models, config_from_gin, model_config, model_gin_file


def test_model_config_equals_the_gin_file_and_leaves_the_gin_config_alone():
    parse_gin(["gin/models/tiny.gin"], ["EncoderConfig.remat = 'full'"])
    before = gin.config_str()
    for name in available_models():
        config = model_config(name)
        assert config.name == name and config.remat == EncoderConfig.__dataclass_fields__["remat"].default
    assert gin.config_str() == before and EncoderConfig().name == "tiny"  # the caller's bindings survive
    gin.clear_config()
    for name in (*LADDER, "tiny", "mbert_base"):
        assert model_config(name) == config_from_gin([str(model_gin_file(name))])
        gin.clear_config()
    assert model_config("xlmr_base", dtype="bfloat16").dtype == "bfloat16"


def test_a_model_file_with_other_bindings_is_a_config_error(tmp_path, monkeypatch):
    (tmp_path / "odd.gin").write_text("EncoderConfig.name = 'odd'\nTrainConfig.steps = 3\n")
    monkeypatch.setattr("xstilts_jax.models.ladder.MODELS_DIR", tmp_path)
    with pytest.raises(ConfigError, match="binds only EncoderConfig fields and its rung.s placement"):
        model_config("odd")
