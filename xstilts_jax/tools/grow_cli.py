"""`xstilts-jax grow`: initialize a larger rung from a checkpoint of the rung below (function-preserving growth).

    xstilts-jax grow --from checkpoints/encoder_30b --to gin/models/encoder_60b.gin --out checkpoints/encoder_60b_grown \\
        [--from_gin gin/models/encoder_30b.gin] [--new_units zero|duplicate] [--allow_approximate] [--seed 0] [--overwrite]

`--from` is a pretrained checkpoint directory (its config.json names the shape) or a run's checkpoint
directory or step (then `--from_gin` names its shape). The encoder and the MLM head are grown (a source
without an MLM head gives a fresh one) and written as a pretrained directory that the MLM phase
continues from (`Experiment.pretrained`, or `Grid.pretrained`). What is preserved exactly and what only
approximately is printed first (`xstilts_jax/models/grow.py`). Growth runs on the host in numpy: it needs
host memory for both models in fp32 (30B → 60B: about 360 GB).
"""

from __future__ import annotations

import argparse
import os
from typing import Sequence

import gin
import jax
import numpy as np

from xstilts_jax.checkpoints.params import flat, unflat
from xstilts_jax.checkpoints.pretrained import CONFIG_FILE, load_config, save_pretrained
from xstilts_jax.checkpoints.run import load_encoder_from
from xstilts_jax.errors import ConfigError
from xstilts_jax.gin_utils import parse_gin
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.grow import NEW_UNITS, check_growable, grow_params
from xstilts_jax.models.heads import HeadSpec
from xstilts_jax.models.model import build_model
from xstilts_jax.training.train_state import split_model


def _config_from_gin(path: str) -> EncoderConfig:
    gin.clear_config()
    parse_gin([path])
    config = EncoderConfig()
    gin.clear_config()
    return config


def grow_checkpoint(
    source: str, to_gin: str, out: str, *, from_gin: str | None = None, new_units: str = "zero",
    allow_approximate: bool = False, seed: int = 0, overwrite: bool = False,
) -> list[str]:
    """Grow checkpoint `source` into the shape of `to_gin` and write it to `out`; returns what is preserved."""
    pretrained = os.path.isfile(os.path.join(source, CONFIG_FILE))
    if pretrained:
        small = load_config(source)
    elif from_gin is None:
        raise ConfigError(f"{source} has no {CONFIG_FILE}; name its model shape with --from_gin=gin/models/NAME.gin.")
    else:
        small = _config_from_gin(from_gin)
    big = _config_from_gin(to_gin)
    notes = check_growable(small, big, allow_approximate)
    model = load_encoder_from(source, build_model(small, {"mlm": HeadSpec("mlm")}, seed=seed))
    params = {k: np.asarray(jax.device_get(v)) for k, v in flat(split_model(model)[1]).items()}
    del model
    grown = grow_params(params, small, big, new_units=new_units, allow_approximate=allow_approximate, seed=seed)
    save_pretrained(out, big, unflat(grown), source if pretrained else None, overwrite=overwrite)
    return notes


def main(argv: Sequence[str]) -> int:
    """CLI: grow a checkpoint into a larger rung's shape."""
    parser = argparse.ArgumentParser(prog="xstilts-jax grow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, help="checkpoint of the smaller rung")
    parser.add_argument("--to", required=True, help="gin file of the larger rung, e.g. gin/models/encoder_60b.gin")
    parser.add_argument("--out", required=True, help="output pretrained checkpoint directory")
    parser.add_argument("--from_gin", help="gin file of the smaller rung, when --from is a run checkpoint")
    parser.add_argument("--new_units", choices=NEW_UNITS, default="zero", help="new heads / MLP units: zero output weights, or copies")
    parser.add_argument("--allow_approximate", action="store_true", help="grow hidden_size by a non-integer factor (LayerNorm only approximately preserved)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new units' input weights")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    args = parser.parse_args(argv)
    notes = grow_checkpoint(
        args.source, args.to, args.out, from_gin=args.from_gin, new_units=args.new_units,
        allow_approximate=args.allow_approximate, seed=args.seed, overwrite=args.overwrite,
    )
    for note in notes:
        print(f"  {note}")
    print(f"grown checkpoint written to {args.out}")
    return 0
