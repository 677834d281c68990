"""The functional train state and its shardings by a `Partitioner`."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from xstilts_jax.models.model import Model
from xstilts_jax.partitioning import Partitioner

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


def _dict_path(path: tuple) -> tuple[str, ...]:
    return tuple(str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey))


def train_state_shardings(model: Model, abstract_state: TrainState, partitioner: Partitioner) -> TrainState:
    """NamedShardings for a TrainState: params by their logical names; optimizer state like the
    parameter it tracks (matched by parameter path): a moment of the parameter's shape shares its
    sharding, a factored statistic (Adafactor: the parameter's shape less one axis) its sharding
    less that axis; scalars replicated."""
    params = partitioner.module_shardings(model)
    flat_params = jax.tree_util.tree_flatten_with_path(params)[0]
    by_path = {_dict_path(path): s for path, s in flat_params}
    shapes = {_dict_path(path): x.shape for path, x in jax.tree_util.tree_flatten_with_path(abstract_state.params)[0]}
    replicated = partitioner.replicated()

    def opt_sharding(path: tuple, leaf: Any) -> NamedSharding:
        keys = _dict_path(path)
        for start in range(len(keys)):
            if keys[start:] in by_path and getattr(leaf, "ndim", 0) > 0:
                return _tracking_sharding(by_path[keys[start:]], shapes[keys[start:]], leaf.shape, replicated)
        return replicated

    opt_state = jax.tree_util.tree_map_with_path(opt_sharding, abstract_state.opt_state)
    return TrainState(step=replicated, params=params, opt_state=opt_state, rng=replicated)


def _tracking_sharding(
    param: NamedSharding, param_shape: tuple[int, ...], shape: tuple[int, ...], replicated: NamedSharding
) -> NamedSharding:
    """The sharding of optimizer state of `shape` that tracks a parameter of `param_shape`."""
    if tuple(shape) == tuple(param_shape):
        return param
    spec = tuple(param.spec) + (None,) * (len(param_shape) - len(param.spec))
    for axis in range(len(param_shape)):
        if param_shape[:axis] + param_shape[axis + 1 :] == tuple(shape):
            return NamedSharding(param.mesh, PartitionSpec(*(spec[:axis] + spec[axis + 1 :])))
    return replicated
