"""A preempted command exits 75 (EX_TEMPFAIL), so `train && next` stops and a relaunch loop reruns it."""

from xstilts_jax import cli
from xstilts_jax.errors import Preempted


def test_preempted_command_exits_75_and_says_where_it_stopped(monkeypatch, capsys):
    def preempted(argv):
        raise Preempted(12, "gs://bucket/run/checkpoints/12")

    monkeypatch.setattr(cli, "_load", lambda target, quiet=True: preempted)
    assert cli.main(["train", "--gin_file=x.gin"]) == Preempted.EXIT_CODE == 75
    assert "xstilts-jax train: preempted at step 12; saved; rerun to resume" in capsys.readouterr().out
    monkeypatch.setattr(cli, "_load", lambda target, quiet=True: lambda argv: 0)
    assert cli.main(["train"]) == 0  # a finished run still exits 0
