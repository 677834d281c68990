"""Optimizers for memory (AdamW with a bf16 first moment, Adafactor), the pretraining recipe's own
OptimizerConfig in gin scope `mlm`, warmup in steps, and batches counted in tokens."""

import gin
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny import TINY_CONFIG, TOY_MESH

from xstilts_jax.errors import ConfigError
from xstilts_jax.gin_utils import parse_gin
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.partitioning import Partitioner
from xstilts_jax.training.optimizer import (
    OptimizerConfig,
    learning_rate_schedule,
    optimizer_bytes_per_param,
    optimizer_state_bytes,
)
from xstilts_jax.training.step_builder import build_train_step
from xstilts_jax.training.trainer import TrainConfig

# A layer-stacked weight matrix, a vector and a bias: factorable (>= 128 on two axes) and not.
PARAMS = {
    "w": jax.ShapeDtypeStruct((2, 256, 512), jnp.float32),
    "norm": {"scale": jax.ShapeDtypeStruct((2, 256), jnp.float32)},
    "b_bias": jax.ShapeDtypeStruct((512,), jnp.float32),
}


def test_optimizer_bytes_per_parameter():
    n = 2 * 256 * 512 + 2 * 256 + 512
    assert optimizer_bytes_per_param(OptimizerConfig(), PARAMS) == pytest.approx(8.0, abs=1e-3)  # mu + nu, fp32
    assert optimizer_bytes_per_param(OptimizerConfig(mu_dtype="bfloat16"), PARAMS) == pytest.approx(6.0, abs=1e-3)
    # Adafactor: w keeps a row and a column statistic per layer (2 x (256 + 512) floats), the others a full one
    factored = 4 * (2 * (256 + 512) + 2 * 256 + 512)
    assert optimizer_state_bytes(OptimizerConfig(name="adafactor"), PARAMS) == pytest.approx(factored, rel=0.01)
    assert optimizer_bytes_per_param(OptimizerConfig(name="adafactor"), PARAMS) < 0.05 < 4 * n / n


def test_bad_optimizer_settings_name_the_field():
    with pytest.raises(ConfigError, match=r"OptimizerConfig.name='lamb'; choose one of \['adamw', 'adafactor'\]"):
        OptimizerConfig(name="lamb")
    with pytest.raises(ConfigError, match="OptimizerConfig.mu_dtype='int8'"):
        OptimizerConfig(mu_dtype="int8")
    with pytest.raises(ConfigError, match="warmup_steps=10 is not below the phase's 10 steps"):
        learning_rate_schedule(OptimizerConfig(warmup_steps=10), 10)


def test_warmup_in_steps_then_linear_decay():
    schedule = learning_rate_schedule(OptimizerConfig(learning_rate=1e-4, warmup_steps=100), 1100)
    assert float(schedule(50)) == pytest.approx(5e-5)
    assert float(schedule(100)) == pytest.approx(1e-4)
    assert float(schedule(600)) == pytest.approx(5e-5)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", [OptimizerConfig(name="adafactor", learning_rate=1e-2), OptimizerConfig(learning_rate=1e-3, mu_dtype="bfloat16")])
def test_memory_optimizers_train_sharded_on_the_mesh(optimizer):
    """Factored Adafactor statistics take their parameter's sharding less the reduced axis; the step trains."""
    config = TINY_CONFIG.replace(hidden_size=128, num_heads=2, mlp_dim=256, num_layers=1, dropout_rate=0.0)
    model = build_model(config, {"c": HeadSpec("classification", 2)}, seed=0)
    step = build_train_step(model, optimizer, Partitioner.from_config(TOY_MESH), 20, dropout=False)
    ranks = [(len(s.spec), x.ndim) for s, x in zip(jax.tree.leaves(step.shardings.opt_state), jax.tree.leaves(step.abstract_state.opt_state))]
    assert all(spec_rank <= ndim for spec_rank, ndim in ranks)
    if optimizer.name == "adafactor":
        assert any(x.ndim == 2 and x.shape == (1, 256) for x in jax.tree.leaves(step.abstract_state.opt_state))
    rng = np.random.default_rng(0)
    batch = {"input_ids": jnp.asarray(rng.integers(5, 128, (8, 12)), jnp.int32), "labels": jnp.asarray(rng.integers(0, 2, 8), jnp.int32)}
    batch = step.partitioner.to_global({k: np.asarray(v) for k, v in batch.items()})
    state, fn = step.init_state(), step.jit("c")
    losses = []
    for _ in range(6):
        state, metrics = fn(state, batch)
        losses.append(float(metrics["loss"]))
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_pretraining_recipe_is_its_own_optimizer_in_gin_scope_mlm():
    from xstilts_jax.tools.run_cli import _pretraining_optimizer

    parse_gin(["gin/runs/pretrain.gin"], ["OptimizerConfig.learning_rate = 1e-5"])
    assert OptimizerConfig().learning_rate == 1e-5  # fine-tuning
    pretraining = _pretraining_optimizer("mlm")
    assert (pretraining.learning_rate, pretraining.b2, pretraining.eps) == (1e-4, 0.98, 1e-6)
    assert _pretraining_optimizer(None) is None  # no MLM phase
    with gin.config_scope("mlm"):
        mlm = TrainConfig(task="mlm", steps=10)
    assert (mlm.batch_tokens, mlm.length, mlm.batch_size) == (1048576, 512, 2048)


def test_batch_counted_in_tokens():
    assert TrainConfig(task="mlm", steps=1, batch_tokens=4096, length=128).batch_size == 32
    with pytest.raises(ConfigError, match=r"batch_tokens=1000 must be a positive multiple of TrainConfig.length \(bound: 128\)"):
        TrainConfig(task="mlm", steps=1, batch_tokens=1000, length=128)
    with pytest.raises(ConfigError, match="bound: None"):
        TrainConfig(task="mlm", steps=1, batch_tokens=4096)
