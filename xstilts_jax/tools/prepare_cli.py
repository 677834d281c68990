"""`xstilts-jax prepare`: download and prepare the TFDS datasets that tasks, targets or mixtures read,
and prepare the file sources that need it (a source with a `prepare()` method: CC-100's document shards).

`tfds build` needs Apache Beam even for datasets that do not; this calls each builder's
`download_and_prepare` directly, from the project's virtualenv, once per TFDS dataset."""

from __future__ import annotations

import argparse
from typing import Sequence

import seqio

from xstilts_jax.errors import ConfigError
from xstilts_jax.experiments.targets import registered_targets
from xstilts_jax.gin_utils import add_gin_flags, parse_gin, split_gin_overrides
from xstilts_jax.tools.list_tasks import import_modules


def task_names(names: Sequence[str]) -> list[str]:
    """The seqio tasks behind each name: a target (its training, dev and eval tasks), a mixture or a task."""
    targets = registered_targets()
    found: list[str] = []
    for name in names:
        if name in targets:
            target = targets[name]
            members = [t for t in (target.train_task, *target.dev_tasks, *target.eval_tasks.values()) if t]
        elif name in seqio.MixtureRegistry.names() or name in seqio.TaskRegistry.names():
            members = [t.name for t in seqio.get_subtasks(seqio.get_mixture_or_task(name))]
        else:
            raise ConfigError(f"prepare: {name!r} is no target, mixture or task; `xstilts-jax tasks` lists them.")
        found += [t for t in dict.fromkeys(members) if t not in found]
    return found


def _tfds_sources(source: object, depth: int = 3) -> list[seqio.TfdsDataSource]:
    """The TFDS sources a data source reads, also through wrappers (split restriction, files-or-TFDS)."""
    if isinstance(source, seqio.TfdsDataSource):
        return [source]
    if depth == 0 or not isinstance(source, seqio.DataSource):
        return []
    return [found for value in vars(source).values() for found in _tfds_sources(value, depth - 1)]


def tfds_datasets(tasks: Sequence[str]) -> tuple[list[str], list[str]]:
    """(TFDS dataset names the tasks read, in first-use order; tasks whose source is not TFDS)."""
    datasets: list[str] = []
    other: list[str] = []
    for name in tasks:
        found = _tfds_sources(seqio.get_mixture_or_task(name).source)
        datasets += [s.tfds_dataset.name for s in found if s.tfds_dataset.name not in datasets]
        if not found:
            other.append(name)
    return datasets, other


def prepare(dataset: str, data_dir: str | None) -> str:
    """Download and prepare one TFDS dataset (`name[/config][:version]`); returns where it lies."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(dataset, data_dir=data_dir)
    builder.download_and_prepare()
    return builder.data_dir


def main(argv: Sequence[str]) -> int:
    argv, bindings = split_gin_overrides(list(argv))
    parser = argparse.ArgumentParser(prog="xstilts-jax prepare", description=__doc__)
    parser.add_argument("names", nargs="+", help="targets, mixtures or tasks, e.g. xnli squad intermediate.all")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    parser.add_argument("--dry_run", action="store_true", help="list what would be prepared (TFDS datasets, CC-100 shards) without preparing it")
    parser.add_argument("--module_import", action="append", default=None, help="catalog module to import (default: tasks)")
    add_gin_flags(parser)  # and --gin.NAME=VALUE, e.g. --gin.cc100.directory="'/data/cc100'"
    args = parser.parse_args(argv)
    import_modules(args.module_import or ["tasks"])
    parse_gin(args.gin_file, bindings, args.gin_search_path)
    datasets, other = tfds_datasets(task_names(args.names))
    preparable = [name for name in other if callable(getattr(seqio.get_mixture_or_task(name).source, "prepare", None))]
    other = [name for name in other if name not in preparable]
    for name in preparable:
        if args.dry_run:
            print(f"would prepare {name}")
        else:
            print(f"prepared {name} in {seqio.get_mixture_or_task(name).source.prepare()}", flush=True)
    if other:
        groups: dict[str, int] = {}
        for name in other:
            groups[name.split(".")[0]] = groups.get(name.split(".")[0], 0) + 1
        shown = ", ".join(f"{g} ({n} tasks)" if n > 1 else g for g, n in groups.items())
        print(f"read from files under the data directory, not TFDS (README, Getting the real data): {shown}")
    for dataset in datasets:
        if args.dry_run:
            print(f"would prepare {dataset}")
        else:
            print(f"prepared {dataset} in {prepare(dataset, args.data_dir)}", flush=True)
    return 0
