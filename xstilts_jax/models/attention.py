"""Attention kernels behind one interface, chosen by platform: XLA (CPU), cuDNN (GPU), splash (TPU).

Every implementation computes softmax(q·kᵀ/√d)·v where a query attends only to keys of its own
non-padding segment (`segment_ids`: 0 = padding, 1..n = examples packed into the row), and is
split in two so the layer scan repeats only the kernel:

- `prepare(segment_ids, packed)` runs once per forward pass, outside the scan, and builds what the
  kernel takes (a boolean mask, sequence lengths, or the segment ids themselves); `packed` is False
  when the encoder derived the segment ids from padding (one right-padded example per row);
- `attend(q, k, v, prepared)` runs in every block on [batch, length, heads, head_dim].

Outputs at padding query positions are unspecified (each kernel writes something else there); no
head reads them. `EncoderConfig.attention` names an implementation or "auto", which resolves
through `BY_PLATFORM` on the platform the step is compiled for (the partitioner's mesh devices,
else JAX's default backend).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from xstilts_jax.errors import ConfigError

Prepared = Any


@dataclasses.dataclass(frozen=True)
class AttentionImpl:
    """One attention kernel: `prepare` once per forward, `attend` in every block."""

    name: str
    prepare: Callable[[jax.Array, bool], Prepared]
    attend: Callable[[jax.Array, jax.Array, jax.Array, Prepared], jax.Array]


# --- XLA: a boolean mask, jax.nn.dot_product_attention's reference implementation ---------


def segment_mask(segment_ids: jax.Array) -> jax.Array:
    """[batch, 1, q, k] boolean: attend within the same non-padding segment only."""
    same = segment_ids[:, :, None] == segment_ids[:, None, :]
    return (same & (segment_ids[:, None, :] > 0))[:, None, :, :]


def _xla_prepare(segment_ids: jax.Array, packed: bool) -> Prepared:
    return segment_mask(segment_ids)


def _xla_attend(q: jax.Array, k: jax.Array, v: jax.Array, mask: Prepared) -> jax.Array:
    return jax.nn.dot_product_attention(q, k, v, mask=mask, implementation="xla")


# --- cuDNN fused (flash) attention --------------------------------------------------------

CUDNN_DTYPES = (jnp.bfloat16, jnp.float16)


def _cudnn_prepare(segment_ids: jax.Array, packed: bool) -> Prepared:
    """Padded rows: per-row lengths (cuDNN's padding mask skips the padded tiles); the encoder's
    padded rows are right-padded, segment 1 then 0s. Packed rows: the segment mask, which cuDNN
    applies as an additive bias."""
    if packed:
        return {"mask": segment_mask(segment_ids)}
    return {"lengths": jnp.sum(segment_ids > 0, axis=-1, dtype=jnp.int32)}


def _cudnn_attend(q: jax.Array, k: jax.Array, v: jax.Array, prepared: Prepared) -> jax.Array:
    if q.dtype not in CUDNN_DTYPES:
        # cuDNN's fused kernel takes bf16/fp16 only; fp32 compute runs XLA's attention.
        mask = prepared.get("mask")
        if mask is None:  # keys before each row's length
            mask = jnp.arange(k.shape[1])[None, None, None, :] < prepared["lengths"][:, None, None, None]
        return _xla_attend(q, k, v, mask)
    if "mask" in prepared:
        return jax.nn.dot_product_attention(q, k, v, mask=prepared["mask"], implementation="cudnn")
    lengths = prepared["lengths"]
    return jax.nn.dot_product_attention(
        q, k, v, query_seq_lengths=lengths, key_value_seq_lengths=lengths, implementation="cudnn"
    )


# --- TPU splash attention (a Pallas kernel; runs interpreted on other platforms) ------------


SPLASH_LANES = 128  # the TPU splash kernel's block sizes are multiples of this


def _splash_block(length: int) -> int:
    """The largest standard tile that divides the length (the whole length when none does)."""
    return next((b for b in (512, 256, 128) if length % b == 0), length)


def _splash_prepare(segment_ids: jax.Array, packed: bool) -> Prepared:
    return segment_ids.astype(jnp.int32)


def splash_rows(q: jax.Array, k: jax.Array, v: jax.Array, segment_ids: jax.Array, interpret: bool) -> jax.Array:
    """Splash attention on local arrays [batch, length, heads, head_dim]. Padding (segment 0) attends to
    padding, so no row of the mask is empty; real tokens never see it."""
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_kernel as kernel_lib
    from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_mask as mask_lib

    _, length, heads, head_dim = q.shape
    block = _splash_block(length)
    sizes = kernel_lib.BlockSizes(
        block_q=block, block_kv=block, block_q_dkv=block, block_kv_dkv=block, block_q_dq=block, block_kv_dq=block
    )
    mask = mask_lib.MultiHeadMask([mask_lib.FullMask((length, length))] * heads)
    kernel = kernel_lib.make_splash_mha(mask, head_shards=1, q_seq_shards=1, block_sizes=sizes, interpret=interpret)
    scale = np.asarray(head_dim**-0.5, q.dtype)

    def one_row(qr: jax.Array, kr: jax.Array, vr: jax.Array, seg: jax.Array) -> jax.Array:
        out = kernel(qr * scale, kr, vr, segment_ids=kernel_lib.SegmentIds(seg, seg))
        return out.astype(qr.dtype)

    heads_major = lambda t: jnp.swapaxes(t, 1, 2)  # noqa: E731  [B, T, N, H] <-> [B, N, T, H]
    out = jax.vmap(one_row)(heads_major(q), heads_major(k), heads_major(v), segment_ids)
    return heads_major(out)


def _splash_attend(q: jax.Array, k: jax.Array, v: jax.Array, segment_ids: Prepared) -> jax.Array:
    from xstilts_jax.partitioning import current_partitioner

    interpret = _platform() != "tpu"
    if not interpret and q.shape[1] % SPLASH_LANES:
        # The TPU kernel's key blocks must be whole multiples of 128 lanes; shorter or ragged lengths
        # (toy shapes, short eval buckets) take the XLA path, which gives the same values.
        return _xla_attend(q, k, v, segment_mask(segment_ids))
    partitioner = current_partitioner()
    if partitioner is None or partitioner.mesh.size == 1:
        return splash_rows(q, k, v, segment_ids, interpret)
    # A Pallas call is opaque to XLA's partitioner: run it per shard (batch and heads split, length whole).
    qkv = partitioner.spec(("batch", "length", "heads", "kv"))
    seg = partitioner.spec(("batch", "length"))
    if len(qkv) > 1 and qkv[1] is not None:
        raise ConfigError(f"splash attention needs whole sequences per device; the rules shard `length` over {qkv[1]!r}.")
    local = lambda q, k, v, s: splash_rows(q, k, v, s, interpret)  # noqa: E731
    mapped = jax.shard_map(local, mesh=partitioner.mesh, in_specs=(qkv, qkv, qkv, seg), out_specs=qkv, check_vma=False)
    return mapped(q, k, v, segment_ids)


IMPLEMENTATIONS: dict[str, AttentionImpl] = {
    "xla": AttentionImpl("xla", _xla_prepare, _xla_attend),
    "cudnn": AttentionImpl("cudnn", _cudnn_prepare, _cudnn_attend),
    "splash": AttentionImpl("splash", _splash_prepare, _splash_attend),
}

# What `EncoderConfig.attention = "auto"` picks on each JAX platform.
BY_PLATFORM: dict[str, str] = {"cpu": "xla", "gpu": "cudnn", "tpu": "splash"}


def _platform() -> str:
    """The platform being compiled for: the active partitioner's devices, else the default backend."""
    from xstilts_jax.partitioning import current_partitioner

    partitioner = current_partitioner()
    if partitioner is not None:
        return partitioner.mesh.devices.flat[0].platform
    return jax.default_backend()


def resolve_attention(name: str, platform: str | None = None) -> AttentionImpl:
    """The implementation called `name`, or for "auto" the one `BY_PLATFORM` gives `platform`
    (default: the platform being compiled for)."""
    if name == "auto":
        platform = platform or _platform()
        name = BY_PLATFORM.get(platform, "xla")
    if name not in IMPLEMENTATIONS:
        raise ConfigError(f"EncoderConfig.attention={name!r}; choose 'auto' or one of {sorted(IMPLEMENTATIONS)}.")
    return IMPLEMENTATIONS[name]
