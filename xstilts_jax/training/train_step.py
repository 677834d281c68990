"""One jitted, sharded train step: one head, or several routed by each example's `head_id`.

Gradient accumulation splits the global batch into `accumulate_steps` micro-batches
under `jax.lax.scan` and normalizes by the total number of targets, so the update equals
the one of the full batch.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from xstilts_jax.errors import ConfigError
from xstilts_jax.partitioning import Partitioner
from xstilts_jax.training.train_state import TrainState

Batch = Mapping[str, jax.Array]
Metrics = dict[str, jax.Array]
Heads = str | Mapping[str, int]  # one head name, or head name -> head_id for routed batches


def summed_loss(graphdef: nnx.GraphDef, params: Any, batch: Batch, heads: Heads, rng: jax.Array | None) -> tuple[jax.Array, jax.Array]:
    """Summed loss over valid targets and their count, for one head or routed heads."""
    model = nnx.merge(graphdef, params)
    if isinstance(heads, str):
        return model.loss(batch, heads, dropout_rng=rng)
    return model.routed_loss(batch, heads, dropout_rng=rng)


def loss_fn(graphdef: nnx.GraphDef, params: Any, batch: Batch, head: Heads, rng: jax.Array | None) -> tuple[jax.Array, Metrics]:
    """Mean loss of `head` over the batch's valid targets."""
    total, count = summed_loss(graphdef, params, batch, head, rng)
    loss = total / jnp.maximum(count, 1).astype(jnp.float32)
    return loss, {"loss": loss, "num_targets": count}


def _real_tokens(graphdef: nnx.GraphDef, params: Any, batch: Batch) -> jax.Array:
    """Non-padding tokens in the batch (for tokens/s)."""
    if "segment_ids" in batch:
        return jnp.sum(batch["segment_ids"] > 0)
    pad_id = nnx.merge(graphdef, params).config.pad_id  # trace-time only: reads the static config
    return jnp.sum(batch["input_ids"] != pad_id)


def _split_micro(batch: Batch, n: int) -> Batch:
    """[global, ...] → [n, global / n, ...] for every feature."""
    out = {}
    for key, value in batch.items():
        if value.shape[0] % n:
            raise ConfigError(f"Batch size {value.shape[0]} is not divisible by accumulate_steps={n}.")
        out[key] = value.reshape((n, value.shape[0] // n) + value.shape[1:])
    return out


def make_train_step(
    graphdef: nnx.GraphDef,
    optimizer: optax.GradientTransformation,
    head: Heads,
    partitioner: Partitioner | None = None,
    dropout: bool = True,
    accumulate_steps: int = 1,
    schedule: optax.Schedule | None = None,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """The (un-jitted) train step: forward, backward (accumulated), optimizer update.

    With a `partitioner`, activations are constrained to its mesh by its rules. Metrics: loss
    (mean over targets), num_targets, grad_norm, tokens (non-padding), and learning_rate when
    `schedule` is given. `training/step_builder.py` jits it with the train state's shardings.
    """
    if accumulate_steps < 1:
        raise ConfigError(f"accumulate_steps must be >= 1, got {accumulate_steps}.")
    grad_fn = jax.value_and_grad(
        lambda p, b, r: summed_loss(graphdef, p, b, head, r), argnums=0, has_aux=True
    )

    def grads_of(params: Any, batch: Batch, rng: jax.Array) -> tuple[jax.Array, jax.Array, Any]:
        if accumulate_steps == 1:
            (total, count), grads = grad_fn(params, batch, rng if dropout else None)
            return total, count, grads
        micro = _split_micro(batch, accumulate_steps)
        rngs = jax.random.split(rng, accumulate_steps)

        def body(carry: tuple, xs: tuple) -> tuple[tuple, None]:
            total, count, acc = carry
            mb, r = xs
            (t, c), g = grad_fn(params, mb, r if dropout else None)
            return (total + t, count + c, jax.tree.map(jnp.add, acc, g)), None

        zeros = jax.tree.map(jnp.zeros_like, params)
        init = (jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32), zeros)
        (total, count, grads), _ = jax.lax.scan(body, init, (micro, rngs))
        return total, count, grads

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        rng, step_rng = jax.random.split(state.rng)
        if partitioner is not None:
            with partitioner.activation_rules():
                total, count, grads = grads_of(state.params, batch, step_rng)
        else:
            total, count, grads = grads_of(state.params, batch, step_rng)
        denom = jnp.maximum(count, 1).astype(jnp.float32)
        grads = jax.tree.map(lambda g: g / denom, grads)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics: Metrics = {
            "loss": total / denom,
            "num_targets": count,
            "grad_norm": optax.global_norm(grads),
            "tokens": _real_tokens(graphdef, state.params, batch),
        }
        if schedule is not None:
            metrics["learning_rate"] = jnp.asarray(schedule(state.step), jnp.float32)
        return TrainState(step=state.step + 1, params=params, opt_state=opt_state, rng=rng), metrics

    return step
