"""The dual-encoder head (in-batch negatives) and the pooled representation layer of retrieval heads."""

import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from xstilts_jax.errors import ConfigError
from xstilts_jax.models import build_model
from xstilts_jax.models.heads import (
    DUAL_ENCODER_LOGIT_SCALE,
    EmbeddingRepresentation,
    HeadSpec,
    representation_layer,
    with_representation,
)

DUAL = {"de": HeadSpec("dual_encoder")}


def _pairs(batch: int, length: int, seed: int = 0) -> dict[str, jax.Array]:
    """[batch, 2, length] query/candidate ids: the candidate repeats its query's tokens, so pairs are learnable."""
    rng = np.random.default_rng(seed)
    query = rng.integers(5, 120, size=(batch, length))
    candidate = np.concatenate([query[:, : length // 2], rng.integers(5, 120, size=(batch, length - length // 2))], axis=1)
    ids = np.stack([query, candidate], axis=1).astype(np.int32)
    return {"input_ids": jnp.asarray(ids), "segment_ids": jnp.ones_like(ids), "labels": jnp.zeros((batch,), jnp.int32)}


def test_logits_are_scaled_cosines_and_loss_is_in_batch_cross_entropy(tiny_config):
    model = build_model(tiny_config, DUAL, seed=0)
    batch = _pairs(4, 8)

    @nnx.jit
    def run(model, batch):
        return model(batch, "de"), model.loss(batch, "de"), model({"input_ids": batch["input_ids"][:, 0]}, "de")

    out, (total, count), single = run(model, batch)
    q, c = out["embedding"][:, 0], out["embedding"][:, 1]
    np.testing.assert_allclose(jnp.linalg.norm(q, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["logits"], DUAL_ENCODER_LOGIT_SCALE * q @ c.T, rtol=1e-5, atol=1e-4)
    expected = optax.softmax_cross_entropy_with_integer_labels(out["logits"], jnp.arange(4)).sum()
    assert int(count) == 4 and float(total) == pytest.approx(float(expected), rel=1e-5)
    # single texts (retrieval evaluation): the normalized pooled embedding
    np.testing.assert_allclose(single["embedding"], q, atol=1e-5)


def test_ignored_pairs_are_neither_queries_nor_negatives(tiny_config):
    model = build_model(tiny_config, DUAL, seed=0)
    batch = _pairs(4, 8)
    masked = dict(batch, labels=jnp.array([0, -1, 0, 0]))
    keep = np.array([0, 2, 3])
    subset = {k: v[keep] for k, v in batch.items()}
    (t1, n1), (t2, n2) = model.loss(masked, "de"), model.loss(subset, "de")
    assert int(n1) == int(n2) == 3 and float(t1) == pytest.approx(float(t2), rel=1e-5)


def test_training_lowers_the_loss_with_sane_gradients(tiny_config):
    model = build_model(tiny_config.replace(dropout_rate=0.0), DUAL, seed=0)
    graphdef, params = nnx.split(model, nnx.Param)
    batch = _pairs(8, 8, seed=3)

    def loss_fn(p):
        total, count = nnx.merge(graphdef, p).loss(batch, "de")
        return total / count

    opt = optax.adam(3e-3)

    @jax.jit
    def step(p, state):
        loss, grads = jax.value_and_grad(loss_fn)(p)
        updates, state = opt.update(grads, state, p)
        return optax.apply_updates(p, updates), state, loss, grads

    params, state, first, grads = step(params, opt.init(params))
    norms = [float(jnp.linalg.norm(g)) for g in jax.tree.leaves(grads)]
    assert all(np.isfinite(norms)) and sum(norms) > 0
    for _ in range(12):
        params, state, loss, _ = step(params, state)
    assert float(loss) < 0.5 * float(first)


def test_representation_layer_scales_with_depth_and_gin_overrides_it(tiny_config):
    spec = HeadSpec("embedding", layer_fraction=14 / 24)
    assert representation_layer(spec, tiny_config.replace(num_layers=24)) == 14  # X-STILTs: 14 of 24
    assert [representation_layer(spec, tiny_config.replace(num_layers=n)) for n in (12, 36, 48)] == [7, 21, 28]
    assert representation_layer(HeadSpec("embedding"), tiny_config) == tiny_config.num_layers  # default: last
    with pytest.raises(ConfigError, match="gives hidden state 5, outside 0..2"):
        representation_layer(HeadSpec("dual_encoder", layer=5), tiny_config)
    assert build_model(tiny_config, {"e": spec}).heads["e"].encoder_layers == 1  # round(14/24 * 2)
    gin.bind_parameter("embedding_representation.layer", 2)
    gin.bind_parameter("embedding_representation.pooling", "first")
    assert build_model(tiny_config, {"e": spec}).heads["e"].encoder_layers == 1  # the module constructor reads no gin
    head = build_model(tiny_config, with_representation({"e": spec}, EmbeddingRepresentation())).heads["e"]
    assert (head.encoder_layers, head.pooling) == (2, "first")
    dual = HeadSpec("dual_encoder", layer=1)
    assert with_representation({"d": dual}, EmbeddingRepresentation(layer=2, pooling="first")) == {"d": dual}
