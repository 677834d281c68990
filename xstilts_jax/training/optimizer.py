"""Optimizers and schedules (optax).

One `OptimizerConfig` per phase, bound in gin: fine-tuning uses the X-STILTs defaults (AdamW, lr 1e-5,
10% warmup then linear decay); pretraining binds its own in the `mlm` scope (`gin/runs/pretrain.gin`:
`mlm/OptimizerConfig.*`). For memory, AdamW can keep its first moment in bfloat16 (`mu_dtype`), and
Adafactor (`name = 'adafactor'`) keeps a factored second moment and no first moment.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gin
import jax
import jax.numpy as jnp
import optax

from xstilts_jax.errors import ConfigError

OPTIMIZERS = ("adamw", "adafactor")
_MOMENT_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@gin.configurable
@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """An optimizer on a linear warmup then linear decay to zero, after global-norm clipping.

    name: 'adamw' (b1, b2, eps; first moment in `mu_dtype`) or 'adafactor' (factored second moment
    with decay rate `adafactor_decay`, no momentum, `learning_rate` an absolute step size).
    Warmup: `warmup_steps` when bound, else `warmup_fraction` of the phase's steps. Weight decay is
    decoupled and skips biases and LayerNorm parameters.
    """

    name: str = "adamw"
    learning_rate: float = 1e-5
    warmup_fraction: float = 0.1
    warmup_steps: int | None = None
    weight_decay: float = 0.01
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    mu_dtype: str = "float32"
    adafactor_decay: float = 0.8
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(f"OptimizerConfig.name={self.name!r}; choose one of {list(OPTIMIZERS)}.")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ConfigError(f"OptimizerConfig.warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")
        if self.warmup_steps is not None and self.warmup_steps < 0:
            raise ConfigError(f"OptimizerConfig.warmup_steps must be >= 0, got {self.warmup_steps}.")
        if self.learning_rate <= 0:
            raise ConfigError(f"OptimizerConfig.learning_rate must be positive, got {self.learning_rate}.")
        if self.mu_dtype not in _MOMENT_DTYPES:
            raise ConfigError(f"OptimizerConfig.mu_dtype={self.mu_dtype!r}; choose one of {sorted(_MOMENT_DTYPES)}.")


def learning_rate_schedule(config: OptimizerConfig, total_steps: int) -> optax.Schedule:
    """0 → peak over the warmup steps, then linear decay to 0 at total_steps."""
    if total_steps < 1:
        raise ConfigError(f"total_steps must be >= 1, got {total_steps}.")
    warmup = config.warmup_steps if config.warmup_steps is not None else int(config.warmup_fraction * total_steps)
    if warmup >= total_steps:
        raise ConfigError(
            f"OptimizerConfig.warmup_steps={warmup} is not below the phase's {total_steps} steps; lower it or train longer."
        )
    return optax.join_schedules(
        [
            optax.linear_schedule(0.0, config.learning_rate, max(warmup, 1)),
            optax.linear_schedule(config.learning_rate, 0.0, max(total_steps - warmup, 1)),
        ],
        [warmup],
    )


def _decay_mask(params: object) -> object:
    """No weight decay on biases and LayerNorm parameters (1-D per layer)."""

    def decays(path: tuple, leaf: object) -> bool:
        name = str(path[-1])
        return not ("bias" in name or "norm" in "/".join(map(str, path)))

    return jax.tree_util.tree_map_with_path(decays, params)


def make_optimizer(config: OptimizerConfig, total_steps: int) -> optax.GradientTransformation:
    """Clipping + the configured optimizer on the warmup/decay schedule."""
    schedule = learning_rate_schedule(config, total_steps)
    if config.name == "adafactor":
        update = optax.adafactor(
            schedule,
            decay_rate=config.adafactor_decay,
            multiply_by_parameter_scale=False,  # learning_rate is the step size, as for AdamW
            weight_decay_rate=config.weight_decay or None,
            weight_decay_mask=_decay_mask,
        )
    else:
        update = optax.adamw(
            schedule,
            b1=config.b1,
            b2=config.b2,
            eps=config.eps,
            mu_dtype=_MOMENT_DTYPES[config.mu_dtype],
            weight_decay=config.weight_decay,
            mask=_decay_mask,
        )
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), update)


def optimizer_state_bytes(config: OptimizerConfig, params: Any) -> int:
    """Bytes of the optimizer state for `params` (arrays or ShapeDtypeStructs); nothing is allocated."""
    state = jax.eval_shape(make_optimizer(config, (config.warmup_steps or 0) + 2).init, params)
    return sum(x.size * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(state))


def optimizer_bytes_per_param(config: OptimizerConfig, params: Any) -> float:
    """Optimizer-state bytes per parameter (AdamW fp32: 8; bf16 first moment: 6; Adafactor: well under 1)."""
    count = sum(x.size for x in jax.tree.leaves(params))
    return optimizer_state_bytes(config, params) / max(count, 1)
