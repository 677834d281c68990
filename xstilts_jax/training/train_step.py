"""One jitted, sharded train step for a named head."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh

from xstilts_jax.partitioning import Rules, axis_rules, batch_shardings
from xstilts_jax.training.train_state import TrainState

Batch = Mapping[str, jax.Array]
Metrics = dict[str, jax.Array]


def loss_fn(graphdef: nnx.GraphDef, params: Any, batch: Batch, head: str, rng: jax.Array | None) -> tuple[jax.Array, Metrics]:
    """Mean loss of `head` over the batch's valid targets."""
    model = nnx.merge(graphdef, params)
    total, count = model.loss(batch, head, dropout_rng=rng)
    loss = total / jnp.maximum(count, 1).astype(jnp.float32)
    return loss, {"loss": loss, "num_targets": count}


def make_train_step(
    graphdef: nnx.GraphDef,
    optimizer: optax.GradientTransformation,
    head: str,
    mesh: Mesh | None = None,
    rules: Rules | None = None,
    dropout: bool = True,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """The (un-jitted) train step: forward, backward, optimizer update."""

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        rng, step_rng = jax.random.split(state.rng)
        grad_fn = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)

        def run() -> tuple[tuple[jax.Array, Metrics], Any]:
            return grad_fn(graphdef, state.params, batch, head, step_rng if dropout else None)

        if mesh is not None and rules is not None:
            with axis_rules(mesh, rules):
                (_, metrics), grads = run()
        else:
            (_, metrics), grads = run()
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = dict(metrics, grad_norm=optax.global_norm(grads))
        return TrainState(step=state.step + 1, params=params, opt_state=opt_state, rng=rng), metrics

    return step


def jit_train_step(
    step: Callable[[TrainState, Batch], tuple[TrainState, Metrics]],
    state_shardings: TrainState,
    example_batch: Batch,
    mesh: Mesh,
    rules: Rules,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """`jax.jit` with explicit in/out shardings; the incoming state is donated."""
    return jax.jit(
        step,
        in_shardings=(state_shardings, batch_shardings(example_batch, mesh, rules)),
        out_shardings=(state_shardings, None),
        donate_argnums=(0,),
    )
