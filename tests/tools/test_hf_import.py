"""`xstilts-jax convert`: error messages, the CLI round trip and safe overwriting."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest
import transformers as tr
from safetensors.numpy import load_file, save_file

from xstilts_jax.checkpoints.pretrained import load_config, load_pretrained
from xstilts_jax.cli import main as cli_main
from xstilts_jax.errors import CheckpointError, ConfigError
from xstilts_jax.checkpoints.hf_import import load_hf_checkpoint, read_hf_config

pytestmark = pytest.mark.filterwarnings("ignore:.*vocabulary files")


def _tiny_xlmr(path, cls=tr.XLMRobertaForMaskedLM) -> str:
    config = tr.XLMRobertaConfig(
        vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=34, layer_norm_eps=1e-5,
    )
    cls(config).save_pretrained(str(path), safe_serialization=True)
    return str(path)


def _edit_config(hf_dir: str, **changes: object) -> None:
    path = os.path.join(hf_dir, "config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(changes)
    with open(path, "w") as f:
        json.dump(config, f)


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match=r"does_not_exist does not exist"):
        read_hf_config(str(tmp_path / "does_not_exist"))


def test_no_config_json(tmp_path):
    with pytest.raises(CheckpointError, match=r"has no config\.json.*save_pretrained"):
        read_hf_config(str(tmp_path))


def test_no_weights(tmp_path):
    hf_dir = _tiny_xlmr(tmp_path / "m")
    os.remove(os.path.join(hf_dir, "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"has no weights: expected model\.safetensors"):
        read_hf_config(hf_dir)


def test_pickle_weights_are_refused(tmp_path):
    hf_dir = _tiny_xlmr(tmp_path / "m")
    os.remove(os.path.join(hf_dir, "model.safetensors"))
    with open(os.path.join(hf_dir, "pytorch_model.bin"), "wb") as f:
        f.write(b"not read")
    with pytest.raises(CheckpointError) as err:
        load_hf_checkpoint(hf_dir)
    message = str(err.value)
    assert hf_dir in message and "pytorch_model.bin" in message
    assert "pickle" in message and "execute" in message
    assert "save_pretrained(out_dir, safe_serialization=True)" in message


def test_unsupported_model_type_lists_supported(tmp_path):
    hf_dir = _tiny_xlmr(tmp_path / "m")
    _edit_config(hf_dir, model_type="gpt2")
    with pytest.raises(CheckpointError) as err:
        load_hf_checkpoint(hf_dir)
    assert hf_dir in str(err.value)
    assert "'gpt2' is not supported; supported types are bert, roberta, xlm-roberta, xlm-roberta-xl" in str(err.value)


def test_non_gelu_activation_is_a_config_error(tmp_path):
    hf_dir = _tiny_xlmr(tmp_path / "m")
    _edit_config(hf_dir, hidden_act="relu")
    with pytest.raises(ConfigError, match=r"hidden_act='relu'"):
        load_hf_checkpoint(hf_dir)


def test_missing_tensor_is_named(tmp_path):
    hf_dir = _tiny_xlmr(tmp_path / "m")
    path = os.path.join(hf_dir, "model.safetensors")
    tensors = load_file(path)
    del tensors["roberta.encoder.layer.1.output.dense.weight"]
    save_file(tensors, path)
    with pytest.raises(CheckpointError, match=r"'roberta\.encoder\.layer\.1\.output\.dense\.weight' is missing"):
        load_hf_checkpoint(hf_dir)


def test_config_and_weights_disagree(tmp_path):
    hf_dir = _tiny_xlmr(tmp_path / "m")
    _edit_config(hf_dir, intermediate_size=48)
    with pytest.raises(CheckpointError, match=r"intermediate\.dense\.weight' has shape \(64, 32\).*\(48, 32\)"):
        load_hf_checkpoint(hf_dir)


def test_prefixes_and_heads(tmp_path):
    """Bare models (no prefix) have a pooler and no MLM head; *ForMaskedLM the reverse."""
    _, bare_config, bare = load_hf_checkpoint(_tiny_xlmr(tmp_path / "bare", tr.XLMRobertaModel))
    assert bare_config.pooler and "heads" not in bare
    _, mlm_config, mlm = load_hf_checkpoint(_tiny_xlmr(tmp_path / "mlm"))
    assert not mlm_config.pooler and set(mlm["heads"]) == {"mlm"}
    assert mlm["encoder"]["layers"]["query"].shape == (2, 32, 4, 8)
    assert mlm_config.name == "mlm" and mlm_config.position_offset == 2 and mlm_config.norm_style == "post"


def test_convert_cli_round_trip(tmp_path, capsys):
    hf_dir = _tiny_xlmr(tmp_path / "tiny-xlmr")
    with open(os.path.join(hf_dir, "sentencepiece.bpe.model"), "wb") as f:
        f.write(b"vocabulary bytes")
    out = str(tmp_path / "out")
    assert cli_main(["convert", "--hf_dir", hf_dir, "--out", out]) == 0
    stdout = capsys.readouterr().out
    assert "xlm-roberta" in stdout and "2 layers" in stdout and f"wrote {out}" in stdout
    assert sorted(os.listdir(out)) == ["config.json", "model.gin", "params", "sentencepiece.bpe.model"]
    config = load_config(out)
    assert (config.name, config.vocab_size, config.max_positions, config.pad_id) == ("tiny-xlmr", 120, 34, 1)
    with open(os.path.join(out, "model.gin")) as f:
        assert f.read() == config.to_gin()
    _, _, params = load_hf_checkpoint(hf_dir)
    model = load_pretrained(out, {})
    np.testing.assert_array_equal(model.encoder.layers.mlp_out[...], params["encoder"]["layers"]["mlp_out"])


def test_convert_cli_errors_print_one_line(tmp_path, capsys):
    code = cli_main(["convert", "--hf_dir", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("xstilts-jax convert: error:") and "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_convert_refuses_to_overwrite_without_flag(tmp_path, capsys):
    hf_dir = _tiny_xlmr(tmp_path / "m")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert cli_main(["convert", "--hf_dir", hf_dir, "--out", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert os.listdir(out) == ["keep.txt"] and (out / "keep.txt").read_text() == "precious"

    assert cli_main(["convert", "--hf_dir", hf_dir, "--out", str(out), "--overwrite"]) == 0
    assert "keep.txt" not in os.listdir(out) and load_config(str(out)).name == "m"
    assert sorted(os.listdir(tmp_path)) == ["m", "out"]  # no temporary directories left behind


def test_failed_conversion_keeps_existing_output(tmp_path):
    hf_dir = _tiny_xlmr(tmp_path / "m")
    out = str(tmp_path / "out")
    assert cli_main(["convert", "--hf_dir", hf_dir, "--out", out]) == 0
    before = sorted(os.listdir(out))
    _edit_config(hf_dir, intermediate_size=48)
    assert cli_main(["convert", "--hf_dir", hf_dir, "--out", out, "--overwrite"]) == 1
    assert sorted(os.listdir(out)) == before and load_config(out).mlp_dim == 64
    assert sorted(os.listdir(tmp_path)) == ["m", "out"]


def test_old_bert_gamma_beta_names(tmp_path):
    """TF-converted BERT checkpoints name LayerNorm parameters gamma/beta."""
    config = tr.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=32,
    )
    hf_dir = str(tmp_path / "bert")
    tr.BertModel(config).save_pretrained(hf_dir, safe_serialization=True)
    _, _, expected = load_hf_checkpoint(hf_dir)
    path = os.path.join(hf_dir, "model.safetensors")
    renamed = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
        for k, v in load_file(path).items()
    }
    assert "embeddings.LayerNorm.gamma" in renamed
    save_file(renamed, path)
    model_type, bert_config, params = load_hf_checkpoint(hf_dir)
    assert model_type == "bert" and bert_config.position_offset == 0 and bert_config.type_vocab_size == 2
    jax.tree.map(np.testing.assert_array_equal, params, expected)
