"""The task records: everything the engine knows about a registered task, in one registry.

The task catalog (`tasks/`) builds one `TaskRecord` per seqio task it defines and registers
both with `register_task`, so seqio's registry and this one never disagree. A record names
the head the task trains (tasks that share a label space share a head: ANLI+ mixes ANLI,
MNLI and SNLI into one 3-way head) with its `HeadSpec`, the label kind its features use, the
label names, its default input length, its role and language, the split it is scored on and,
for retrieval tasks, how to read the queries, candidates and gold of a split. The engine
reads records and never imports the catalog or parses task names. Examples carry a stable
integer `head_id` (crc32 of the head name) so a trainer can route each example of a mixed
batch to its head.
"""

from __future__ import annotations

import dataclasses
import difflib
import zlib
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import seqio

from xstilts_jax.errors import ConfigError
from xstilts_jax.models.heads import HeadSpec

if TYPE_CHECKING:
    from xstilts_jax.evaluation.retrieval import RetrievalSplit

ROLES = ("train", "eval")
_CATALOG_HINT = "is the task catalog imported (gin files need `import tasks`)? `xstilts-jax tasks` lists it"


@dataclasses.dataclass(frozen=True)
class TaskRecord:
    """One registered task as the engine sees it.

    `label_kind` is one of "class", "choice", "tags", "tokens", "span", "pairs", "nearest",
    "ranking", "mining". `max_length` is the task's default input length (a run may override
    it). `role` is "train" (an English training task) or "eval" (eval-only, one language).
    `scoring_split` is the split its scores come from: dev when the task has it (XTREME's test
    labels are hidden), else test (XQuAD). `retrieval_reader` maps a split name to the
    split's `RetrievalSplit` (retrieval eval tasks only).
    """

    name: str
    head: str
    spec: HeadSpec
    label_kind: str
    label_names: tuple[str, ...] = ()
    max_length: int | None = None
    role: str = "train"
    language: str = "en"
    scoring_split: str = "validation"
    retrieval_reader: Callable[[str], RetrievalSplit] | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConfigError(f"Task {self.name!r}: role must be one of {ROLES}, got {self.role!r}.")


_RECORDS: dict[str, TaskRecord] = {}
# Tasks whose record needs their data (CCG's tag set comes from its files): built at each lookup
# from the data configured then (gin may bind the data directory after import).
_PENDING: dict[str, Callable[[], TaskRecord]] = {}


def head_id(head: str) -> int:
    """Stable non-negative int32 id of a head name (independent of registration order)."""
    return zlib.crc32(head.encode("utf-8")) & 0x7FFFFFFF


def _check_head(record: TaskRecord) -> None:
    """Tasks sharing a head share its spec and label order; distinct heads have distinct ids."""
    for other in _RECORDS.values():
        if other.head == record.head and (other.spec, other.label_names) != (record.spec, record.label_names):
            raise ConfigError(
                f"Head {record.head!r} of task {record.name!r} has spec {record.spec} and labels {record.label_names}, "
                f"but task {other.name!r} uses that head with spec {other.spec} and labels {other.label_names}; "
                "tasks sharing a head must share its spec and label order."
            )
        if other.head != record.head and head_id(other.head) == head_id(record.head):
            raise ConfigError(f"Head names {other.head!r} and {record.head!r} collide in head_id; rename one.")


def register_task(record: TaskRecord, task: seqio.Task) -> seqio.Task:
    """Register `task` with seqio and its record with the engine (the one way a task is added)."""
    if task.name != record.name:
        raise ConfigError(f"Task record {record.name!r} is registered with a seqio task named {task.name!r}.")
    old = _RECORDS.get(record.name)
    if old is not None and old != record:
        raise ConfigError(f"Task {record.name!r} is already registered as {old}; it cannot change to {record}.")
    _check_head(record)
    seqio.TaskRegistry.add_provider(record.name, task)
    _RECORDS[record.name] = record
    return task


def register_task_pending_record(name: str, task: seqio.Task, make_record: Callable[[], TaskRecord]) -> seqio.Task:
    """Register `task` with seqio now; its record is `make_record()` at each lookup (it may need the data)."""
    seqio.TaskRegistry.add_provider(name, task)
    _PENDING[name] = make_record
    return task


def _pending_record(name: str) -> TaskRecord:
    """The record of a pending task from the data configured now (a ConfigError if it is missing)."""
    record = _PENDING[name]()
    _check_head(record)
    return record


def pending_record_errors() -> dict[str, str]:
    """Task name -> why its record cannot be built now, for every pending task lacking its data."""
    errors = {}
    for name in _PENDING:
        try:
            _pending_record(name)
        except ConfigError as e:
            errors[name] = str(e)
    return errors


def is_registered(name: str) -> bool:
    """Whether `name` is a registered task (its record may still wait for its data)."""
    return name in _RECORDS or name in _PENDING


def get_task_record(name: str) -> TaskRecord:
    """The record of task `name`; an unknown name is a ConfigError with close matches."""
    if name in _PENDING:
        return _pending_record(name)
    if name not in _RECORDS:
        raise ConfigError(f"No task {name!r} is registered.{_did_you_mean(name, _RECORDS)} {_CATALOG_HINT} ({len(_RECORDS)} tasks).")
    return _RECORDS[name]


def registered_task_records() -> Mapping[str, TaskRecord]:
    """A copy of every registered task's record (pending ones whose data is there included)."""
    records = dict(_RECORDS)
    for name in _PENDING:
        try:
            records[name] = _pending_record(name)
        except ConfigError:
            continue  # reported by `pending_record_errors`
    return records


def heads_for(tasks: Sequence[str]) -> dict[str, HeadSpec]:
    """Head name → spec for a set of tasks (what a model needs to train or score them)."""
    return {get_task_record(t).head: get_task_record(t).spec for t in tasks}


def _did_you_mean(name: str, known: Sequence[str] | Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    return f" Did you mean {', '.join(map(repr, close))}?" if close else ""


def get_provider(name: str) -> seqio.Task | seqio.Mixture:
    """The registered seqio task or mixture `name`; an unknown name is a ConfigError with close matches."""
    if name in seqio.MixtureRegistry.names():
        return seqio.MixtureRegistry.get(name)
    if name in seqio.TaskRegistry.names():
        return seqio.TaskRegistry.get(name)
    known = sorted({*seqio.TaskRegistry.names(), *seqio.MixtureRegistry.names()})
    raise ConfigError(f"Unknown task or mixture {name!r}.{_did_you_mean(name, known)} {_CATALOG_HINT} ({len(known)} registered).")


def expand_tasks(names: Sequence[str]) -> list[str]:
    """Task names, with mixtures expanded to their tasks (order kept, no duplicates)."""
    out: list[str] = []
    for name in names:
        out += [t.name for t in seqio.get_subtasks(get_provider(name)) if t.name not in out]
    return out
