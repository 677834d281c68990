"""Parameter counts on abstract shapes (nothing allocated): per model, per group, and the ladder table."""

from __future__ import annotations

import math

from flax import nnx

from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.ladder import LADDER, PUBLISHED_PARAMS, model_config
from xstilts_jax.models.model import build_model


def param_shapes(config: EncoderConfig) -> dict[str, tuple[int, ...]]:
    """Flat 'a/b/c' → shape of every encoder parameter, from `nnx.eval_shape` (nothing allocated)."""
    abstract = nnx.eval_shape(lambda: build_model(config))
    flat = nnx.to_flat_state(nnx.state(abstract, nnx.Param))
    return {"/".join(map(str, path)): tuple(v.get_value().shape) for path, v in flat}


def count_params(config: EncoderConfig) -> int:
    """Total encoder parameters (embeddings, blocks, final norm, pooler)."""
    return sum(math.prod(s) for s in param_shapes(config).values())


def breakdown(config: EncoderConfig) -> list[tuple[str, int]]:
    """(group, count) rows: embeddings, per-layer attention/MLP/norms (all layers), final norm, pooler."""
    groups: dict[str, int] = {}
    for name, shape in param_shapes(config).items():
        parts = name.split("/")
        if parts[1] == "layers":
            leaf = parts[2]
            kind = "norms" if "norm" in leaf else "mlp" if leaf.startswith("mlp") else "attention"
            key = f"blocks/{kind} ({config.num_layers} layers)"
        else:
            key = "/".join(parts[1:3]) if parts[1] == "embeddings" else parts[1]
        groups[key] = groups.get(key, 0) + math.prod(shape)
    return list(groups.items())


def ladder_table() -> str:
    """Markdown table of every ladder model (plus mBERT): shape, params, published count."""
    rows = [
        "| model | layers | hidden | heads | mlp | vocab | norm | params | published | diff |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name in ("tiny", "mbert_base", *LADDER):
        c = model_config(name)
        n = count_params(c)
        pub = PUBLISHED_PARAMS.get(name)
        pub_s = f"{pub:,}" if pub else "—"
        diff = f"{100 * (n - pub) / pub:+.2f}%" if pub else "—"
        rows.append(
            f"| `{name}` | {c.num_layers} | {c.hidden_size} | {c.num_heads} | {c.mlp_dim} | {c.vocab_size:,} "
            f"| {c.norm_style}-LN | {n:,} | {pub_s} | {diff} |"
        )
    return "\n".join(rows)
