"""Gin mistakes are one-line ConfigErrors at parse time: missing includes, unquoted strings, wrong-typed values."""

import gin
import pytest

from xstilts_jax.errors import ConfigError
from xstilts_jax.gin_utils import parse_gin
from xstilts_jax.tools.train_cli import TrainRun  # noqa: F401  (registers TrainRun)
from xstilts_jax.training.trainer import TrainConfig


@pytest.fixture(autouse=True)
def _clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def _error(files=(), bindings=()) -> str:
    with pytest.raises(ConfigError) as err:
        parse_gin(list(files), list(bindings))
    assert "\n" not in str(err.value)
    return str(err.value)


def test_a_missing_include_names_the_file_and_the_including_file(tmp_path):
    run = tmp_path / "run.gin"
    run.write_text("include 'models/nope.gin'\nTrainConfig.steps = 3\n")
    message = _error([str(run)])
    assert "gin include not found" in message and "models/nope.gin" in message and str(run) in message


def test_an_unquoted_string_says_to_quote_it():
    message = _error(bindings=["TASK = socialiqa"])
    assert "socialiqa" in message and "needs quotes" in message


@pytest.mark.parametrize(
    "binding, expected",
    [
        ("TrainConfig.steps = 'ten'", "TrainConfig.steps = 'ten' is a str, but TrainConfig.steps takes int | None"),
        ("TrainConfig.batch_size = 8.0", "TrainConfig.batch_size = 8.0 is a float, but TrainConfig.batch_size takes int"),
        ("TrainConfig.pack = 1", "TrainConfig.pack = 1 is a int, but TrainConfig.pack takes bool"),
        ("TrainConfig.eval_tasks = ['xnli.en', 3]", "takes Sequence[str]"),
        ("TrainRun.model_dir = 5", "TrainRun.model_dir = 5 is a int, but TrainRun.model_dir takes str"),
    ],
)
def test_a_wrong_typed_value_is_refused_at_parse_time(binding, expected):
    assert expected in _error(bindings=[binding])


def test_macros_are_followed_and_right_types_pass():
    with pytest.raises(ConfigError, match="TrainConfig.steps = 'ten'"):
        parse_gin([], ["STEPS = %INNER", "INNER = 'ten'", "TrainConfig.steps = %STEPS"])
    gin.clear_config()
    parse_gin([], ["TrainConfig.steps = %STEPS", "STEPS = 10", "TrainConfig.epochs = 2", "TrainConfig.eval_tasks = ('a', 'b')",
                   "TrainConfig.best_metric = None", "TrainRun.init_from = None"])
    assert TrainConfig(task="x").steps == 10 and TrainConfig(task="x").epochs == 2
