"""A results database on a bucket (`gs://.../results.sqlite`): SQLite needs a local file, so the
database is staged.

A writer takes `<db>.LOCK` on the bucket (an exclusive create, `storage.create_exclusive`), downloads
the database, writes it locally, uploads it whole (one object upload: readers see the old database
or the new one) and releases the lock. Writers on several pods therefore queue, and each starts
from the previous one's upload: no row is lost. A reader downloads a copy and never takes the lock.
A lock older than `stale_after` seconds (a writer that died) is explained and broken.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from xstilts_jax.experiments.results.records import ResultsError
from xstilts_jax.storage import as_path, create_exclusive, upload


class StagedDatabase:
    """The local copy of a bucket database; `publish()` uploads it, `release()` drops the lock and the copy."""

    def __init__(self, remote: str, *, write: bool, timeout: float, stale_after: float = 600.0):
        self.remote = as_path(remote)
        self.lock = self.remote.parent / f"{self.remote.name}.LOCK"
        self._dir = tempfile.mkdtemp(prefix="results-")
        self.local = Path(self._dir) / self.remote.name
        self._locked = False
        if write:
            self._take_lock(timeout, stale_after)
        try:
            if self.remote.exists():
                shutil.copyfile(_download(self.remote, self._dir), self.local)
        except BaseException:
            self.release()
            raise

    def _take_lock(self, timeout: float, stale_after: float) -> None:
        holder = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()})
        deadline = time.monotonic() + timeout
        while not create_exclusive(self.lock, holder):
            try:
                since = float(json.loads(self.lock.read_text())["since"])
            except (FileNotFoundError, ValueError, KeyError, TypeError):
                since = time.time()  # released or being written meanwhile: try again
            if time.time() - since > stale_after:
                print(f"warning: breaking the lock {self.lock}, held for {time.time() - since:.0f} s", file=sys.stderr)
                self.lock.unlink(missing_ok=True)
                continue
            if time.monotonic() > deadline:
                raise ResultsError(
                    f"{self.remote}: another writer holds {self.lock} (for over {timeout:.0f} s); rerun when it has "
                    f"finished, or delete {self.lock} if no run is recording"
                )
            time.sleep(0.2)
        self._locked = True

    def publish(self) -> None:
        """Upload the local database to the bucket (whole, in one object write)."""
        upload(self.local, self.remote)

    def release(self) -> None:
        """Drop the lock (if held) and the local copy."""
        if self._locked:
            self.lock.unlink(missing_ok=True)
            self._locked = False
        shutil.rmtree(self._dir, ignore_errors=True)


def _download(remote, directory: str) -> str:
    target = os.path.join(directory, f".download-{remote.name}")
    with remote.open("rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target
