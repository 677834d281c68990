"""The checkpoint directory: round trip, head selection, shape mismatches, missing pieces."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest
from flax import nnx

from xstilts_jax.checkpoints.pretrained import load_config, load_pretrained, save_pretrained
from xstilts_jax.errors import CheckpointError
from xstilts_jax.models import HeadSpec, build_model

MLM = HeadSpec("mlm")
CLS3 = HeadSpec("classification", num_labels=3)


def _params(model) -> dict:
    return nnx.state(model, nnx.Param).to_pure_dict()


def _assert_trees_equal(a, b) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(np.testing.assert_array_equal, a, b)


@pytest.fixture(scope="module")
def saved(tiny_config, tmp_path_factory):
    """A checkpoint with an MLM head and a 3-class classification head."""
    model = build_model(tiny_config, {"mlm": MLM, "cls": CLS3}, seed=1)
    directory = str(tmp_path_factory.mktemp("ckpt") / "tiny")
    save_pretrained(directory, tiny_config, _params(model), vocab_dir=None)
    return directory, _params(model)


def test_round_trip(saved, tiny_config):
    directory, params = saved
    assert sorted(os.listdir(directory)) == ["config.json", "model.gin", "params"]
    assert load_config(directory) == tiny_config
    model = load_pretrained(directory, {"mlm": MLM, "cls": CLS3})
    _assert_trees_equal(_params(model), params)


def test_heads_are_selected_by_name(saved, tiny_config):
    directory, params = saved
    tag = HeadSpec("tagging", num_labels=5)
    model = load_pretrained(directory, {"cls": CLS3, "tag": tag}, seed=7)
    loaded = _params(model)
    _assert_trees_equal(loaded["encoder"], params["encoder"])
    _assert_trees_equal(loaded["heads"]["cls"], params["heads"]["cls"])
    assert set(loaded["heads"]) == {"cls", "tag"}  # the checkpoint's mlm head is dropped
    fresh = _params(build_model(tiny_config, {"cls": CLS3, "tag": tag}, seed=7))
    _assert_trees_equal(loaded["heads"]["tag"], fresh["heads"]["tag"])  # not in the checkpoint: fresh init


def test_head_shape_mismatch_names_every_parameter(saved):
    directory, _ = saved
    with pytest.raises(CheckpointError) as err:
        load_pretrained(directory, {"cls": HeadSpec("classification", num_labels=2)})
    message = str(err.value)
    assert "heads/cls/out/kernel: checkpoint (32, 3) vs model (32, 2)" in message
    assert "heads/cls/out/bias: checkpoint (3,) vs model (2,)" in message
    assert "heads/cls/dense" not in message


def test_encoder_shape_mismatch_names_every_parameter(saved, tmp_path):
    directory, _ = saved
    copy = tmp_path / "edited"
    copy.mkdir()
    os.symlink(os.path.join(directory, "params"), copy / "params")
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    config["encoder"]["mlp_dim"] = 48
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as err:
        load_pretrained(str(copy), {})
    lines = str(err.value).splitlines()[1:]
    assert [line.strip() for line in lines] == [
        "encoder/layers/mlp_in: checkpoint (2, 32, 64) vs model (2, 32, 48)",
        "encoder/layers/mlp_in_bias: checkpoint (2, 64) vs model (2, 48)",
        "encoder/layers/mlp_out: checkpoint (2, 64, 32) vs model (2, 48, 32)",
    ]


def test_missing_pieces(saved, tmp_path):
    directory, _ = saved
    with pytest.raises(CheckpointError, match="does not exist"):
        load_config(str(tmp_path / "nowhere"))
    with pytest.raises(CheckpointError, match=r"has no config\.json.*xstilts-jax convert"):
        load_config(str(tmp_path))
    (tmp_path / "config.json").write_text(open(os.path.join(directory, "config.json")).read())
    with pytest.raises(CheckpointError, match=r"has no params/ directory"):
        load_pretrained(str(tmp_path), {})


def test_hf_config_json_is_not_a_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}))
    with pytest.raises(CheckpointError, match=r"not an xstilts-jax checkpoint.*xstilts-jax convert"):
        load_config(str(tmp_path))


def test_save_refuses_non_empty_directory_and_bad_shapes(saved, tiny_config, tmp_path):
    directory, params = saved
    with pytest.raises(CheckpointError, match="not empty; pass --overwrite"):
        save_pretrained(directory, tiny_config, params, vocab_dir=None)
    wrong = tiny_config.replace(hidden_size=16)
    with pytest.raises(CheckpointError, match=r"encoder/embeddings/word: params \(128, 32\) vs config \(128, 16\)"):
        save_pretrained(str(tmp_path / "new"), wrong, params, vocab_dir=None)
    assert os.listdir(tmp_path) == []
