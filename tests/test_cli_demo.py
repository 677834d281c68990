"""The CLI entry point and the demo job."""

import re

import pytest

from xstilts_jax.cli import main as cli


def test_help_lists_commands(capsys):
    assert cli(["--help"]) == 0
    out = capsys.readouterr().out
    for name in ("params", "convert", "embed", "demo"):
        assert name in out


def test_unknown_command(capsys):
    assert cli(["trian"]) == 2
    assert "unknown command 'trian'" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_trains_on_the_toy_mesh(capsys):
    assert cli(["demo", "--steps=60"]) == 0
    out = capsys.readouterr().out
    assert "mesh {'data': 2, 'fsdp': 2, 'tensor': 2}" in out
    first, last = map(float, re.search(r"first 5 steps ([\d.]+) -> last 5 steps ([\d.]+)", out).groups())
    assert last < first * 0.8  # it learns the synthetic rule
    assert "P(None, 'fsdp', 'tensor')" in out


def test_demo_rejects_indivisible_batch(capsys):
    assert cli(["demo", "--batch_size=6", "--steps=1"]) == 1
    assert "Batch size 6 is not divisible" in capsys.readouterr().err
