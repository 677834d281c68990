"""The one train-step setup shared by the trainer, the planner and the benchmarks.

`build_train_step` splits the model, makes the optimizer and its schedule, derives the
train state's shape (`jax.eval_shape`, nothing allocated) and its shardings from a
`Partitioner`; `TrainStep.jit(heads)` is the sharded, state-donating step for one head (or
routed heads), and `TrainStep.init_state()` creates the step-0 state on the mesh. The model
may be abstract (`nnx.eval_shape`): the planner only lowers the step.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import optax
from flax import nnx

from xstilts_jax.errors import ConfigError
from xstilts_jax.models.model import Model
from xstilts_jax.partitioning import Partitioner
from xstilts_jax.training.optimizer import OptimizerConfig, learning_rate_schedule, make_optimizer
from xstilts_jax.training.train_state import Params, TrainState, init_train_state, split_model, train_state_shardings
from xstilts_jax.training.train_step import Batch, Heads, Metrics, make_train_step

StepFn = Callable[[TrainState, Batch], tuple[TrainState, Metrics]]


@dataclasses.dataclass(frozen=True)
class TrainStep:
    """A model's train step on a partitioner's mesh, before any head is chosen.

    params: the model's parameters (arrays, or ShapeDtypeStructs for an abstract model).
    shardings: a NamedSharding for every train-state leaf. abstract_state: the state's
    ShapeDtypeStructs carrying those shardings (what a checkpoint restores into).
    """

    graphdef: nnx.GraphDef
    params: Params
    optimizer: optax.GradientTransformation
    schedule: optax.Schedule
    partitioner: Partitioner
    shardings: TrainState
    abstract_state: TrainState
    seed: int = 0
    accumulate_steps: int = 1
    dropout: bool = True

    def jit(self, heads: Heads) -> StepFn:
        """The jitted step training `heads`, with the state's shardings and the state donated.

        Every batch feature is split on its leading (batch) dim and replicated on the rest, so
        one sharding serves features of any rank and the step takes any feature layout.
        """
        step = make_train_step(
            self.graphdef, self.optimizer, heads, self.partitioner, self.dropout, self.accumulate_steps, self.schedule
        )
        return jax.jit(
            step,
            in_shardings=(self.shardings, self.partitioner.batch_sharding(1)),
            out_shardings=(self.shardings, None),
            donate_argnums=(0,),
        )

    def init_state(self) -> TrainState:
        """The step-0 state on the mesh: the optimizer moments are created sharded inside jit, and
        the model's parameter buffers are donated into the state, so a 30B+ model is never held twice."""
        params = self.params
        if not _on_mesh(params, self.shardings.params):
            if jax.process_count() > 1:
                raise ConfigError(
                    "training on several hosts needs a model whose parameters are already on the mesh; build it "
                    "with xstilts_jax.training.model_init.build_sharded_model (experiments.pipeline.model_for does)."
                )
            params = jax.device_put(params, self.shardings.params)
        optimizer, seed = self.optimizer, self.seed
        init = jax.jit(
            lambda p: init_train_state(p, optimizer, seed),
            in_shardings=(self.shardings.params,),
            out_shardings=self.shardings,
            donate_argnums=0,
        )
        return init(params)


def build_train_step(
    model: Model,
    optimizer_config: OptimizerConfig,
    partitioner: Partitioner,
    steps: int,
    *,
    seed: int = 0,
    accumulate_steps: int = 1,
    dropout: bool = True,
) -> TrainStep:
    """The train step of `model` with AdamW from `optimizer_config` scheduled over `steps`, on
    `partitioner`'s mesh; `seed` seeds the state's dropout RNG."""
    graphdef, params = split_model(model)
    optimizer = make_optimizer(optimizer_config, steps)
    shape = jax.eval_shape(lambda p: init_train_state(p, optimizer, seed), params)
    shardings = train_state_shardings(model, shape, partitioner)
    abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), shape, shardings)
    return TrainStep(
        graphdef=graphdef,
        params=params,
        optimizer=optimizer,
        schedule=learning_rate_schedule(optimizer_config, steps),
        partitioner=partitioner,
        shardings=shardings,
        abstract_state=abstract,
        seed=seed,
        accumulate_steps=accumulate_steps,
        dropout=dropout,
    )


def _on_mesh(params: Params, shardings: Params) -> bool:
    return all(
        isinstance(x, jax.Array) and x.sharding.is_equivalent_to(s, x.ndim)
        for x, s in zip(jax.tree.leaves(params), jax.tree.leaves(shardings))
    )
