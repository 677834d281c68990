"""t5x-style gin flags: `--gin_file=PATH` (repeatable) and `--gin.NAME=VALUE` overrides."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

import gin

from xstilts_jax.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def add_gin_flags(parser: argparse.ArgumentParser) -> None:
    """Add `--gin_file` and `--gin_search_path`; `--gin.X=V` are collected by `split_gin_overrides`."""
    parser.add_argument("--gin_file", action="append", default=[], help="gin file (repeatable)")
    parser.add_argument(
        "--gin_search_path", action="append", default=[], help="extra directory to resolve gin files and includes"
    )


def split_gin_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate `--gin.NAME=VALUE` flags (returned as gin bindings) from the other arguments."""
    rest, bindings = [], []
    for arg in argv:
        if arg.startswith("--gin.") and "=" in arg:
            name, value = arg[len("--gin.") :].split("=", 1)
            bindings.append(f"{name} = {value}")
        else:
            rest.append(arg)
    return rest, bindings


def parse_gin(files: Sequence[str], bindings: Sequence[str] = (), search_paths: Sequence[str] = ()) -> None:
    """Parse gin files and bindings; relative paths resolve against the CWD, then the repo root."""
    for path in [os.getcwd(), str(REPO_ROOT), *search_paths]:
        gin.add_config_file_search_path(path)
    for f in files:
        if not any((Path(p) / f).exists() for p in [os.getcwd(), str(REPO_ROOT), *search_paths]) and not Path(f).exists():
            raise ConfigError(f"gin file {f!r} not found (looked in the current directory and {REPO_ROOT}).")
    try:
        gin.parse_config_files_and_bindings(list(files), list(bindings), finalize_config=False)
    except (ValueError, KeyError, SyntaxError) as e:
        raise ConfigError(f"gin configuration error: {e}") from e


def require_bound(value: object, binding: str, example: str) -> None:
    """A ConfigError when a gin value is missing: empty, or still `%gin.REQUIRED` from a run file's macro."""
    if value is gin.REQUIRED or value in ("", None):
        raise ConfigError(f"{binding} is not set; bind it, e.g. {example}.")


def parse_command(prog: str, doc: str | None, argv: Sequence[str]) -> argparse.Namespace:
    """A gin-configured command's flags: `--gin_file` (at least one) and `--gin.X=V`; parses the gin
    config on top of the current one (`cli.main` starts every command from an empty one)."""
    argv, bindings = split_gin_overrides(argv)
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_gin_flags(parser)
    args = parser.parse_args(argv)
    if not args.gin_file:
        parser.error("give at least one --gin_file (a model gin and a run or experiment gin)")
    parse_gin(args.gin_file, bindings, args.gin_search_path)
    return args
