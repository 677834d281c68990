"""`xstilts-jax params`: a model's parameter breakdown, counted on abstract shapes (no memory)."""

from __future__ import annotations

import argparse
import math
from typing import Sequence

from flax import nnx

from xstilts_jax.gin_utils import add_gin_flags, split_gin_overrides
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.ladder import LADDER, PUBLISHED_PARAMS, config_from_gin, model_config, model_gin_file
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


def main(argv: Sequence[str]) -> int:
    """Print the breakdown of the model bound by the gin files, ending with `params: N`."""
    argv, bindings = split_gin_overrides(argv)
    parser = argparse.ArgumentParser(prog="xstilts-jax params", description=__doc__)
    add_gin_flags(parser)
    parser.add_argument("--model", help="a model name from gin/models/ (instead of --gin_file)")
    parser.add_argument("--ladder_table", action="store_true", help="print the README's model ladder table")
    args = parser.parse_args(argv)
    if args.ladder_table:
        print(ladder_table())
        return 0
    files = list(args.gin_file) + ([str(model_gin_file(args.model))] if args.model else [])
    if not files:
        parser.error("give --gin_file=gin/models/NAME.gin or --model=NAME")
    config = config_from_gin(files, bindings)
    print(f"model: {config.name}  ({config.norm_style}-LN, {config.num_layers} layers, hidden {config.hidden_size}, "
          f"{config.num_heads} heads, mlp {config.mlp_dim}, vocab {config.vocab_size:,})")
    total = 0
    for group, n in breakdown(config):
        total += n
        print(f"  {group:<34} {n:>18,}")
    pub = PUBLISHED_PARAMS.get(config.name)
    if pub:
        print(f"  published: {pub:,} ({100 * (total - pub) / pub:+.2f}%)")
    print(f"params: {total}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
