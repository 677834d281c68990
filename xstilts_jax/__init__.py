"""xstilts-jax: X-STILTs (intermediate-task training + zero-shot cross-lingual transfer) in JAX/Flax NNX."""

from flax import nnx as _nnx

# Parameters carry logical axis names as metadata; they are placed on a mesh by
# `xstilts_jax.partitioning`, not eagerly at creation time.
_nnx.use_eager_sharding(False)

__version__ = "0.1.0"
