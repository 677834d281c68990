"""An orbax checkpoint item that every host writes itself: files only that host can produce.

The data iterators are the case: each host reads its own seqio shards, so each host saves its own
iterator state (t5x saves a tf.data iterator checkpoint per host the same way). The item lives in
the step directory like the others, so it is finalized, kept and deleted with the step. The save
runs in orbax's blocking phase, before `CheckpointManager.save` returns, so it records the data
position of the step being saved even when the arrays are written asynchronously.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import orbax.checkpoint as ocp
from etils import epath


class HostFilesHandler(ocp.CheckpointHandler):
    """Calls the host's writer with the item directory (on every host, not only the primary one)."""

    def save(self, directory: epath.Path, args: HostFilesSave) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        args.write(directory)

    def restore(self, directory: epath.Path, args: HostFilesRestore | None = None) -> epath.Path:
        """The item directory; the host's reader opens its own files there."""
        return directory

    def metadata(self, directory: epath.Path) -> None:
        return None


@ocp.args.register_with_handler(HostFilesHandler, for_save=True)
@dataclasses.dataclass
class HostFilesSave(ocp.args.CheckpointArgs):
    """`write(directory)` writes this host's files into the step's item directory."""

    write: Callable[[epath.Path], None]


@ocp.args.register_with_handler(HostFilesHandler, for_restore=True)
@dataclasses.dataclass
class HostFilesRestore(ocp.args.CheckpointArgs):
    """Restore args of the item (none needed)."""
