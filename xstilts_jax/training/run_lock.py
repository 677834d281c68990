"""One writer per run directory: a `LOCK` file naming the holder's host and process id.

A second run into the same directory (the same grid started twice, a rerun while the first is
still going) stops with a message naming the holder instead of racing it for the checkpoints.
A lock left by a process of this host that no longer runs (a crash, kill -9) is stale: it is
explained and taken over. A lock from another host cannot be checked from here and is refused.
Only the first host of a multi-host job takes the lock; the others write where it tells them.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import jax

from xstilts_jax.errors import ConfigError
from xstilts_jax.storage import as_path, create_exclusive

LOCK = "LOCK"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class RunLock:
    """Context manager holding `directory/LOCK` while a run writes into `directory`."""

    def __init__(self, directory: str | Path):
        self.path = as_path(directory) / LOCK  # a local path or gs:// (created with a GCS precondition)
        self._held = False

    def __enter__(self) -> RunLock:
        if jax.process_index() != 0:
            return self
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):
            if not create_exclusive(self.path, json.dumps(holder)):
                self._take_over_if_stale()
                continue
            self._held = True
            return self
        raise ConfigError(f"could not take the lock {self.path}; another run keeps taking it. Rerun when it has finished.")

    def _take_over_if_stale(self) -> None:
        """Remove a stale lock (its process, on this host, is gone), explaining it; otherwise refuse."""
        try:
            holder = json.loads(self.path.read_text())
            host, pid, since = str(holder["host"]), int(holder["pid"]), holder.get("since", "?")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(
                f"{self.path} exists but cannot be read ({e}); if no run is writing into {self.path.parent}, "
                "delete it and rerun."
            ) from e
        if host == socket.gethostname() and not _alive(pid):
            print(
                f"warning: {self.path} was left by process {pid} on {host} (since {since}), which is no longer "
                "running (crashed or killed); taking the lock over and resuming.",
                file=sys.stderr,
            )
            self.path.unlink(missing_ok=True)
            return
        where = "this host" if host == socket.gethostname() else f"host {host}"
        raise ConfigError(
            f"run directory {self.path.parent} is in use by process {pid} on {where} (since {since}); wait for it "
            f"to finish or stop it. If that process no longer runs, delete {self.path} and rerun."
        )

    def __exit__(self, *exc: object) -> None:
        if self._held:
            self.path.unlink(missing_ok=True)
            self._held = False
