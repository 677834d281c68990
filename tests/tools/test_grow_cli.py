"""`xstilts-jax grow`: a checkpoint of the rung below → a pretrained directory of the larger rung, same function."""

import jax.numpy as jnp
import numpy as np
from flax import nnx

from xstilts_jax.checkpoints.pretrained import load_config, load_pretrained, save_pretrained
from xstilts_jax.cli import main as cli
from xstilts_jax.models import HeadSpec, build_model

MLM = {"mlm": HeadSpec("mlm")}


def test_grow_writes_a_larger_checkpoint_with_the_same_outputs(tiny_config, tmp_path, capsys):
    small = tiny_config.replace(name="small", norm_style="pre", dropout_rate=0.0)
    model = build_model(small, MLM, seed=1)
    source = str(tmp_path / "small")
    save_pretrained(source, small, nnx.state(model, nnx.Param).to_pure_dict(), vocab_dir=None)
    big_gin = tmp_path / "big.gin"
    big_gin.write_text(small.replace(name="big", hidden_size=64, num_heads=8, mlp_dim=128, num_layers=3).to_gin())
    out = str(tmp_path / "big")

    assert cli(["grow", "--from", source, "--to", str(big_gin), "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "depth 2 → 3" in printed and "every coordinate repeated 2x" in printed and f"written to {out}" in printed
    assert (load_config(out).name, load_config(out).num_layers, load_config(out).hidden_size) == ("big", 3, 64)
    ids = {"input_ids": jnp.asarray(np.random.default_rng(0).integers(5, 128, (2, 9)), jnp.int32)}
    np.testing.assert_allclose(load_pretrained(out, MLM)(ids, "mlm")["logits"], model(ids, "mlm")["logits"], atol=2e-5)

    # a width that is no integer multiple is refused unless asked for, naming the flag
    big_gin.write_text(small.replace(name="big", hidden_size=48, num_heads=6).to_gin())
    assert cli(["grow", "--from", source, "--to", str(big_gin), "--out", str(tmp_path / "approx")]) == 1
    assert "--allow_approximate" in capsys.readouterr().err
    assert cli(["grow", "--from", source, "--to", str(big_gin), "--out", str(tmp_path / "approx"), "--allow_approximate"]) == 0
    assert "APPROXIMATE" in capsys.readouterr().out
