"""Small building blocks shared by the encoder and the heads."""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from xstilts_jax.models.config import EncoderConfig


def make_param(
    rngs: nnx.Rngs | None,
    shape: Sequence[int],
    axes: Sequence[str | None],
    config: EncoderConfig,
    init: str = "normal",
) -> nnx.Param:
    """A parameter of `shape` with logical axis names `axes`.

    `init`: "normal" (truncated at nothing, std = initializer_range, as BERT/RoBERTa),
    "zeros" or "ones".
    """
    assert len(shape) == len(axes), (shape, axes)
    dtype = config.params_dtype
    if init == "zeros":
        value = jnp.zeros(shape, dtype)
    elif init == "ones":
        value = jnp.ones(shape, dtype)
    else:
        assert rngs is not None
        value = config.initializer_range * jax.random.normal(rngs.params(), shape, dtype)
    return nnx.Param(value, sharding_names=tuple(axes))


class LayerNorm(nnx.Module):
    """LayerNorm over the last axis, computed in fp32; `leading` adds stacked-layer dims."""

    def __init__(self, config: EncoderConfig, leading: tuple[int, ...] = (), leading_axes: tuple[str, ...] = ()):
        d = config.hidden_size
        self.eps = config.layer_norm_eps
        self.scale = make_param(None, leading + (d,), leading_axes + ("embed",), config, "ones")
        self.bias = make_param(None, leading + (d,), leading_axes + ("embed",), config, "zeros")


def layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array, eps: float) -> jax.Array:
    """LayerNorm in fp32, returned in x's dtype."""
    xf = x.astype(jnp.float32)
    mean = xf.mean(-1, keepdims=True)
    var = jnp.square(xf - mean).mean(-1, keepdims=True)
    y = (xf - mean) * jax.lax.rsqrt(var + eps) * scale.astype(jnp.float32) + bias.astype(jnp.float32)
    return y.astype(x.dtype)


class Dense(nnx.Module):
    """y = x @ kernel + bias with named axes, kernel [in..., out...]."""

    def __init__(
        self,
        rngs: nnx.Rngs,
        config: EncoderConfig,
        in_shape: tuple[int, ...],
        out_shape: tuple[int, ...],
        in_axes: tuple[str | None, ...],
        out_axes: tuple[str | None, ...],
    ):
        self.n_in = len(in_shape)
        self.kernel = make_param(rngs, in_shape + out_shape, in_axes + out_axes, config)
        self.bias = make_param(None, out_shape, out_axes, config, "zeros")
        self.dtype = config.compute_dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        return dense(x, self.kernel[...], self.bias[...], self.n_in, self.dtype)


def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array, n_in: int, dtype: jnp.dtype) -> jax.Array:
    """Contract the last `n_in` axes of x with the first `n_in` axes of kernel, add bias."""
    x = x.astype(dtype)
    y = jnp.tensordot(x, kernel.astype(dtype), axes=n_in)
    return y + bias.astype(dtype)


def dropout(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    """Inverted dropout; identity when `key` is None (deterministic) or rate is 0."""
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


_INV_SQRT2 = 0.7071067811865476


def gelu(x: jax.Array) -> jax.Array:
    """Exact (erf) GELU, as BERT and XLM-R use: x/2 · (1 + erf(x/√2)).

    Written with `erf` rather than `jax.nn.gelu(approximate=False)`, which uses `erfc`: the
    same function (within 1e-6 in fp32), but XLA's CPU `erfc` costs several times more, and GELU
    was a visible part of the CPU train step (bench/README.md).
    """
    return 0.5 * x * (1.0 + jax.lax.erf(x * _INV_SQRT2))
