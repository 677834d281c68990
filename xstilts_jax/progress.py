"""One progress bar per phase (training, evaluation, figures), with its rate and time left.

The first update of a phase usually includes compiling its XLA program, which takes longer than all
the steps after it. ``PhaseBar`` therefore restarts its clock after the first update: the rate and
the time left are measured on the steps that follow, and the bar's label says how long the first one
took (``train udpos (first step 7.6s)``).
"""

from __future__ import annotations

import sys

from tqdm import tqdm


class PhaseBar(tqdm):
    """A tqdm bar on stderr (tqdm's line: count, elapsed<left, rate) whose rate and time left leave
    out the first update; the rate is the mean since then (``smoothing=0``), steadier than tqdm's default."""

    def __init__(self, total: int, desc: str, unit: str, initial: int = 0, disable: bool = False) -> None:
        super().__init__(
            total=total, desc=desc, unit=unit, initial=initial, disable=disable, file=sys.stderr,
            mininterval=1.0, smoothing=0, dynamic_ncols=True,
        )
        self._label = desc
        self._warm = False

    def update(self, n: float | None = 1) -> bool | None:
        """Advance by ``n``; the first call restarts the clock (see the module docstring)."""
        if self._warm or self.disable:
            return super().update(n)
        self._warm = True
        first = self._time() - self.start_t
        self.n += n or 0
        self.initial = self.n  # tqdm's rate is (n - initial) / elapsed
        self.start_t = self.last_print_t = self._time()
        self.last_print_n = self.n
        self.set_description(f"{self._label} (first {self.unit} {first:.1f}s)", refresh=False)
        self.refresh()
        return True

