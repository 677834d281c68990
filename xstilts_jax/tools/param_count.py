"""`xstilts-jax params`: a model's parameter breakdown, counted on abstract shapes (no memory)."""

from __future__ import annotations

import argparse
from typing import Sequence

from xstilts_jax.gin_utils import add_gin_flags, split_gin_overrides
from xstilts_jax.models.ladder import PUBLISHED_PARAMS, config_from_gin, model_gin_file
from xstilts_jax.models.param_count import breakdown, ladder_table


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
