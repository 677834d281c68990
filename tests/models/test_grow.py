"""Growth from the rung below: the grown model computes the smaller one's function at step 0."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from xstilts_jax.checkpoints.params import flat, unflat
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.models.grow import GrowthError, check_growable, grow_params, hidden_source, layer_sources
from xstilts_jax.training.train_state import split_model

MLM = {"mlm": HeadSpec("mlm")}


def _small(tiny_config, **changes):
    return tiny_config.replace(name="small", dropout_rate=0.0, **changes)


def _trained_like(model, seed=1):
    """Random LayerNorm gains and biases too, so the test cannot pass on the init's ones and zeros."""
    graphdef, params = split_model(model)
    keys = iter(jax.random.split(jax.random.key(seed), 64))
    named = {k: v + 0.1 * jax.random.normal(next(keys), v.shape) for k, v in flat(params).items()}
    return graphdef, {k: np.asarray(v) for k, v in named.items()}


def _grown_model(big, grown):
    graphdef, _ = split_model(build_model(big, MLM, seed=5))
    return nnx.merge(graphdef, unflat({k: jnp.asarray(v) for k, v in grown.items()}))


def _batch(config, seed=0):
    ids = np.random.default_rng(seed).integers(5, config.vocab_size, (3, 10)).astype(np.int32)
    ids[2, 7:] = config.pad_id
    return {"input_ids": jnp.asarray(ids)}


@pytest.mark.parametrize("new_units", ["zero", "duplicate"])
@pytest.mark.parametrize("norm_style, layers", [("pre", 5), ("post", 2)])
def test_grown_model_outputs_equal_the_smaller_models(tiny_config, new_units, norm_style, layers):
    small = _small(tiny_config, norm_style=norm_style)
    big = small.replace(name="big", hidden_size=64, num_heads=8, mlp_dim=96, num_layers=layers)
    graphdef, params = _trained_like(build_model(small, MLM, seed=0))
    small_model = nnx.merge(graphdef, unflat({k: jnp.asarray(v) for k, v in params.items()}))
    grown_model = _grown_model(big, grow_params(params, small, big, new_units=new_units))
    batch = _batch(small)
    np.testing.assert_allclose(grown_model(batch, "mlm")["logits"], small_model(batch, "mlm")["logits"], atol=2e-5, rtol=1e-5)
    h_small, _ = small_model.encode(batch)
    h_big, _ = grown_model.encode(batch)
    np.testing.assert_allclose(h_big.last_hidden_state, h_small.last_hidden_state[..., hidden_source(small, big)], atol=2e-5)
    np.testing.assert_allclose(h_big.pooled, h_small.pooled[..., hidden_source(small, big)], atol=2e-5)


@pytest.mark.slow
def test_new_units_start_silent_and_learn(tiny_config):
    small = _small(tiny_config, norm_style="pre")
    big = small.replace(name="big", hidden_size=64, num_heads=8, mlp_dim=96, num_layers=3)
    _, params = _trained_like(build_model(small, MLM, seed=0))
    grown = grow_params(params, small, big)
    source, is_old = layer_sources(2, 3)
    assert list(source) == [0, 1, 1] and list(is_old) == [True, True, False]  # the new block follows layer 1
    assert not grown["encoder/layers/mlp_out"][2].any() and not grown["encoder/layers/out"][2].any()
    assert not grown["encoder/layers/mlp_out"][:, 64:].any() and grown["encoder/layers/mlp_in"][:, :, 64:].std() > 0
    model = _grown_model(big, grown)
    graphdef, p = split_model(model)
    batch = dict(_batch(small), labels=_batch(small, seed=1)["input_ids"])
    grads = flat(jax.jit(jax.grad(lambda q: nnx.merge(graphdef, q).loss(batch, "mlm")[0]))(p))
    assert np.abs(grads["encoder/layers/mlp_out"][:, 64:]).max() > 0  # the silent units' outputs get a gradient
    assert np.abs(grads["encoder/layers/out"][2]).max() > 0  # and so does the identity block's projection


def test_non_integer_width_is_only_approximate_and_must_be_asked_for(tiny_config):
    small = _small(tiny_config, norm_style="pre")
    big = small.replace(name="big", hidden_size=48, num_heads=6)
    with pytest.raises(GrowthError, match=r"hidden_size 32 → 48 is not an integer factor.*--allow_approximate"):
        check_growable(small, big)
    assert any("APPROXIMATE" in note for note in check_growable(small, big, allow_approximate=True))
    graphdef, params = _trained_like(build_model(small, MLM, seed=0))
    small_model = nnx.merge(graphdef, unflat({k: jnp.asarray(v) for k, v in params.items()}))
    grown_model = _grown_model(big, grow_params(params, small, big, allow_approximate=True))
    batch = _batch(small)
    a, b = np.asarray(grown_model(batch, "mlm")["logits"]), np.asarray(small_model(batch, "mlm")["logits"])
    assert np.abs(a - b).max() > 1e-3  # LayerNorm over repeated coordinates: not the same function
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9  # but close to it


@pytest.mark.parametrize(
    "change, match",
    [
        ({"vocab_size": 200}, r"EncoderConfig.vocab_size differs \(128 vs 200\)"),
        ({"num_heads": 2}, "head size 8 vs 16"),
        ({"num_layers": 1}, r"num_layers shrinks \(2 → 1\)"),
        ({"num_layers": 3}, "post-LN block ends in a LayerNorm"),
    ],
)
def test_rungs_that_cannot_grow_are_refused(tiny_config, change, match):
    with pytest.raises(GrowthError, match=match):
        check_growable(_small(tiny_config), _small(tiny_config).replace(**change))
