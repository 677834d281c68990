"""`xstilts-jax convert`: a local Hugging Face encoder directory → an xstilts-jax checkpoint.

The conversion itself is `xstilts_jax.checkpoints.hf_import`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from xstilts_jax.checkpoints.hf_import import convert


def main(argv: Sequence[str]) -> int:
    """CLI: `xstilts-jax convert --hf_dir DIR --out DIR [--overwrite]`."""
    parser = argparse.ArgumentParser(prog="xstilts-jax convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hf_dir", required=True, help="local Hugging Face model directory (safetensors weights)")
    parser.add_argument("--out", required=True, help="output checkpoint directory")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")
    args = parser.parse_args(argv)
    print(convert(args.hf_dir, args.out, overwrite=args.overwrite), file=sys.stdout)
    return 0
