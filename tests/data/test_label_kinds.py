"""The label-kind table and the knobs that set a run's default input length and long tagging sentences."""

import dataclasses

import gin
import pytest
import seqio

import tasks  # noqa: F401  (registers the catalog at import, before any binding, as `import tasks` in a gin file)
from xstilts_jax.data.batches import count_examples, default_length
from xstilts_jax.data.feature_converters import PackedEncoderFeatureConverter, PaddedEncoderFeatureConverter
from xstilts_jax.data.label_kinds import IGNORE_LABEL, LABEL_KINDS, InputLengths, get_label_kind
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.evaluation.decoders import DECODERS
from xstilts_jax.partitioning import MeshConfig, Partitioner
from xstilts_jax.training.trainer import TrainConfig


def test_every_row_is_consistent():
    knobs = {f.name for f in dataclasses.fields(InputLengths)}
    for name, kind in LABEL_KINDS.items():
        assert kind.name == name and kind.length_knob in knobs, name
        assert kind.inputs_rank in (1, 2) and set(kind.labels) <= set(kind.ranks), name
        assert kind.decoder is None or kind.decoder in DECODERS, name
        assert set(kind.token_labels) | set(kind.example_labels) == set(kind.labels), name
        assert {"idx", "head_id"} <= set(kind.passthrough), name
        # a kind whose examples cannot be cut must be split upstream, so it expands
        assert kind.truncate or kind.expanding, name
    assert IGNORE_LABEL == -1
    with pytest.raises(ConfigError, match="Unknown label kind 'regression'"):
        get_label_kind("regression")


def test_converters_follow_the_table():
    """Each row's features and ranks are what its converter declares; packable rows pack."""
    for name, kind in LABEL_KINDS.items():
        choices = {"num_choices": 3} if kind.row_per_label else {}
        converter = PaddedEncoderFeatureConverter(1, name, extra_features=kind.passthrough, **choices)
        expected = {"inputs": kind.inputs_rank, **{k: kind.ranks[k] for k in kind.labels}}
        expected.update({k: 0 for k in kind.passthrough})
        assert {k: spec.rank for k, spec in converter.TASK_FEATURES.items()} == expected, name
        assert converter.num_choices == (3 if kind.row_per_label else kind.rows), name
        if kind.packable:
            PackedEncoderFeatureConverter(1, name, 4, extra_features=kind.passthrough)
        else:
            with pytest.raises(ConfigError, match="PaddedEncoderFeatureConverter"):
                PackedEncoderFeatureConverter(1, name, 4)


def test_input_lengths_defaults_and_checks():
    lengths = InputLengths()
    assert [lengths.of(k) for k in ("class", "choice", "tags", "tokens", "span", "pairs", "ranking")] == [
        256, 256, 256, 128, 384, 512, 512,
    ]
    assert InputLengths(tagging=64).of("tags") == 64
    with pytest.raises(ConfigError, match="default_max_length.span must be >= 1"):
        InputLengths(span=0)


def test_default_max_length_knob_sets_the_length_runs_resolve():
    """README: `default_max_length.span` sets QA's input length. The catalog is registered before
    the binding (as in a gin file), so the length is resolved when a run is configured."""
    gin.parse_config(["TrainConfig.task = 'squad'", "TrainConfig.steps = 1"])
    assert default_length("squad", TrainConfig().input_lengths) == 384
    gin.parse_config(["default_max_length.span = 512", "default_max_length.tagging = 128"])
    config = TrainConfig()
    assert default_length("squad", config.input_lengths) == 512
    assert default_length("udpos", config.input_lengths) == 128
    assert default_length("xnli.de", config.input_lengths) == 256  # other kinds keep theirs
    settings = EvalSettings(8, None, Partitioner.from_config(MeshConfig()))
    assert default_length("xquad.de", settings.input_lengths) == 512


def test_a_task_length_wins_over_its_kinds_default():
    lengths = InputLengths(classification=64)
    assert get_task_record("xnli.de").max_length is None
    assert default_length("xnli.de", lengths) == 64
    assert default_length("xnli.all_langs", lengths) == 64  # a mixture: its first task's


def test_long_tagging_sentences_mode_knob(catalog_env):
    """README: gin `long_tagging_sentences.mode = 'truncate'` truncates long tagging sentences
    instead of splitting them; the mode is read when the dataset is built."""
    sentences = (catalog_env / "udpos" / "train-en.tsv").read_text(encoding="utf-8").strip().count("\n\n") + 1
    assert count_examples("udpos", "train", 16) > sentences  # split: long sentences become pieces
    gin.parse_config("long_tagging_sentences.mode = 'truncate'")
    assert count_examples("udpos", "train", 16) == sentences
    ds = seqio.get_mixture_or_task("udpos").get_dataset({"inputs": 16}, split="train", shuffle=False)
    assert max(len(ex["inputs"]) for ex in ds.as_numpy_iterator()) == 16
    gin.parse_config("long_tagging_sentences.mode = 'cut'")
    with pytest.raises(ConfigError, match="must be 'split' or 'truncate'"):
        count_examples("udpos", "train", 16)
