"""The size ladder: `xstilts-jax params`, published counts, unknown names."""

import pytest

from xstilts_jax.cli import main as cli
from xstilts_jax.errors import ConfigError
from xstilts_jax.models.ladder import LADDER, PUBLISHED_PARAMS, available_models, model_config
from xstilts_jax.models.param_count import count_params


def test_every_ladder_rung_and_tiny_has_a_gin_file():
    assert set(LADDER) | {"tiny", "mbert_base"} <= set(available_models())


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_published_sizes_match_within_one_percent(name):
    n = count_params(model_config(name))
    assert abs(n - PUBLISHED_PARAMS[name]) / PUBLISHED_PARAMS[name] < 0.01, (name, n)


def test_large_rungs_are_the_sizes_they_are_named_for():
    sizes = {name: count_params(model_config(name)) for name in ("encoder_30b", "encoder_60b", "encoder_100b")}
    assert 30e9 <= sizes["encoder_30b"] < 33e9
    assert 60e9 <= sizes["encoder_60b"] < 63e9
    assert 100e9 <= sizes["encoder_100b"] < 110e9
    for name in sizes:
        assert model_config(name).norm_style == "pre"


def test_ladder_grows_monotonically():
    counts = [count_params(model_config(name)) for name in LADDER]
    assert counts == sorted(counts)


def test_params_command_prints_breakdown_and_total(capsys):
    assert cli(["params", "--gin_file=gin/models/xlmr_large.gin"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == "params: 559890432"
    assert any("embeddings/word" in line and "256,002,048" in line for line in out)


def test_params_command_gin_override(capsys):
    assert cli(["params", "--model=xlmr_base", "--gin.EncoderConfig.num_layers=6"]) == 0
    total = int(capsys.readouterr().out.strip().splitlines()[-1].split()[-1])
    assert total == count_params(model_config("xlmr_base", num_layers=6))


def test_unknown_model_name(capsys):
    with pytest.raises(ConfigError, match=r"Unknown model name 'xlmr_huge'; known models: .*xlmr_large"):
        model_config("xlmr_huge")
    assert cli(["params", "--model=xlmr_huge"]) == 1
    err = capsys.readouterr().err
    assert "Unknown model name 'xlmr_huge'" in err and "Traceback" not in err


def test_missing_gin_file(capsys):
    assert cli(["params", "--gin_file=gin/models/nope.gin"]) == 1
    assert "gin file 'gin/models/nope.gin' not found" in capsys.readouterr().err


def test_ladder_table_lists_every_rung(capsys):
    assert cli(["params", "--ladder_table"]) == 0
    table = capsys.readouterr().out
    for name in LADDER:
        assert f"`{name}`" in table


def test_readme_ladder_table_is_current():
    """The README's table is the command's output (regenerate with `xstilts-jax params --ladder_table`)."""
    from pathlib import Path

    from xstilts_jax.models.param_count import ladder_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert ladder_table() in readme
