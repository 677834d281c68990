"""TensorBoard summaries (event files under the run directory) through `tf.summary`.

A `gs://` log directory is written locally and uploaded through epath (`storage.py`) at most every
`sync_seconds` and on `flush`/`close`: the same code path on a disk, on GCS and against the tests'
emulator (TensorFlow's own GCS client cannot be pointed at an emulator). TensorBoard reads the
uploaded event files from the bucket as usual.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import tensorflow as tf

from xstilts_jax.storage import as_path, is_remote, upload


class SummaryWriter:
    """Scalars and text for TensorBoard; only process 0 writes (others are no-ops)."""

    def __init__(self, logdir: str | os.PathLike, *, enabled: bool = True, sync_seconds: float = 60.0):
        self.enabled = enabled
        self._remote = as_path(logdir) if enabled and is_remote(logdir) else None
        self._local = tempfile.mkdtemp(prefix="tensorboard-") if self._remote is not None else str(logdir)
        self._sync_seconds, self._synced = sync_seconds, time.monotonic()
        self._writer = tf.summary.create_file_writer(self._local) if enabled else None

    def scalars(self, step: int, values: Mapping[str, float | np.ndarray]) -> None:
        """Write each value as a scalar named by its key (e.g. `train/loss`, `eval/xnli.de/accuracy`)."""
        if self._writer is None:
            return
        with self._writer.as_default(step=int(step)):
            for name, value in values.items():
                tf.summary.scalar(name, float(np.asarray(value)))
        self._maybe_sync()

    def text(self, step: int, name: str, text: str) -> None:
        """Write a text summary (e.g. the gin operative config, rendered as Markdown by TensorBoard)."""
        if self._writer is None:
            return
        with self._writer.as_default(step=int(step)):
            tf.summary.text(name, text)
        self._maybe_sync()

    def _maybe_sync(self) -> None:
        if self._remote is not None and time.monotonic() - self._synced >= self._sync_seconds:
            self.flush()

    def flush(self) -> None:
        """Write buffered events (and upload them, for a gs:// log directory)."""
        if self._writer is None:
            return
        self._writer.flush()
        if self._remote is not None:
            for path in Path(self._local).rglob("*"):
                if path.is_file():
                    upload(path, self._remote / str(path.relative_to(self._local)))
            self._synced = time.monotonic()

    def close(self) -> None:
        """Flush and close; a gs:// log directory's local staging copy is removed."""
        if self._writer is not None:
            self.flush()
            self._writer.close()
            self._writer = None
            if self._remote is not None:
                shutil.rmtree(self._local, ignore_errors=True)
