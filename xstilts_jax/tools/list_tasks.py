"""`xstilts-jax tasks`: every registered task and mixture, with the head each task trains."""

from __future__ import annotations

import argparse
import importlib
from collections import defaultdict
from typing import Sequence

import seqio

from xstilts_jax.data.task_heads import registered_task_heads
from xstilts_jax.errors import ConfigError


def import_modules(names: Sequence[str]) -> dict[str, str]:
    """Import task-catalog modules (they register tasks on import).

    Returns the tasks the modules could not register, with why: a catalog module may
    expose them as a mapping `UNAVAILABLE` (task name -> reason).
    """
    unavailable: dict[str, str] = {}
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            raise ConfigError(f"--module_import={name}: cannot import it ({e}).") from e
        unavailable.update(getattr(module, "UNAVAILABLE", {}))
    return unavailable


def describe_tasks(unavailable: dict[str, str] | None = None) -> str:
    """The catalog as text: tasks grouped by family (`<family>` / `<family>.<lang>`), then mixtures."""
    heads = registered_task_heads()
    families: dict[str, list[str]] = defaultdict(list)
    for name in sorted(heads):
        families[name.split(".")[0]].append(name)
    lines = [f"{len(heads)} tasks:"]
    for family, names in sorted(families.items()):
        head = heads[names[0]]
        langs = [n.split(".", 1)[1] for n in names if "." in n]
        train = [n for n in names if "." not in n]
        kind = f"{head.spec.kind}" + (f"/{head.spec.num_labels}" if head.spec.num_labels else "")
        desc = f"  {family:<16} head {head.head:<14} {kind:<18}"
        if train:
            desc += " train: " + ", ".join(train)
        if langs:
            desc += f"  eval ({len(langs)}): {family}.{{{','.join(langs)}}}"
        lines.append(desc)
    mixtures = sorted(seqio.MixtureRegistry.names())
    lines.append(f"{len(mixtures)} mixtures:")
    for name in mixtures:
        tasks = [t.name for t in seqio.get_mixture_or_task(name).tasks]
        shown = ", ".join(tasks) if len(tasks) <= 6 else ", ".join(tasks[:5]) + f", ... ({len(tasks)} tasks)"
        lines.append(f"  {name:<26} {shown}")
    for name, reason in sorted((unavailable or {}).items()):
        lines.append(f"unavailable: {name}: {reason}")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    """Import the catalog and print it."""
    parser = argparse.ArgumentParser(prog="xstilts-jax tasks", description=__doc__)
    parser.add_argument(
        "--module_import", action="append", default=None, help="catalog module to import (default: tasks)"
    )
    args = parser.parse_args(argv)
    unavailable = import_modules(args.module_import or ["tasks"])
    print(describe_tasks(unavailable))
    return 0
