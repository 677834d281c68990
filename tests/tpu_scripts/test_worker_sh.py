"""tpu_scripts/worker.sh and startup.sh on this machine: a fake `.venv/bin/xstilts-jax` that is preempted
(exit 75) before it finishes, a fake `gcloud` that records the log copies; the startup script resumes an
unfinished run."""

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).with_name("fake_gcloud.py")


def checkout(tmp_path: Path, codes: str) -> tuple[Path, dict[str, str]]:
    """A directory laid out like the installed checkout, whose xstilts-jax exits with `codes` in turn."""
    root = tmp_path / "xstilts-jax"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / "tpu_scripts").mkdir()
    for name in ("worker.sh", "startup.sh"):
        (root / "tpu_scripts" / name).write_bytes((REPO / "tpu_scripts" / name).read_bytes())
    fake_cli = root / ".venv" / "bin" / "xstilts-jax"
    fake_cli.write_text(
        "#!/usr/bin/env bash\n"
        f"n=$(cat {tmp_path}/attempts 2>/dev/null || echo 0); echo $((n + 1)) > {tmp_path}/attempts\n"
        f"codes=({codes}); echo \"xstilts-jax $* (attempt $n, XSTILTS_DISTRIBUTED=$XSTILTS_DISTRIBUTED)\"; exit ${{codes[$n]}}\n"
    )
    fake_cli.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gcloud").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE))} "$@"\n')
    (bin_dir / "gcloud").chmod(0o755)
    home = tmp_path / "home" / "me"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_GCLOUD_DIR=str(tmp_path),
               XSTILTS_STATE_DIR=str(home / "xstilts-run"), XSTILTS_RUN_DIR="gs://bucket/run", XSTILTS_DISTRIBUTED="on",
               XSTILTS_LIBTPU_LOCKFILE=str(tmp_path / "libtpu_lockfile"))
    return root, env


def test_preempted_attempt_is_relaunched_and_logged(tmp_path):
    root, env = checkout(tmp_path, "75 0")
    (tmp_path / "libtpu_lockfile").touch()
    result = subprocess.run(["bash", "tpu_scripts/worker.sh", "run", "--gin_file=a b.gin"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    state, host = Path(env["XSTILTS_STATE_DIR"]), socket.gethostname()
    log = (state / f"{host}.log").read_text()
    assert "xstilts-jax run --gin_file=a b.gin (attempt 0, XSTILTS_DISTRIBUTED=on)" in log and "attempt 0 exited 75" in log
    assert "(attempt 1," in log and "attempt 1 exited 0" in log
    assert (state / f"{host}.exit").read_text() == "0\n" and not (state / f"{host}.pid").exists()
    assert not (tmp_path / "libtpu_lockfile").exists()
    copies = [line for line in (tmp_path / "calls.jsonl").read_text().splitlines() if '"storage", "cp"' in line]
    assert len(copies) == 2 and all("gs://bucket/run/logs/" in line for line in copies)  # after each attempt


def test_crash_is_final_and_startup_resumes_only_unfinished_runs(tmp_path):
    root, env = checkout(tmp_path, "75 0")
    env.update(XSTILTS_MAX_RELAUNCHES="0", XSTILTS_HOMES=str(tmp_path / "home"))
    result = subprocess.run(["bash", "tpu_scripts/worker.sh", "train"], cwd=root, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 75
    exit_file = Path(env["XSTILTS_STATE_DIR"]) / f"{socket.gethostname()}.exit"
    assert exit_file.read_text() == "75\n"
    clean = {k: v for k, v in env.items() if not k.startswith("XSTILTS_") or k == "XSTILTS_HOMES"}  # a reboot: only job.sh knows
    subprocess.run(["bash", str(root / "tpu_scripts" / "startup.sh")], env=clean, check=True, capture_output=True, timeout=30)
    deadline = time.time() + 20
    while (exit_file.read_text() if exit_file.exists() else "") != "0\n":
        assert time.time() < deadline, "the startup script did not resume the run"
        time.sleep(0.05)
    assert "(attempt 1, XSTILTS_DISTRIBUTED=on)" in exit_file.with_suffix(".log").read_text()
    result = subprocess.run(["bash", str(root / "tpu_scripts" / "startup.sh")], env=clean, capture_output=True, text=True, timeout=30)
    assert result.stdout == ""  # a finished run is left alone
    assert (tmp_path / "attempts").read_text() == "2\n"
