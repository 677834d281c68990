"""Optimizers and schedules (optax), X-STILTs defaults: AdamW, lr 1e-5, 10% warmup then linear decay."""

from __future__ import annotations

import dataclasses

import gin
import optax

from xstilts_jax.errors import ConfigError


@gin.configurable
@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """AdamW with linear warmup and linear decay to zero, global-norm clipping."""

    learning_rate: float = 1e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    max_grad_norm: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ConfigError(f"OptimizerConfig.warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")
        if self.learning_rate <= 0:
            raise ConfigError(f"OptimizerConfig.learning_rate must be positive, got {self.learning_rate}.")


def learning_rate_schedule(config: OptimizerConfig, total_steps: int) -> optax.Schedule:
    """0 → peak over warmup_fraction · total_steps, then linear decay to 0 at total_steps."""
    if total_steps < 1:
        raise ConfigError(f"total_steps must be >= 1, got {total_steps}.")
    warmup = int(config.warmup_fraction * total_steps)
    return optax.join_schedules(
        [
            optax.linear_schedule(0.0, config.learning_rate, max(warmup, 1)),
            optax.linear_schedule(config.learning_rate, 0.0, max(total_steps - warmup, 1)),
        ],
        [warmup],
    )


def _decay_mask(params: object) -> object:
    """No weight decay on biases and LayerNorm parameters (1-D per layer)."""
    import jax

    def decays(path: tuple, leaf: object) -> bool:
        name = str(path[-1])
        return not ("bias" in name or "norm" in "/".join(map(str, path)))

    return jax.tree_util.tree_map_with_path(decays, params)


def make_optimizer(config: OptimizerConfig, total_steps: int) -> optax.GradientTransformation:
    """Clipping + AdamW on the warmup/decay schedule."""
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adamw(
            learning_rate_schedule(config, total_steps),
            b1=config.b1,
            b2=config.b2,
            eps=config.eps,
            weight_decay=config.weight_decay,
            mask=_decay_mask,
        ),
    )
