"""`xstilts-jax tasks`: every registered task, target and mixture, with the head each task trains."""

from __future__ import annotations

import argparse
import importlib
from typing import Sequence

import seqio

from xstilts_jax.data.task_records import TaskRecord, registered_task_records
from xstilts_jax.errors import ConfigError
from xstilts_jax.experiments.targets import registered_targets


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


def _head(record: TaskRecord) -> str:
    kind = record.spec.kind + (f"/{record.spec.num_labels}" if record.spec.num_labels else "")
    return f"head {record.head:<19} {kind:<17}"


def describe_tasks(unavailable: dict[str, str] | None = None) -> str:
    """The catalog as text, from the registered records: the tasks that belong to no target
    (training tasks), the targets (training task, eval languages), then the mixtures."""
    records = registered_task_records()
    targets = registered_targets()
    target_tasks = {task for target in targets.values() for task in target.eval_tasks.values()}
    lines = [f"{len(records)} tasks:"]
    for name, record in sorted(records.items()):
        if name not in target_tasks:
            lines.append(f"  {name:<16} {_head(record)} {record.role} ({record.language})")
    lines.append(f"{len(targets)} targets:")
    for name, target in sorted(targets.items()):
        head = _head(records[next(iter(target.eval_tasks.values()))])
        train = target.train_task or "-"
        lines.append(f"  {name:<16} {head} train: {train:<10} eval ({len(target.languages)}): {','.join(target.languages)}")
    mixtures = sorted(seqio.MixtureRegistry.names())
    lines.append(f"{len(mixtures)} mixtures:")
    for name in mixtures:
        tasks = [t.name for t in seqio.get_subtasks(seqio.get_mixture_or_task(name))]
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
