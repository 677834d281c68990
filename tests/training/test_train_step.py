"""The train step: gradient accumulation, routing mixed-task batches to their heads, metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xstilts_jax.errors import ConfigError, InputError
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.training.optimizer import OptimizerConfig, learning_rate_schedule, make_optimizer
from xstilts_jax.training.train_state import init_train_state, split_model
from xstilts_jax.training.train_step import make_train_step, summed_loss


def _batch(config, n=8, length=12, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, config.vocab_size, size=(n, length)).astype(np.int32)
    ids[:, 0] = 0
    for i in range(n):
        cut = length - (i % 4)
        ids[i, cut - 1], ids[i, cut:] = 2, config.pad_id
    return {"input_ids": jnp.asarray(ids), "labels": jnp.asarray(rng.integers(0, 2, size=n), jnp.int32)}


def _setup(config, heads):
    model = build_model(config, heads, seed=0)
    graphdef, params = split_model(model)
    opt_config = OptimizerConfig(learning_rate=1e-3, warmup_fraction=0.0)
    optimizer = make_optimizer(opt_config, total_steps=10)
    return graphdef, optimizer, init_train_state(params, optimizer, seed=0), learning_rate_schedule(opt_config, 10)


def test_accumulated_step_equals_full_batch_step(tiny_config):
    graphdef, optimizer, state, _ = _setup(tiny_config, {"c": HeadSpec("classification", 2)})
    batch = _batch(tiny_config)
    full, m_full = jax.jit(make_train_step(graphdef, optimizer, "c", dropout=False))(state, batch)
    acc, m_acc = jax.jit(make_train_step(graphdef, optimizer, "c", dropout=False, accumulate_steps=4))(state, batch)
    np.testing.assert_allclose(m_acc["loss"], m_full["loss"], atol=1e-6)
    np.testing.assert_allclose(m_acc["grad_norm"], m_full["grad_norm"], atol=1e-6)
    for a, b in zip(jax.tree.leaves(acc.params), jax.tree.leaves(full.params)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ConfigError, match="not divisible by accumulate_steps=3"):
        jax.jit(make_train_step(graphdef, optimizer, "c", accumulate_steps=3))(state, batch)


def test_routed_batch_trains_each_example_with_its_head(tiny_config):
    heads = {"nli": HeadSpec("classification", 3), "qqp": HeadSpec("classification", 2)}
    graphdef, _, state, _ = _setup(tiny_config, heads)
    batch = _batch(tiny_config)
    head_id = jnp.array([7, 9, 7, 7, 9, 9, 7, 9], jnp.int32)
    routed, count = summed_loss(graphdef, state.params, dict(batch, head_id=head_id), {"nli": 7, "qqp": 9}, None)
    expected = 0.0
    for name, hid in (("nli", 7), ("qqp", 9)):
        labels = jnp.where(head_id == hid, batch["labels"], -1)
        total, n = summed_loss(graphdef, state.params, dict(batch, labels=labels), name, None)
        assert int(n) == 4
        expected += float(total)
    assert int(count) == 8
    np.testing.assert_allclose(routed, expected, rtol=1e-6)
    with pytest.raises(InputError, match="needs a 'head_id' feature"):
        summed_loss(graphdef, state.params, batch, {"nli": 7}, None)


def test_routed_heads_each_read_their_own_encoder_depth(tiny_config):
    # two dual encoders, one on hidden state 1 of 2: each must see what it sees when trained alone
    heads = {"shallow": HeadSpec("dual_encoder", layer=1), "deep": HeadSpec("dual_encoder")}
    graphdef, _, state, _ = _setup(tiny_config, heads)
    flat = _batch(tiny_config, n=16)
    batch = {"input_ids": flat["input_ids"].reshape(8, 2, -1), "labels": jnp.zeros(8, jnp.int32)}
    head_id = jnp.array([3, 5, 3, 3, 5, 5, 3, 5], jnp.int32)
    routed, count = summed_loss(graphdef, state.params, dict(batch, head_id=head_id), {"shallow": 3, "deep": 5}, None)
    alone = []
    for name, hid in (("shallow", 3), ("deep", 5)):
        labels = jnp.where(head_id == hid, batch["labels"], -1)
        alone.append(float(summed_loss(graphdef, state.params, dict(batch, labels=labels), name, None)[0]))
    assert int(count) == 8 and alone[0] != pytest.approx(alone[1])
    np.testing.assert_allclose(routed, sum(alone), rtol=1e-6)


def test_step_reports_learning_rate_and_tokens(tiny_config):
    graphdef, optimizer, state, schedule = _setup(tiny_config, {"c": HeadSpec("classification", 2)})
    batch = _batch(tiny_config)
    step = jax.jit(make_train_step(graphdef, optimizer, "c", schedule=schedule))
    state, m1 = step(state, batch)
    state, m2 = step(state, batch)
    assert float(m1["learning_rate"]) == pytest.approx(1e-3) and float(m2["learning_rate"]) < 1e-3
    assert int(m1["tokens"]) == int(jnp.sum(batch["input_ids"] != tiny_config.pad_id))
    assert int(state.step) == 2
