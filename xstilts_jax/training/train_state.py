"""The functional train state and its shardings on a mesh."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from xstilts_jax.models.model import Model
from xstilts_jax.partitioning import Rules, logical_to_mesh_spec

Params = dict[str, Any]


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class TrainState:
    """Everything a step changes: step counter, fp32 params (pure dict), optimizer state, dropout RNG."""

    step: jax.Array
    params: Params
    opt_state: optax.OptState
    rng: jax.Array


def split_model(model: Model) -> tuple[nnx.GraphDef, Params]:
    """The model's static structure and its parameters as a pure dict."""
    graphdef, state = nnx.split(model, nnx.Param)
    return graphdef, nnx.to_pure_dict(state)


def init_train_state(params: Params, optimizer: optax.GradientTransformation, seed: int) -> TrainState:
    """A step-0 train state."""
    return TrainState(
        step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer.init(params), rng=jax.random.key(seed)
    )


def param_logical_axes(model: Model) -> dict[str, Any]:
    """Pure dict of each parameter's logical axis names (tuples)."""
    specs = nnx.get_partition_spec(nnx.state(model, nnx.Param))
    return jax.tree.map(
        lambda s: tuple(s) if isinstance(s, PartitionSpec) else (),
        nnx.to_pure_dict(specs),
        is_leaf=lambda x: isinstance(x, PartitionSpec),
    )


def param_shardings(model: Model, mesh: Mesh, rules: Rules) -> dict[str, Any]:
    """NamedShardings of the model's parameters (pure dict) by their logical axis names."""
    return jax.tree.map(
        lambda names: NamedSharding(mesh, logical_to_mesh_spec(names, rules, mesh)),
        param_logical_axes(model),
        is_leaf=lambda x: isinstance(x, tuple),
    )


def _dict_path(path: tuple) -> tuple[str, ...]:
    return tuple(str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey))


def train_state_shardings(
    model: Model, abstract_state: TrainState, mesh: Mesh, rules: Rules
) -> TrainState:
    """NamedShardings for a TrainState: params by their logical names; optimizer moments
    like the parameter they track (matched by parameter path); scalars replicated."""
    axes = param_logical_axes(model)
    by_path: dict[tuple[str, ...], NamedSharding] = {}

    def param_sharding(path: tuple, names: tuple) -> NamedSharding:
        sharding = NamedSharding(mesh, logical_to_mesh_spec(names, rules, mesh))
        by_path[_dict_path(path)] = sharding
        return sharding

    params = jax.tree_util.tree_map_with_path(param_sharding, axes, is_leaf=lambda x: isinstance(x, tuple))
    replicated = NamedSharding(mesh, PartitionSpec())

    def opt_sharding(path: tuple, leaf: Any) -> NamedSharding:
        keys = _dict_path(path)
        for start in range(len(keys)):
            if keys[start:] in by_path and getattr(leaf, "ndim", 0) > 0:
                return by_path[keys[start:]]
        return replicated

    opt_state = jax.tree_util.tree_map_with_path(opt_sharding, abstract_state.opt_state)
    return TrainState(step=replicated, params=params, opt_state=opt_state, rng=replicated)
