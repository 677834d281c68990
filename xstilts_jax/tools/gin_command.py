"""Start of every gin-configured command that runs JAX work (train, eval, run).

The gin config is parsed first because it may hold `DistributedConfig`; the process then joins
its multi-process job (`distributed.initialize_from_config`) before anything touches a JAX backend.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from xstilts_jax.distributed import initialize_from_config
from xstilts_jax.gin_utils import parse_command


def start_gin_command(prog: str, doc: str | None, argv: Sequence[str]) -> argparse.Namespace:
    """`parse_command`, then `initialize_from_config()`; returns the parsed flags."""
    args = parse_command(prog, doc, argv)
    initialize_from_config()
    return args
