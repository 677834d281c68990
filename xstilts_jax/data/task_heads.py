"""Which model head each task trains and is scored with.

The task catalog (`tasks/`) registers, for every seqio task it defines, the head the
task needs (`HeadSpec`), the head's name (tasks that share a label space share a
head: ANLI+ mixes ANLI, MNLI and SNLI into one 3-way head), the label names, and how
outputs are decoded. The engine reads this registry and never imports the catalog.
Examples carry a stable integer `head_id` (crc32 of the head name) so a trainer can
route each example of a mixed batch to its head.
"""

from __future__ import annotations

import dataclasses
import difflib
import zlib
from typing import Mapping

import seqio

from xstilts_jax.errors import ConfigError
from xstilts_jax.models.heads import HeadSpec


@dataclasses.dataclass(frozen=True)
class TaskHead:
    """A task's head: name, spec, label names, the label kind its features use, and the
    task's default input length (a run may override it)."""

    head: str
    spec: HeadSpec
    label_kind: str  # "class" | "choice" | "tags" | "tokens" | "span" | "pairs" | "nearest" | "ranking" | "mining"
    label_names: tuple[str, ...] = ()
    max_length: int | None = None


_TASK_HEADS: dict[str, TaskHead] = {}


def head_id(head: str) -> int:
    """Stable non-negative int32 id of a head name (independent of registration order)."""
    return zlib.crc32(head.encode("utf-8")) & 0x7FFFFFFF


def register_task_head(task: str, task_head: TaskHead) -> None:
    """Record the head of `task`; re-registering the same task with a different head is an error."""
    old = _TASK_HEADS.get(task)
    if old is not None and old != task_head:
        raise ConfigError(f"Task {task!r} is already registered with head {old}; it cannot change to {task_head}.")
    for other_task, other in _TASK_HEADS.items():
        if other.head == task_head.head and (other.spec, other.label_names) != (task_head.spec, task_head.label_names):
            raise ConfigError(
                f"Head {task_head.head!r} of task {task!r} has spec {task_head.spec} and labels {task_head.label_names}, "
                f"but task {other_task!r} uses that head with spec {other.spec} and labels {other.label_names}; "
                "tasks sharing a head must share its spec and label order."
            )
        if other.head != task_head.head and head_id(other.head) == head_id(task_head.head):
            raise ConfigError(f"Head names {other.head!r} and {task_head.head!r} collide in head_id; rename one.")
    _TASK_HEADS[task] = task_head


def get_task_head(task: str) -> TaskHead:
    """The head registered for `task` (import the task catalog first, e.g. `--module_import=tasks`)."""
    if task not in _TASK_HEADS:
        raise ConfigError(
            f"No head registered for task {task!r}; is the task catalog imported (--module_import=tasks)? "
            f"Registered tasks: {len(_TASK_HEADS)}."
        )
    return _TASK_HEADS[task]


def heads_for(tasks: list[str] | tuple[str, ...]) -> dict[str, HeadSpec]:
    """Head name → spec for a set of tasks (what a model needs to train or score them)."""
    return {get_task_head(t).head: get_task_head(t).spec for t in tasks}


def registered_task_heads() -> Mapping[str, TaskHead]:
    """A read-only view of every registered task's head."""
    return dict(_TASK_HEADS)


def get_provider(name: str) -> seqio.Task | seqio.Mixture:
    """The registered seqio task or mixture `name`; an unknown name is a ConfigError with close matches."""
    if name in seqio.MixtureRegistry.names():
        return seqio.MixtureRegistry.get(name)
    if name in seqio.TaskRegistry.names():
        return seqio.TaskRegistry.get(name)
    known = sorted({*seqio.TaskRegistry.names(), *seqio.MixtureRegistry.names()})
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ConfigError(
        f"Unknown task or mixture {name!r}.{hint} `xstilts-jax tasks` lists the catalog ({len(known)} registered; "
        "gin files need `import tasks`)."
    )
