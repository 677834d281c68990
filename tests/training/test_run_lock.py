"""One writer per run directory: a held lock names its holder; a stale one is explained and taken over."""

import json
import os
import socket

import pytest

from xstilts_jax.errors import ConfigError
from xstilts_jax.training.run_lock import LOCK, RunLock


def _dead_pid() -> int:
    """A process id above the kernel's limit: no process can have it."""
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read()) + 1


def test_a_second_run_into_a_locked_directory_names_the_holder(tmp_path):
    with RunLock(tmp_path):
        holder = json.loads((tmp_path / LOCK).read_text())
        assert holder["host"] == socket.gethostname() and holder["pid"] == os.getpid()
        with pytest.raises(ConfigError, match=rf"{tmp_path} is in use by process {os.getpid()} on this host"):
            with RunLock(tmp_path):
                pass
        assert (tmp_path / LOCK).is_file()  # the refused run did not remove the holder's lock
    assert not (tmp_path / LOCK).exists()


def test_a_stale_lock_is_explained_and_taken_over(tmp_path, capsys):
    pid = _dead_pid()
    (tmp_path / LOCK).write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "since": "2026-12-05 10:00:00"}))
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    err = capsys.readouterr().err
    assert f"left by process {pid}" in err and "no longer running" in err


def test_a_lock_of_another_host_is_refused(tmp_path):
    (tmp_path / LOCK).write_text(json.dumps({"host": "pod-worker-7", "pid": 12, "since": "2026-12-05 10:00:00"}))
    with pytest.raises(ConfigError, match=rf"process 12 on host pod-worker-7 .*delete {tmp_path / LOCK}"):
        with RunLock(tmp_path):
            pass
    (tmp_path / LOCK).write_text("{half a lock")
    with pytest.raises(ConfigError, match="cannot be read"):
        with RunLock(tmp_path):
            pass
