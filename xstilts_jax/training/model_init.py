"""A model whose parameters are created directly on the mesh, already sharded.

At 30B+ parameters no host can hold the whole model (120 GB in fp32 at 30B, before the
optimizer moments), so initialization runs inside one jitted function whose outputs carry
the parameters' shardings: every device computes only its own shards. The values equal
`build_model(config, heads, seed)` on one host up to float rounding (XLA fuses the init math).
"""

from __future__ import annotations

from typing import Mapping

import jax
from flax import nnx

from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.heads import HeadSpec
from xstilts_jax.models.model import Model, build_model
from xstilts_jax.partitioning import Partitioner


def build_sharded_model(
    config: EncoderConfig, heads: Mapping[str, HeadSpec] | None, seed: int, partitioner: Partitioner
) -> Model:
    """A freshly initialized model with every parameter created on `partitioner`'s mesh, sharded."""
    abstract = nnx.eval_shape(lambda: build_model(config, heads, seed=seed))
    shardings = partitioner.module_shardings(abstract)

    def init() -> dict:
        return nnx.to_pure_dict(nnx.state(build_model(config, heads, seed=seed), nnx.Param))

    params = jax.jit(init, out_shardings=shardings)()
    graphdef, state = nnx.split(abstract, nnx.Param)
    nnx.replace_by_pure_dict(state, params)
    return nnx.merge(graphdef, state)
