"""The MLM head's training loss projects only masked positions and equals the loss over full logits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from xstilts_jax.models import build_model
from xstilts_jax.models.heads import HeadSpec, masked_cross_entropy


def _full_logits_loss(model, batch):
    """The loss as the head computed it before: fp32 logits at every position, then the masked mean."""
    return masked_cross_entropy(model(batch, "mlm")["logits"], batch["labels"])


def _batch(vocab, rows, length, masked_per_row, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, (rows, length)).astype(np.int32)
    labels = np.full((rows, length), -1, np.int32)
    for r, n in enumerate(masked_per_row):
        where = rng.choice(length, n, replace=False)
        labels[r, where] = ids[r, where]
    return {"input_ids": jnp.asarray(ids), "labels": jnp.asarray(labels)}


@pytest.mark.parametrize(
    "masked_per_row",
    [
        (3, 5, 0, 4),  # every row within the first chunk (length 16 → 4 slots a chunk)
        (16, 1, 9, 0),  # one row all masked, one past a chunk: later chunks run
        (0, 0, 0, 0),  # nothing to predict
    ],
)
def test_masked_positions_loss_equals_full_logits_loss(tiny_config, masked_per_row):
    model = build_model(tiny_config, {"mlm": HeadSpec("mlm")}, seed=0)
    batch = _batch(tiny_config.vocab_size, 4, 16, masked_per_row)
    total, count = model.loss(batch, "mlm")
    ref_total, ref_count = _full_logits_loss(model, batch)
    assert int(count) == int(ref_count) == sum(masked_per_row)
    np.testing.assert_allclose(float(total), float(ref_total), rtol=1e-6, atol=1e-6)


def test_masked_positions_gradients_equal_full_logits_gradients(tiny_config):
    model = build_model(tiny_config, {"mlm": HeadSpec("mlm")}, seed=0)
    graphdef, params = nnx.split(model, nnx.Param)
    batch = _batch(tiny_config.vocab_size, 4, 16, (2, 16, 7, 5), seed=1)

    def new(p):
        return nnx.merge(graphdef, p).loss(batch, "mlm")[0]

    def old(p):
        return _full_logits_loss(nnx.merge(graphdef, p), batch)[0]

    g_new, g_old = jax.jit(jax.grad(new))(params), jax.jit(jax.grad(old))(params)
    for a, b in zip(jax.tree.leaves(g_new), jax.tree.leaves(g_old)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_training_loss_builds_no_full_length_vocabulary_logits(tiny_config):
    """The jitted loss holds no [batch, length, vocab] array: only chunks of masked positions are projected."""
    model = build_model(tiny_config.replace(vocab_size=997), {"mlm": HeadSpec("mlm")}, seed=0)
    graphdef, params = nnx.split(model, nnx.Param)
    batch = _batch(997, 4, 16, (3, 2, 1, 4))
    jaxpr = jax.make_jaxpr(lambda p: nnx.merge(graphdef, p).loss(batch, "mlm"))(params)
    text = str(jaxpr)  # nested jaxprs (cond branches, checkpoints) included
    assert "[4,16,997]" not in text
    assert "f32[4,4,997]" in text  # the first chunk: ceil(0.25 x 16) = 4 positions a row
