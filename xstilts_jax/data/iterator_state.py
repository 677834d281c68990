"""Training batches whose data position is checkpointed, so a resume does not replay the data.

Each seqio shard a host reads is one tf.data iterator. Its state (where it is in the data, the
shuffle buffer, the mixture's sampling RNG) is saved with `tf.train.Checkpoint`, as t5x and clu's
`TfDatasetIterator` do, one checkpoint per shard: `<group>/shard_<k>-of-<n>.index` and
`.data-00000-of-00001` in the step's `data_iterators/` directory. Files are named by seqio shard,
not by host, so a run resumed on another host count with the same `data_shards` finds its shards.
TensorFlow writes and reads the files on the local disk; they are copied to and from the run
directory through epath, so a `gs://` run directory works like a local one.

A restart then costs one checkpoint read, whatever the step. Two cases still replay the consumed
batches (pull them through the pipeline again, as before), each with a one-line notice:
- a checkpoint of an older version, which has no `data_iterators/` directory;
- a pipeline that tf.data cannot checkpoint (a source read through a Python generator:
  `tf.data.Dataset.from_generator`); its shards hold a `<shard>.replay` file saying why.
The graph is never changed by a resume (no `Dataset.skip`), so a replayed iterator saves and
restores like any other.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from typing import Callable, Iterator, Mapping

import numpy as np
import tensorflow as tf
from etils import epath

from xstilts_jax.errors import CheckpointError

REPLAY = ".replay"  # marks a shard whose position was not saved; holds the reason
_UNSAVEABLE = (tf.errors.UnimplementedError, tf.errors.FailedPreconditionError)


def _options() -> tf.data.Options:
    options = tf.data.Options()
    # A stateful op whose state the checkpoint would silently drop (a Python function, unseeded
    # random ops) fails the save instead, so a saved position is always an exact one.
    options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.FAIL
    return options


def replay(iterator: Iterator[object], batches: int) -> None:
    """Advance `iterator` by pulling `batches` elements (the resume path without a saved state)."""
    for _ in range(batches):
        next(iterator)


class CheckpointableBatches:
    """This host's batches of one training BatchSpec: one tf.data iterator per seqio shard it reads,
    their rows concatenated in shard order; `consumed` counts the batches handed out."""

    def __init__(self, name: str, datasets: Mapping[str, tf.data.Dataset]):
        self.name = name  # the task or layout group, for messages
        self.consumed = 0
        self._iterators = {shard: iter(ds.with_options(_options())) for shard, ds in datasets.items()}
        self._checkpoints = {shard: tf.train.Checkpoint(iterator=it) for shard, it in self._iterators.items()}
        self._unsaveable: str | None = None  # why tf.data cannot save this pipeline, once a save found out

    def __iter__(self) -> CheckpointableBatches:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        parts = [next(it) for it in self._iterators.values()]
        self.consumed += 1
        if len(parts) == 1:
            return {key: value.numpy() for key, value in parts[0].items()}
        return {key: np.concatenate([p[key].numpy() for p in parts]) for key in parts[0]}

    def save(self, directory: epath.Path) -> None:
        """Write each shard's iterator state into `directory` (or a `.replay` file naming why it cannot be saved)."""
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as local:
            for shard, checkpoint in self._checkpoints.items():
                if self._unsaveable is None:
                    try:
                        checkpoint.write(os.path.join(local, shard))
                    except _UNSAVEABLE as e:
                        self._unsaveable = _reason(e)
                        print(
                            f"note: the data position of {self.name} cannot be checkpointed ({self._unsaveable}: a source "
                            "read through a Python generator?); a resume replays its batches",
                            file=sys.stderr,
                        )
                if self._unsaveable is not None:
                    (directory / f"{shard}{REPLAY}").write_text(self._unsaveable + "\n")
            for file in sorted(os.listdir(local)):
                epath.Path(local, file).copy(directory / file, overwrite=True)

    def restore(self, directory: epath.Path | None, batches: int) -> None:
        """Continue after `batches` consumed batches: each shard from its saved state in `directory`,
        or by replay where there is none (`directory` None: a checkpoint of an older version).

        A shard without its files, or with unreadable ones, is a CheckpointError naming the file.
        """
        with tempfile.TemporaryDirectory() as local:
            for shard, iterator in self._iterators.items():
                if directory is None:
                    replay(iterator, batches)
                elif (directory / f"{shard}{REPLAY}").exists():
                    reason = (directory / f"{shard}{REPLAY}").read_text().strip()
                    print(f"note: replaying {batches} batches of {self.name} ({shard}): {reason}", file=sys.stderr)
                    replay(iterator, batches)
                else:
                    self._read(directory, shard, local)
        self.consumed = batches

    def _read(self, directory: epath.Path, shard: str, local: str) -> None:
        index = directory / f"{shard}.index"
        if not index.exists():
            raise _UnreadableState(index, "is missing (a different TrainConfig.data_shards than the run that saved it?)")
        try:
            for file in directory.glob(f"{shard}.*"):
                file.copy(epath.Path(local, file.name), overwrite=True)
            self._checkpoints[shard].read(os.path.join(local, shard)).assert_consumed()
        except (tf.errors.OpError, AssertionError, ValueError, OSError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise _UnreadableState(index, f"cannot be read ({first[:200]})") from e


def _reason(error: tf.errors.OpError) -> str:
    """tf.data's reason without TensorFlow's op decorations ("PyFunc is stateful.")."""
    text = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", error.message.strip().splitlines()[0]).strip()
    return f"tf.data: {(text or type(error).__name__).rstrip('.')}"


class _UnreadableState(Exception):
    def __init__(self, path: epath.Path, problem: str):
        super().__init__(f"{path} {problem}")
        self.path, self.problem = path, problem


def _folder(group: str) -> str:
    """A file-name-safe folder for a layout group ("xnli", "mix#choice4" → "mix-choice4")."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", group)


class GroupBatches:
    """The training batches of every layout group of a phase, opened on first use, and their data
    position (batches consumed per group), which `save` and `resume` carry across a restart."""

    def __init__(self, open_group: Callable[[str], CheckpointableBatches], position: Mapping[str, int]):
        self._open = open_group
        self._start = {group: int(n) for group, n in position.items()}
        self._groups: dict[str, CheckpointableBatches] = {}

    def batches(self, group: str) -> CheckpointableBatches:
        """The group's batches (opened fresh when it was not resumed)."""
        if group not in self._groups:
            self._groups[group] = self._open(group)
        return self._groups[group]

    def position(self) -> dict[str, int]:
        """Batches consumed per layout group."""
        return {**self._start, **{group: it.consumed for group, it in self._groups.items()}}

    def save(self, directory: epath.Path) -> None:
        """Write every opened group's iterator state under `directory` (a step's `data_iterators/`)."""
        for group, it in self._groups.items():
            it.save(directory / _folder(group))

    def resume(self, directory: epath.Path | None, step: int) -> None:
        """Open every group that had consumed batches at checkpoint `step`, at its position: from the
        iterator state in `directory`, or by replay when the checkpoint has none (an older version)."""
        started = {group: n for group, n in self._start.items() if n}
        if directory is None and started:
            print(
                f"note: checkpoint step {step} has no data iterator state (written by an older version); "
                f"replaying {sum(started.values())} batches to restore the data position",
                file=sys.stderr,
            )
        for group, n in started.items():
            it = self._open(group)
            try:
                it.restore(None if directory is None else directory / _folder(group), n)
            except _UnreadableState as e:
                raise CheckpointError(
                    f"data iterator state {e.path} {e.problem}; to resume step {step} by replaying the data delete "
                    f"{directory}, or delete {directory.parent if directory else e.path} to resume from the "
                    "previous checkpoint."
                ) from None
            self._groups[group] = it
