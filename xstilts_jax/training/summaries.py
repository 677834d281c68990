"""TensorBoard summaries (event files under the run directory) through `tf.summary`."""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np
import tensorflow as tf


class SummaryWriter:
    """Scalars and text for TensorBoard; only process 0 writes (others are no-ops)."""

    def __init__(self, logdir: str | os.PathLike, *, enabled: bool = True):
        self.enabled = enabled
        self._writer = tf.summary.create_file_writer(str(logdir)) if enabled else None

    def scalars(self, step: int, values: Mapping[str, float | np.ndarray]) -> None:
        """Write each value as a scalar named by its key (e.g. `train/loss`, `eval/xnli.de/accuracy`)."""
        if self._writer is None:
            return
        with self._writer.as_default(step=int(step)):
            for name, value in values.items():
                tf.summary.scalar(name, float(np.asarray(value)))

    def text(self, step: int, name: str, text: str) -> None:
        """Write a text summary (e.g. the gin operative config, rendered as Markdown by TensorBoard)."""
        if self._writer is None:
            return
        with self._writer.as_default(step=int(step)):
            tf.summary.text(name, text)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
