"""Preemption notices: SIGTERM to any host makes every host stop at the same step.

Multi-process: JAX's preemption service (started by `jax.distributed.initialize`) catches
SIGTERM, tells every host, and agrees on a sync step (`reached_preemption_sync_point`, asked
the same call orbax's `PreemptionCheckpointingPolicy` makes). Single process: there is no such
service, so a SIGTERM handler sets a flag that the next step sees.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Self

import jax
from jax.experimental import multihost_utils


class PreemptionWatch:
    """Context manager; `reached(step)` is True at the step where every host must save and stop.

    Call `reached` at every step on every host (the sync protocol counts steps).
    """

    def __init__(self) -> None:
        self._signalled = False
        self._previous: Any = None

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self._signalled = True

    def __enter__(self) -> Self:
        if not jax.distributed.is_initialized() and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def reached(self, step: int) -> bool:
        """Whether training must save at `step` and stop."""
        if self._signalled:
            return True
        try:
            return multihost_utils.reached_preemption_sync_point(step)
        except RuntimeError:  # the preemption service is disabled (jax_enable_preemption_service=False)
            return False
