"""Numerical parity with Hugging Face: tiny random HF encoders, converted, must agree layer by layer."""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers as tr

from xstilts_jax.checkpoints.pretrained import load_pretrained
from xstilts_jax.models import HeadSpec
from xstilts_jax.checkpoints.hf_import import convert

pytestmark = pytest.mark.filterwarnings("ignore:.*vocabulary files")  # the HF dirs have no tokenizer

TOL = 1e-4
VOCAB = 300
SHAPE = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    num_hidden_layers=3,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
    layer_norm_eps=1e-5,
)

# name -> (HF class, config class, extra config fields)
CASES = {
    "xlm-roberta": (tr.XLMRobertaModel, tr.XLMRobertaConfig, {}),
    "xlm-roberta-mlm": (tr.XLMRobertaForMaskedLM, tr.XLMRobertaConfig, {}),
    "roberta": (tr.RobertaModel, tr.RobertaConfig, {}),
    "bert": (tr.BertModel, tr.BertConfig, {"type_vocab_size": 2, "layer_norm_eps": 1e-12}),
    "bert-mlm": (tr.BertForMaskedLM, tr.BertConfig, {"type_vocab_size": 2}),
    "xlm-roberta-xl": (tr.XLMRobertaXLModel, tr.XLMRobertaXLConfig, {}),
    "xlm-roberta-xl-mlm": (tr.XLMRobertaXLForMaskedLM, tr.XLMRobertaXLConfig, {}),
}


def _randomize(model: torch.nn.Module) -> None:
    """Replace HF's init (LayerNorm = identity, zero biases) with random values so every weight matters."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            is_norm_scale = ("LayerNorm" in name or "layer_norm" in name) and name.endswith("weight")
            p.copy_(1.0 + 0.1 * noise if is_norm_scale else 0.1 * noise)


def _hf_model(case: str, tmp_path, max_shard_size: str | None = None) -> tuple[torch.nn.Module, str]:
    """A random tiny HF model of `case`, in eval mode, saved as safetensors under tmp_path/case."""
    cls, config_cls, extra = CASES[case]
    torch.manual_seed(0)
    model = cls(config_cls(**{**SHAPE, **extra})).eval()
    _randomize(model)
    hf_dir = str(tmp_path / case)
    kwargs = {} if max_shard_size is None else {"max_shard_size": max_shard_size}
    model.save_pretrained(hf_dir, safe_serialization=True, **kwargs)
    return model, hf_dir


def _batch(pad_id: int, bos: int, eos: int, token_types: bool) -> dict[str, np.ndarray]:
    """Three rows of different lengths, right-padded; optional random token types on real tokens."""
    rng = np.random.default_rng(0)
    lengths, width = [12, 7, 3], 12
    ids = np.full((len(lengths), width), pad_id, np.int32)
    types = np.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(5, VOCAB, n)
        ids[row, 0], ids[row, n - 1] = bos, eos
        if token_types:
            types[row, n // 2 : n] = 1
    return {"input_ids": ids, "token_type_ids": types, "mask": (ids != pad_id)}


def _compare(case: str, hf_model: torch.nn.Module, out_dir: str, batch: dict[str, np.ndarray]) -> None:
    mlm = case.endswith("-mlm")
    model = load_pretrained(out_dir, {"mlm": HeadSpec("mlm")} if mlm else {})
    inputs = {"input_ids": jnp.asarray(batch["input_ids"]), "token_type_ids": jnp.asarray(batch["token_type_ids"])}
    enc, _ = model.encode(inputs, output_hidden_states=True)
    with torch.no_grad():
        hf = hf_model(
            input_ids=torch.tensor(batch["input_ids"], dtype=torch.long),
            attention_mask=torch.tensor(batch["mask"], dtype=torch.long),
            token_type_ids=torch.tensor(batch["token_type_ids"], dtype=torch.long),
            output_hidden_states=True,
        )
    mask = batch["mask"]
    ours = np.asarray(enc.hidden_states)
    assert len(hf.hidden_states) == ours.shape[0] == SHAPE["num_hidden_layers"] + 1
    for k, theirs in enumerate(hf.hidden_states):
        diff = np.abs(ours[k] - theirs.numpy())[mask].max()
        assert diff <= TOL, f"{case}: hidden state {k} differs by {diff}"
    if mlm:
        logits = np.asarray(model(inputs, "mlm")["logits"])
        diff = np.abs(logits - hf.logits.numpy())[mask].max()
        assert diff <= TOL, f"{case}: MLM logits differ by {diff}"
    else:
        # Only the base models have a pooler (HF *ForMaskedLM drops it, and so does the converter).
        assert model.config.pooler
        diff = np.abs(np.asarray(enc.pooled) - hf.pooler_output.numpy()).max()
        assert diff <= TOL, f"{case}: pooled output differs by {diff}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_converted_model_matches_hf_every_layer(case, tmp_path):
    hf_model, hf_dir = _hf_model(case, tmp_path)
    out_dir = str(tmp_path / "converted")
    convert(hf_dir, out_dir)
    bert = case.startswith("bert")
    config = hf_model.config
    batch = _batch(config.pad_token_id, 2 if bert else config.bos_token_id, 3 if bert else config.eos_token_id, bert)
    _compare(case, hf_model, out_dir, batch)


def test_xl_last_hidden_state_is_after_final_layernorm(tmp_path):
    """Our convention: hidden_states[L] of a pre-LN model is the final output, after the final LayerNorm.
    The converted XL model's last slot (and last_hidden_state) equals HF's last_hidden_state, and is not
    the last block's output that goes into that LayerNorm."""
    hf_model, hf_dir = _hf_model("xlm-roberta-xl", tmp_path)
    out_dir = str(tmp_path / "converted")
    convert(hf_dir, out_dir)
    batch = _batch(1, 0, 2, False)
    model = load_pretrained(out_dir, {})
    enc, _ = model.encode({"input_ids": jnp.asarray(batch["input_ids"])}, output_hidden_states=True)
    before_norm = []
    hook = hf_model.encoder.LayerNorm.register_forward_hook(lambda module, args, output: before_norm.append(args[0]))
    with torch.no_grad():
        hf = hf_model(input_ids=torch.tensor(batch["input_ids"], dtype=torch.long),
                      attention_mask=torch.tensor(batch["mask"], dtype=torch.long))
    hook.remove()
    mask, last = batch["mask"], np.asarray(enc.hidden_states)[-1]
    assert np.abs(last - hf.last_hidden_state.numpy())[mask].max() <= TOL
    np.testing.assert_array_equal(last, np.asarray(enc.last_hidden_state))
    assert np.abs(last - before_norm[0].numpy())[mask].max() > 100 * TOL


def test_sharded_safetensors_checkpoint(tmp_path):
    hf_model, hf_dir = _hf_model("xlm-roberta", tmp_path, max_shard_size="40KB")
    assert os.path.isfile(os.path.join(hf_dir, "model.safetensors.index.json"))
    assert len([f for f in os.listdir(hf_dir) if f.endswith(".safetensors")]) > 1
    out_dir = str(tmp_path / "converted")
    convert(hf_dir, out_dir)
    _compare("xlm-roberta", hf_model, out_dir, _batch(1, 0, 2, False))
