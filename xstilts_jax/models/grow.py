"""Growth: initialize a larger rung from the one below, preserving the function it computes.

What is preserved, exactly (to float rounding), and why:

- **Depth** (pre-LN only): new blocks are interleaved evenly among the old ones; each copies the
  block below it except its two output projections (attention `out`, `mlp_out` and their biases),
  which are zero, so the residual branch adds exactly 0 and the block is the identity (Gopher /
  "staged training" style). A post-LN block ends with a LayerNorm of the residual, which is not
  the identity, so depth growth of a post-LN model is refused.
- **Heads and MLP width**: both feed a projection back into the residual stream, with no
  normalization over the new units, so new units never change the output. `new_units='zero'`
  (default): new units get fresh random input weights and zero output weights (they start silent and
  learn from the first step); `'duplicate'` (bert2BERT's function-preserving initialization): a new
  unit copies an old one and the old unit's output weights are split evenly among its copies. Copies
  receive equal gradients ever after, so duplicates stay identical: prefer 'zero'.
- **Hidden (residual) width**: every residual coordinate is repeated (bert2BERT FPI): producers of
  the residual stream (embeddings, `out`, `mlp_out`, biases, LayerNorm gain and bias) copy columns,
  consumers (`query/key/value`, `mlp_in`, pooler and MLM dense) split their input rows among the
  copies. LayerNorm normalizes over the whole width, so the grown vector must have the same mean and
  variance as the small one: with a per-coordinate gain, a linear widening that commutes with
  LayerNorm exists exactly when every coordinate is repeated the same number of times, i.e. when
  `hidden_size` grows by an integer factor (bert2BERT §3.1 and LiGO use this duplication and note that
  LayerNorm is otherwise only approximately preserved). A non-integer factor (XXL 4096 → 30B 7168,
  30B 7168 → 60B 8192) repeats only some coordinates: the function is then preserved only
  approximately and `allow_approximate=True` is required.
- **MLM head**: its decoder is tied to the (widened) word embeddings, so its LayerNorm gain and bias
  are divided by each coordinate's copy count: the logits are those of the small model.

Vocabulary, positions, token types, head size (`kv_dim`), norm style and pooler must not change.
Everything works on the flat parameter names of `checkpoints/params.flat` in numpy, on the host.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from xstilts_jax.errors import ConfigError
from xstilts_jax.models.config import EncoderConfig

# Axis roles. E: a residual-stream producer axis (copy); Ec: a residual-stream consumer axis (copy,
# then divide by the copy count); H / F: heads / MLP units produced (new units fresh or copied);
# Hc / Fc: heads / MLP units consumed (new units zero, or copies splitting the weight); L: layers;
# "=": must not change (vocabulary, positions, token types, head size).
AXIS_ROLES: dict[str, tuple[str, ...]] = {
    "encoder/embeddings/word": ("=", "E"),
    "encoder/embeddings/position": ("=", "E"),
    "encoder/embeddings/token_type": ("=", "E"),
    "encoder/embeddings/norm/scale": ("E",),
    "encoder/embeddings/norm/bias": ("E",),
    "encoder/layers/query": ("L", "Ec", "H", "="),
    "encoder/layers/key": ("L", "Ec", "H", "="),
    "encoder/layers/value": ("L", "Ec", "H", "="),
    "encoder/layers/query_bias": ("L", "H", "="),
    "encoder/layers/key_bias": ("L", "H", "="),
    "encoder/layers/value_bias": ("L", "H", "="),
    "encoder/layers/out": ("L", "Hc", "=", "E"),
    "encoder/layers/out_bias": ("L", "E"),
    "encoder/layers/attention_norm/scale": ("L", "E"),
    "encoder/layers/attention_norm/bias": ("L", "E"),
    "encoder/layers/mlp_in": ("L", "Ec", "F"),
    "encoder/layers/mlp_in_bias": ("L", "F"),
    "encoder/layers/mlp_out": ("L", "Fc", "E"),
    "encoder/layers/mlp_out_bias": ("L", "E"),
    "encoder/layers/mlp_norm/scale": ("L", "E"),
    "encoder/layers/mlp_norm/bias": ("L", "E"),
    "encoder/final_norm/scale": ("E",),
    "encoder/final_norm/bias": ("E",),
    "encoder/pooler/kernel": ("Ec", "E"),
    "encoder/pooler/bias": ("E",),
    "heads/mlm/dense/kernel": ("Ec", "E"),
    "heads/mlm/dense/bias": ("E",),
    "heads/mlm/norm/scale": ("Ec",),  # feeds the tied decoder: a consumer of the widened embeddings
    "heads/mlm/norm/bias": ("Ec",),
    "heads/mlm/bias": ("=",),
}

# A new (identity) block's residual-branch outputs.
ZERO_IN_NEW_LAYERS = ("encoder/layers/out", "encoder/layers/out_bias", "encoder/layers/mlp_out", "encoder/layers/mlp_out_bias")

NEW_UNITS = ("zero", "duplicate")


class GrowthError(ConfigError):
    """The two rungs cannot be related by function-preserving growth (the message says why and what to change)."""


@dataclasses.dataclass(frozen=True)
class UnitMap:
    """Where each unit of a grown axis comes from: `source[j]` (an old unit) and its copy count."""

    old: int
    new: int

    @property
    def source(self) -> np.ndarray:
        return np.arange(self.new) % self.old

    @property
    def copies(self) -> np.ndarray:
        """For each new unit, how many new units share its source."""
        return np.bincount(self.source, minlength=self.old)[self.source]

    @property
    def exact_duplication(self) -> bool:
        return self.new % self.old == 0


def layer_sources(old: int, new: int) -> tuple[np.ndarray, np.ndarray]:
    """For each new layer: the old layer it copies and whether it is an old one (else a new identity block).

    Old layers keep their order at positions floor(i x new / old); each new block follows the old one below it.
    """
    positions = (np.arange(old) * new) // old
    is_old = np.zeros(new, bool)
    is_old[positions] = True
    source = np.cumsum(is_old) - 1
    return source, is_old


def check_growable(small: EncoderConfig, big: EncoderConfig, allow_approximate: bool = False) -> list[str]:
    """What growth preserves, one line each; a GrowthError when the rungs cannot be related."""
    for field in ("vocab_size", "max_positions", "type_vocab_size", "norm_style", "pooler", "pad_id", "position_offset"):
        if getattr(small, field) != getattr(big, field):
            raise GrowthError(
                f"cannot grow {small.name} into {big.name}: EncoderConfig.{field} differs "
                f"({getattr(small, field)!r} vs {getattr(big, field)!r}); growth keeps it, so set it equal in the larger gin."
            )
    if small.kv_dim != big.kv_dim:
        raise GrowthError(
            f"cannot grow {small.name} into {big.name}: head size {small.kv_dim} vs {big.kv_dim}; growth adds heads of "
            "the same size (set num_heads = hidden_size / head size, or head_dim, in the larger gin)."
        )
    for field in ("hidden_size", "num_layers", "num_heads", "mlp_dim"):
        if getattr(big, field) < getattr(small, field):
            raise GrowthError(f"cannot grow {small.name} into {big.name}: {field} shrinks ({getattr(small, field)} → {getattr(big, field)}).")
    if big.num_layers > small.num_layers and small.norm_style != "pre":
        raise GrowthError(
            f"cannot grow {small.name} ({small.norm_style}-LN) from {small.num_layers} to {big.num_layers} layers: a new "
            "post-LN block ends in a LayerNorm, which is not the identity; grow width only (same num_layers)."
        )
    hidden = UnitMap(small.hidden_size, big.hidden_size)
    notes = [
        f"depth {small.num_layers} → {big.num_layers}: new blocks are the identity (zero output projections): exact",
        f"heads {small.num_heads} → {big.num_heads}, MLP {small.mlp_dim} → {big.mlp_dim}: new units add nothing: exact",
    ]
    if hidden.exact_duplication:
        notes.append(
            f"hidden {small.hidden_size} → {big.hidden_size}: every coordinate repeated {big.hidden_size // small.hidden_size}x, "
            "LayerNorm statistics unchanged: exact"
        )
    elif not allow_approximate:
        raise GrowthError(
            f"hidden_size {small.hidden_size} → {big.hidden_size} is not an integer factor: LayerNorm over the widened "
            "residual then sees other statistics and the grown model only approximates the smaller one. Pass "
            "--allow_approximate (allow_approximate=True) to grow anyway, or grow to a multiple of the width."
        )
    else:
        notes.append(
            f"hidden {small.hidden_size} → {big.hidden_size}: {big.hidden_size - small.hidden_size} coordinates repeated, "
            "LayerNorm mean and variance shift: APPROXIMATE (bert2BERT FPI)"
        )
    return notes


def _grow_axis(
    x: np.ndarray, axis: int, role: str, units: UnitMap, new_units: str, fresh: bool, rng: np.random.Generator, init: float
) -> np.ndarray:
    source = units.source
    shape = [1] * x.ndim
    shape[axis] = units.new
    split = (1.0 / units.copies).reshape(shape).astype(x.dtype)
    if role == "E" or (role in ("H", "F") and new_units == "duplicate"):
        return np.take(x, source, axis=axis)
    if role == "Ec" or (role in ("Hc", "Fc") and new_units == "duplicate"):
        return np.take(x, source, axis=axis) * split
    extra_shape = list(x.shape)
    extra_shape[axis] = units.new - units.old
    if role in ("H", "F") and fresh:
        extra = (init * rng.standard_normal(extra_shape)).astype(x.dtype)
    else:  # consumers of new units, and biases of new units
        extra = np.zeros(extra_shape, x.dtype)
    return np.concatenate([x, extra], axis=axis)


def grow_params(
    params: Mapping[str, np.ndarray],
    small: EncoderConfig,
    big: EncoderConfig,
    *,
    new_units: str = "zero",
    allow_approximate: bool = False,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The flat parameters of `big` grown from `params` of `small` (see the module docstring)."""
    if new_units not in NEW_UNITS:
        raise GrowthError(f"new_units={new_units!r}; choose one of {list(NEW_UNITS)}.")
    check_growable(small, big, allow_approximate)
    unknown = sorted(k for k in params if k not in AXIS_ROLES)
    if unknown:
        raise GrowthError(f"cannot grow parameters {unknown}: growth knows the encoder and the MLM head only; drop other heads first.")
    maps = {
        "E": UnitMap(small.hidden_size, big.hidden_size),
        "H": UnitMap(small.num_heads, big.num_heads),
        "F": UnitMap(small.mlp_dim, big.mlp_dim),
    }
    rng = np.random.default_rng(seed)
    layer_source, is_old = layer_sources(small.num_layers, big.num_layers)
    grown = {}
    for name in sorted(params):
        x = np.asarray(params[name])
        roles = AXIS_ROLES[name]
        if x.ndim != len(roles):
            raise GrowthError(f"parameter {name} has shape {x.shape}; growth expects {len(roles)} axes.")
        fresh = not (name.endswith("bias") or "norm/" in name)
        for axis, role in enumerate(roles):
            if role in ("=", "L"):
                continue
            x = _grow_axis(x, axis, role, maps[role[0]], new_units, fresh, rng, big.initializer_range)
        if roles[0] == "L":
            x = np.take(x, layer_source, axis=0)
            if name in ZERO_IN_NEW_LAYERS:
                x = x * is_old.reshape((-1,) + (1,) * (x.ndim - 1)).astype(x.dtype)
        grown[name] = x
    return grown


def hidden_source(small: EncoderConfig, big: EncoderConfig) -> np.ndarray:
    """For each hidden coordinate of `big`, the coordinate of `small` it repeats (hidden states compare through it)."""
    return UnitMap(small.hidden_size, big.hidden_size).source
