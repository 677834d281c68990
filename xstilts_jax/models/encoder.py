"""The encoder: embeddings, a scanned stack of transformer blocks, an optional pooler.

One module family covers BERT (token types, positions from 0), RoBERTa/XLM-R
(post-LN, positions offset by `pad_id + 1`) and pre-LN encoders with a final
LayerNorm (XLM-R XL/XXL and the larger ladder sizes). Layer parameters are stored
stacked along a leading `layers` axis and the block runs under `jax.lax.scan`, so
compile time does not grow with depth.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from xstilts_jax.errors import InputError
from xstilts_jax.models.attention import AttentionImpl, Prepared, resolve_attention
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.layers import Dense, LayerNorm, dense, dropout, gelu, layer_norm, make_param
from xstilts_jax.models.remat import apply_remat
from xstilts_jax.partitioning import constrain

HIDDEN = ("batch", "length", "embed")


@dataclasses.dataclass
class EncoderOutput:
    """What the encoder hands to heads.

    `hidden_states[k]`: k = 0 is the embedding output, k the output of block k (the
    last one after the final LayerNorm for pre-LN models). Present only when asked for.
    """

    last_hidden_state: jax.Array  # [batch, length, embed]
    segment_ids: jax.Array  # [batch, length]; 0 = padding
    pooled: jax.Array | None = None  # [batch, embed]: tanh(dense(first token))
    hidden_states: jax.Array | None = None  # [layers + 1, batch, length, embed]


jax.tree_util.register_dataclass(
    EncoderOutput, data_fields=["last_hidden_state", "segment_ids", "pooled", "hidden_states"], meta_fields=[]
)


def positions_from_segments(segment_ids: jax.Array, offset: int, pad_position: int) -> jax.Array:
    """Position ids restarting at `offset` at the start of every segment; padding gets `pad_position`."""
    length = segment_ids.shape[-1]
    idx = jnp.arange(length, dtype=jnp.int32)
    starts = jnp.concatenate(
        [jnp.ones_like(segment_ids[..., :1], dtype=bool), segment_ids[..., 1:] != segment_ids[..., :-1]], axis=-1
    )
    start_idx = jax.lax.cummax(jnp.where(starts, idx, 0), axis=segment_ids.ndim - 1)
    return jnp.where(segment_ids > 0, idx - start_idx + offset, pad_position).astype(jnp.int32)


class Embeddings(nnx.Module):
    """Word + position (+ token type) embeddings; LayerNorm for post-LN models."""

    def __init__(self, config: EncoderConfig, rngs: nnx.Rngs):
        self.config = config
        d = config.hidden_size
        self.word = make_param(rngs, (config.vocab_size, d), ("vocab", "embed"), config)
        self.position = make_param(rngs, (config.max_positions, d), (None, "embed"), config)
        self.token_type = make_param(rngs, (config.type_vocab_size, d), (None, "embed"), config)
        self.norm = LayerNorm(config) if config.norm_style == "post" else None

    def __call__(
        self, input_ids: jax.Array, positions: jax.Array, token_type_ids: jax.Array, rng: jax.Array | None
    ) -> jax.Array:
        cfg = self.config
        x = jnp.take(self.word[...], input_ids, axis=0)
        x = x + jnp.take(self.position[...], positions, axis=0)
        x = x + jnp.take(self.token_type[...], token_type_ids, axis=0)
        if self.norm is not None:
            x = layer_norm(x, self.norm.scale[...], self.norm.bias[...], cfg.layer_norm_eps)
        x = dropout(x.astype(cfg.compute_dtype), cfg.dropout_rate, rng)
        return constrain(x, HIDDEN)


class TransformerStack(nnx.Module):
    """All transformer blocks, parameters stacked on a leading `layers` axis."""

    def __init__(self, config: EncoderConfig, rngs: nnx.Rngs):
        self.config = config
        L, d, n, h, f = config.num_layers, config.hidden_size, config.num_heads, config.kv_dim, config.mlp_dim
        attn_in = ("layers", "embed", "heads", "kv")
        self.query = make_param(rngs, (L, d, n, h), attn_in, config)
        self.query_bias = make_param(None, (L, n, h), ("layers", "heads", "kv"), config, "zeros")
        self.key = make_param(rngs, (L, d, n, h), attn_in, config)
        self.key_bias = make_param(None, (L, n, h), ("layers", "heads", "kv"), config, "zeros")
        self.value = make_param(rngs, (L, d, n, h), attn_in, config)
        self.value_bias = make_param(None, (L, n, h), ("layers", "heads", "kv"), config, "zeros")
        self.out = make_param(rngs, (L, n, h, d), ("layers", "heads", "kv", "embed"), config)
        self.out_bias = make_param(None, (L, d), ("layers", "embed"), config, "zeros")
        self.attention_norm = LayerNorm(config, (L,), ("layers",))
        self.mlp_in = make_param(rngs, (L, d, f), ("layers", "embed", "mlp"), config)
        self.mlp_in_bias = make_param(None, (L, f), ("layers", "mlp"), config, "zeros")
        self.mlp_out = make_param(rngs, (L, f, d), ("layers", "mlp", "embed"), config)
        self.mlp_out_bias = make_param(None, (L, d), ("layers", "embed"), config, "zeros")
        self.mlp_norm = LayerNorm(config, (L,), ("layers",))

    def __call__(
        self,
        x: jax.Array,
        segment_ids: jax.Array,
        packed: bool,
        rng: jax.Array | None,
        num_layers: int,
        collect_hidden: bool,
    ) -> tuple[jax.Array, jax.Array | None]:
        """Run the first `num_layers` blocks; optionally return every block's output."""
        cfg = self.config
        params = nnx.state(self, nnx.Param).to_pure_dict()
        if num_layers < cfg.num_layers:
            params = jax.tree.map(lambda p: p[:num_layers], params)
        keys = None if rng is None else jax.random.split(rng, num_layers)
        attention = resolve_attention(cfg.attention)
        prepared = attention.prepare(segment_ids, packed)  # once, outside the layer scan

        def body(h: jax.Array, xs: tuple[dict[str, Any], jax.Array | None]) -> tuple[jax.Array, jax.Array | None]:
            p, key = xs
            h = transformer_block(cfg, p, h, attention, prepared, key)
            return h, (h if collect_hidden else None)

        unroll = min(cfg.scan_unroll, max(num_layers, 1))
        h, ys = jax.lax.scan(apply_remat(body, cfg.remat), x, (params, keys), unroll=unroll)
        return h, ys


def transformer_block(
    cfg: EncoderConfig,
    p: dict[str, Any],
    h: jax.Array,
    attention: AttentionImpl,
    prepared: Prepared,
    key: jax.Array | None,
) -> jax.Array:
    """One post-LN or pre-LN transformer block on [batch, length, embed]."""
    dt, eps, rate = cfg.compute_dtype, cfg.layer_norm_eps, cfg.dropout_rate
    k_attn, k_mlp = (None, None) if key is None else tuple(jax.random.split(key))
    pre = cfg.norm_style == "pre"
    norm1 = lambda t: layer_norm(t, p["attention_norm"]["scale"], p["attention_norm"]["bias"], eps)  # noqa: E731
    norm2 = lambda t: layer_norm(t, p["mlp_norm"]["scale"], p["mlp_norm"]["bias"], eps)  # noqa: E731

    x = norm1(h) if pre else h
    q = constrain(dense(x, p["query"], p["query_bias"], 1, dt), ("batch", "length", "heads", "kv"))
    k = constrain(dense(x, p["key"], p["key_bias"], 1, dt), ("batch", "length", "heads", "kv"))
    v = constrain(dense(x, p["value"], p["value_bias"], 1, dt), ("batch", "length", "heads", "kv"))
    a = attention.attend(q, k, v, prepared)
    a = dropout(dense(a, p["out"], p["out_bias"], 2, dt), rate, k_attn)
    h = h + a
    if not pre:
        h = norm1(h)

    x = norm2(h) if pre else h
    m = gelu(dense(x, p["mlp_in"], p["mlp_in_bias"], 1, dt))
    m = constrain(m, ("batch", "length", "mlp"))
    m = dropout(dense(m, p["mlp_out"], p["mlp_out_bias"], 1, dt), rate, k_mlp)
    h = h + m
    if not pre:
        h = norm2(h)
    return constrain(h.astype(dt), HIDDEN)


class Encoder(nnx.Module):
    """Embeddings → scanned blocks → (final LayerNorm for pre-LN) → optional pooler."""

    def __init__(self, config: EncoderConfig, rngs: nnx.Rngs):
        self.config = config
        self.embeddings = Embeddings(config, rngs)
        self.layers = TransformerStack(config, rngs)
        self.final_norm = LayerNorm(config) if config.norm_style == "pre" else None
        self.pooler = (
            Dense(rngs, config, (config.hidden_size,), (config.hidden_size,), ("embed",), (None,))
            if config.pooler
            else None
        )

    def __call__(
        self,
        input_ids: jax.Array,
        segment_ids: jax.Array | None = None,
        positions: jax.Array | None = None,
        token_type_ids: jax.Array | None = None,
        *,
        dropout_rng: jax.Array | None = None,
        output_hidden_states: bool = False,
        num_layers: int | None = None,
    ) -> EncoderOutput:
        """Encode [batch, length] token ids.

        `segment_ids` (0 = padding, 1..n = packed examples) default to `input_ids != pad_id`;
        positions restart in every segment. `num_layers` runs only the first blocks (for
        representations from an inner layer); the final LayerNorm and the pooler then
        are skipped.
        """
        cfg = self.config
        if input_ids.ndim != 2:
            raise InputError(f"Encoder expects input_ids of shape [batch, length], got {input_ids.shape}.")
        length = input_ids.shape[-1]
        if length > cfg.max_length:
            raise InputError(
                f"Sequence length {length} exceeds the position table of model {cfg.name!r} "
                f"(max_positions={cfg.max_positions}, usable length {cfg.max_length}); "
                f"truncate or split inputs to at most {cfg.max_length} tokens."
            )
        n = cfg.num_layers if num_layers is None else num_layers
        if not 0 <= n <= cfg.num_layers:
            raise InputError(f"num_layers={n} is outside 0..{cfg.num_layers} for model {cfg.name!r}.")
        packed = segment_ids is not None
        if segment_ids is None:
            segment_ids = (input_ids != cfg.pad_id).astype(jnp.int32)
        if positions is None:
            pad_position = cfg.position_offset - 1 if cfg.position_offset > 0 else 0
            positions = positions_from_segments(segment_ids, cfg.position_offset, pad_position)
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        if dropout_rng is None:
            emb_rng = layer_rng = None
        else:
            emb_rng, layer_rng = jax.random.split(dropout_rng)

        x = self.embeddings(input_ids, positions, token_type_ids, emb_rng)
        h, ys = self.layers(x, segment_ids, packed, layer_rng, n, output_hidden_states)
        full = n == cfg.num_layers
        if full and self.final_norm is not None:
            h = layer_norm(h, self.final_norm.scale[...], self.final_norm.bias[...], cfg.layer_norm_eps)
        hidden_states = None
        if output_hidden_states:
            hidden_states = jnp.concatenate([x[None], ys], axis=0) if n else x[None]
            hidden_states = hidden_states.at[-1].set(h)
        pooled = jnp.tanh(self.pooler(h[:, 0])) if (full and self.pooler is not None) else None
        return EncoderOutput(last_hidden_state=h, segment_ids=segment_ids, pooled=pooled, hidden_states=hidden_states)
