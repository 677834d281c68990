"""t5x-style gin flags: `--gin_file=PATH` (repeatable) and `--gin.NAME=VALUE` overrides."""

from __future__ import annotations

import argparse
import collections.abc
import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Sequence

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
    except (OSError, TypeError) as e:  # an `include` of a file that does not exist (gin raises either)
        where = [line.strip() for line in str(e).splitlines() if line.strip().startswith(("In file", "include"))]
        if isinstance(e, TypeError) and not where:
            raise
        raise ConfigError(
            f"gin include not found: {' '.join(where) or _first_lines(e)} (searched {os.getcwd()}, {REPO_ROOT}"
            f"{''.join(', ' + p for p in search_paths)}); fix the path or add --gin_search_path."
        ) from e
    except (ValueError, KeyError, SyntaxError) as e:
        hint = ""
        if "Failed to parse token" in str(e):
            hint = " A string value needs quotes, e.g. --gin.TASK=\"'socialiqa'\" or TASK = 'socialiqa' in a gin file."
        raise ConfigError(f"gin configuration error: {_first_lines(e)}.{hint}") from e
    check_bound_types()


def _first_lines(error: Exception) -> str:
    """gin's message on one line (it appends the file, line and source on further lines)."""
    return " ".join(line.strip() for line in str(error).splitlines() if line.strip())


def _macro_value(value: Any, depth: int = 0) -> Any:
    """The value a `%MACRO` reference stands for (followed through macros of macros); other values unchanged."""
    if isinstance(value, gin.config.ConfigurableReference) and value.configurable.selector == "gin.macro" and depth < 10:
        scope = value.scoped_selector.rpartition("/")[0]
        bound = gin.config._CONFIG.get((scope, value.configurable.selector), {})  # noqa: SLF001 - gin has no public query by key
        if "value" in bound:
            return _macro_value(bound["value"], depth + 1)
    return value


def check_bound_types() -> None:
    """A ConfigError for a gin value bound to a dataclass field that does not fit the field's annotation
    (`steps = 'ten'`, `batch_size = 8.0`), before anything is built or written."""
    for (scope, selector), params in gin.config._CONFIG.items():  # noqa: SLF001 - no public iterator over bindings
        configurable = gin.config._REGISTRY.get_match(selector)  # noqa: SLF001
        if configurable is None or not dataclasses.is_dataclass(configurable.wrapped):
            continue
        hints = typing.get_type_hints(configurable.wrapped)
        for name, raw in params.items():
            value = _macro_value(raw)
            if name in hints and not _fits(value, hints[name]):
                where = f"{scope}/{configurable.name}" if scope else configurable.name
                raise ConfigError(
                    f"gin binding {where}.{name} = {value!r} is a {type(value).__name__}, but {configurable.name}.{name} "
                    f"takes {_type_name(hints[name])}; fix the gin file or --gin flag that sets it."
                )


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is None and hasattr(annotation, "__name__"):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "")


def _fits(value: Any, annotation: Any) -> bool:
    """Whether a parsed gin value fits a type annotation; references, macros and types this check
    does not know are accepted (they are checked where they are used)."""
    if isinstance(value, gin.config.ConfigurableReference) or value is gin.REQUIRED or annotation is Any:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        item = args[0] if args and (origin is not tuple or (len(args) == 2 and args[1] is Ellipsis)) else Any
        return all(_fits(v, item) for v in value)
    return True


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
