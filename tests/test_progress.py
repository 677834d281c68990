"""The phase progress bar: rate and time left, measured after the first (compiling) update."""

import re

from xstilts_jax.progress import PhaseBar


class Clock:
    """A settable clock for tqdm (it reads `tqdm.std.time`)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _last_line(err: str) -> str:
    return [line for line in re.split(r"[\r\n]", err) if line.strip()][-1]


def test_rate_and_time_left_leave_out_the_first_step(monkeypatch, capsys):
    clock = Clock()
    monkeypatch.setattr("tqdm.std.time", clock)
    with PhaseBar(total=10, desc="train udpos", unit="step") as bar:
        clock.now += 30.0  # the first step compiles
        bar.update()
        for _ in range(4):
            clock.now += 0.5  # then 2 steps/s
            bar.update()
        bar.refresh()
        line = _last_line(capsys.readouterr().err)
    assert line.startswith("train udpos (first step 30.0s):  50%")
    assert "5/10" in line
    # 4 steps in 2 s after the first: 2 step/s, 5 steps left = 2.5 s (tqdm prints 00:02);
    # counting the compile would have said 0.16 step/s and half a minute left.
    assert re.search(r"\[00:02<00:02,\s+2\.00step/s\]", line), line


def test_a_resumed_phase_counts_from_where_it_stopped(monkeypatch, capsys):
    clock = Clock()
    monkeypatch.setattr("tqdm.std.time", clock)
    with PhaseBar(total=40, desc="train mlm", unit="step", initial=30) as bar:
        clock.now += 5.0
        bar.update()
        clock.now += 1.0
        bar.update()
        bar.refresh()
        line = _last_line(capsys.readouterr().err)
    assert "32/40" in line and re.search(r"1\.00step/s", line), line


def test_a_disabled_bar_prints_nothing(capsys):
    with PhaseBar(total=1, desc="eval", unit="task", disable=True) as bar:
        bar.update()
    assert capsys.readouterr().err == ""
