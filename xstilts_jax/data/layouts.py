"""Splitting a mixture into groups of tasks that share one batch layout.

Tasks of different label kinds (pairs, choices, tags) or different numbers of choices have
different feature shapes, so one batch cannot hold them. A mixture over several layouts is
trained as one derived mixture per layout ("<mixture>#<layout>", registered on first use with
the parent's rates); the trainer picks one group per step with probability proportional to the
group's share of the mixture rate.
"""

from __future__ import annotations

import dataclasses

import seqio

from xstilts_jax.data.label_kinds import get_label_kind
from xstilts_jax.data.task_records import get_provider, get_task_record


@dataclasses.dataclass(frozen=True)
class LayoutGroup:
    """A task or derived mixture whose examples share one layout, and its sampling weight."""

    name: str
    layout: str
    weight: float


def layout_of(task: str) -> str:
    """A task's batch layout: its label kind, with the number of rows where it has one row per label
    name (the choices of a choice task: "choice4")."""
    info = get_task_record(task)
    return f"{info.label_kind}{len(info.label_names)}" if get_label_kind(info.label_kind).row_per_label else info.label_kind


def layout_groups(task_or_mixture: str) -> list[LayoutGroup]:
    """One group per batch layout of `task_or_mixture` (just itself when it has one layout)."""
    provider = get_provider(task_or_mixture)
    by_layout: dict[str, list[seqio.Task]] = {}
    for task in seqio.get_subtasks(provider):
        by_layout.setdefault(layout_of(task.name), []).append(task)
    if len(by_layout) == 1:
        return [LayoutGroup(task_or_mixture, next(iter(by_layout)), 1.0)]
    groups = []
    total = provider.total_rate
    for layout, members in sorted(by_layout.items()):
        name = f"{task_or_mixture}#{layout}"
        rates = [(t.name, provider.get_rate(t)) for t in members]
        if name not in seqio.MixtureRegistry.names():
            seqio.MixtureRegistry.add(name, rates)
        groups.append(LayoutGroup(name, layout, sum(rate for _, rate in rates) / total))
    return groups
