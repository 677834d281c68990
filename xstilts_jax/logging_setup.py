"""A quiet console: library messages that tell the user nothing are dropped, real warnings kept.

``NOISE`` is the one list of such messages. ``quiet_libraries()`` (the CLI calls it before a command
runs) drops Python log records that match it from the loggers of absl (which orbax and seqio log
through), TensorFlow and JAX. ``quiet_native_stderr()`` does the same for what C++ code writes
straight to file descriptor 2 while TensorFlow loads and probes for a GPU on a CPU machine: it
captures the descriptor for the duration of a block and replays every line that is not noise.
Anything not on the list, at any level, still reaches the console.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from typing import Iterator

# One pattern per message, with where it comes from and why it tells the user nothing.
NOISE: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        r"Given directory is read only",  # orbax, opening a finished phase's checkpoints to read them
        r"Using an uncached FunctionDataset",  # seqio, on every task read from files; the data position is checkpointed
        r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",  # TF C++ logging start-up
        r"cudart_stub\.cc.*Could not find cuda drivers",  # TF's CUDA stub on a machine without a GPU
        r"failed call to cuInit",  # TF's first device probe on a machine without a GPU
        r"cpu_feature_guard\.cc.*This TensorFlow binary is optimized",  # TF build notice (two lines)
        r"^To enable the following instructions: .* rebuild TensorFlow",
    )
)
# The Python loggers whose records are screened (records of child loggers propagate to handlers, not
# through these loggers' filters, so each library's own logger is named).
QUIET_LOGGERS = ("absl", "tensorflow", "jax", "orbax")


def is_noise(message: str) -> bool:
    """Whether ``message`` is one of the known library messages that tell the user nothing."""
    return any(pattern.search(message) for pattern in NOISE)


class NoiseFilter(logging.Filter):
    """Drops log records whose message is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not is_noise(record.getMessage())


_FILTER = NoiseFilter()


def quiet_libraries() -> None:
    """Drop noise records from the libraries' loggers (idempotent)."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Capture file descriptor 2 (C++ and Python writes alike) for the block, then replay every line
    that is not noise, also when the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_quietly(module: str) -> object:
    """Import ``module`` with native start-up noise filtered; if that loaded TensorFlow, probe its
    devices now, so its one-time CUDA messages fall inside the filter too."""
    import importlib

    with quiet_native_stderr():
        loaded = importlib.import_module(module)
        tensorflow = sys.modules.get("tensorflow")
        if tensorflow is not None:
            tensorflow.config.list_physical_devices("GPU")
    return loaded
