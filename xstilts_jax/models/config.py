"""The encoder family's configuration: one dataclass, bound by the gin files in gin/models/."""

from __future__ import annotations

import dataclasses
from typing import Literal

import gin
import jax.numpy as jnp

from xstilts_jax.errors import ConfigError

NormStyle = Literal["post", "pre"]
RematName = Literal["none", "full", "save_dots"]

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Shape and numerics of a BERT/RoBERTa/XLM-R style encoder.

    `norm_style="post"` is BERT/RoBERTa/XLM-R base+large (LayerNorm after each
    residual, LayerNorm on the embeddings); `"pre"` is XLM-R XL/XXL and the larger
    ladder sizes (LayerNorm before each sub-block, no embedding LayerNorm, a final
    LayerNorm). Positions: RoBERTa-style models start at `pad_id + 1` and give padding
    the position `pad_id` (`position_offset = pad_id + 1`); BERT starts at 0.
    """

    name: str = "custom"
    vocab_size: int = 250002
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    head_dim: int | None = None  # default hidden_size // num_heads
    mlp_dim: int = 3072
    max_positions: int = 514
    type_vocab_size: int = 1
    pad_id: int = 1
    position_offset: int = 2
    norm_style: NormStyle = "post"
    layer_norm_eps: float = 1e-5
    pooler: bool = True
    dropout_rate: float = 0.1
    dtype: str = "float32"  # compute dtype
    param_dtype: str = "float32"
    remat: RematName = "none"
    # blocks per iteration of the layer scan (`jax.lax.scan(unroll=...)`): 1 keeps one compiled block
    # (compile time independent of depth); num_layers unrolls the stack, which on a CPU drops the scan's
    # stacked-activation buffers and copies (bench/README.md); only worth it at small depth
    scan_unroll: int = 1
    initializer_range: float = 0.02
    # attention kernel (models/attention.py): "auto" picks by platform (XLA on CPU, cuDNN on GPU, splash on TPU)
    attention: str = "auto"

    def __post_init__(self) -> None:
        for field in ("vocab_size", "hidden_size", "num_layers", "num_heads", "mlp_dim", "max_positions"):
            if getattr(self, field) <= 0:
                raise ConfigError(f"EncoderConfig.{field} must be positive, got {getattr(self, field)}.")
        if self.head_dim is None and self.hidden_size % self.num_heads:
            raise ConfigError(
                f"EncoderConfig.hidden_size={self.hidden_size} is not divisible by num_heads={self.num_heads}; "
                "set head_dim explicitly or change num_heads."
            )
        if self.norm_style not in ("post", "pre"):
            raise ConfigError(f"EncoderConfig.norm_style must be 'post' or 'pre', got {self.norm_style!r}.")
        for field in ("dtype", "param_dtype"):
            if getattr(self, field) not in _DTYPES:
                raise ConfigError(f"EncoderConfig.{field}={getattr(self, field)!r}; choose one of {sorted(_DTYPES)}.")
        if self.scan_unroll < 1:
            raise ConfigError(f"EncoderConfig.scan_unroll must be >= 1 (1 = no unrolling), got {self.scan_unroll}.")
        from xstilts_jax.models.remat import REMAT_POLICIES  # local: avoid a cycle

        if self.remat not in REMAT_POLICIES:
            raise ConfigError(f"EncoderConfig.remat={self.remat!r}; choose one of {sorted(REMAT_POLICIES)}.")
        from xstilts_jax.models.attention import IMPLEMENTATIONS

        if self.attention != "auto" and self.attention not in IMPLEMENTATIONS:
            raise ConfigError(f"EncoderConfig.attention={self.attention!r}; choose 'auto' or one of {sorted(IMPLEMENTATIONS)}.")

    @property
    def kv_dim(self) -> int:
        """Per-head dimension."""
        return self.head_dim if self.head_dim is not None else self.hidden_size // self.num_heads

    @property
    def max_length(self) -> int:
        """Longest input sequence the position table can hold."""
        return self.max_positions - self.position_offset

    @property
    def compute_dtype(self) -> jnp.dtype:
        return _DTYPES[self.dtype]

    @property
    def params_dtype(self) -> jnp.dtype:
        return _DTYPES[self.param_dtype]

    def replace(self, **changes: object) -> "EncoderConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        """Plain fields, for JSON next to a checkpoint."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict[str, object], source: str = "config") -> "EncoderConfig":
        """Inverse of `to_dict`; unknown fields are an error naming `source`."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown EncoderConfig fields {unknown}; known fields are {sorted(known)}.")
        return cls(**fields)  # type: ignore[arg-type]

    def to_gin(self) -> str:
        """A gin file body binding every field, composable with gin/runs/*.gin."""
        lines = ["# Generated by xstilts-jax: the encoder shape of a checkpoint.", "import xstilts_jax.models.config", ""]
        lines += [f"EncoderConfig.{k} = {v!r}" for k, v in self.to_dict().items()]
        return "\n".join(lines) + "\n"
