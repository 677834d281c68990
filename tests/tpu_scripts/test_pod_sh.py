"""tpu_scripts/pod.sh: shellcheck-clean, and its dry runs print the gcloud commands each step needs."""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tpu_scripts" / "pod.sh"
BASE = ["--project=proj", "--zone=us-east5-a", "--accelerator_type=v5p-256", "--run_dir=gs://bucket/runs",
        "--repo=https://example.org/xstilts-jax.git", "--name=xs"]


def pod(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def commands(out: str) -> list[list[str]]:
    return [shlex.split(line) for line in out.strip().splitlines()]


def flag(words: list[str], name: str) -> str:
    return next(w.split("=", 1)[1] for w in words if w.startswith(name + "="))


def test_shellcheck_clean():
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    scripts = sorted(str(p) for p in (REPO / "tpu_scripts").glob("*.sh"))
    result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_all_dry_run_prints_every_step_in_order():
    gin_arg = "--gin.target/TrainConfig.name='it''s here'"
    result = pod("all", "--dry_run", *BASE, "--", "--gin_file=gin/experiments/demo.gin", gin_arg)
    assert result.returncode == 0, result.stderr
    cmds = commands(result.stdout)
    assert all(c[:3] == ["gcloud", "compute", "tpus"] and "--project=proj" in c and "--zone=us-east5-a" in c for c in cmds)
    assert [c[3:5] for c in cmds] == [["tpu-vm", "create"]] + [["tpu-vm", "ssh"]] * 4 + [["tpu-vm", "delete"]]
    create, install, launch, logs, copy, delete = cmds
    assert "--accelerator-type=v5p-256" in create and "--version=v2-alpha-tpuv5" in create
    assert "--worker=all" in install and "--worker=all" in launch and "--worker=0" in logs
    assert "https://example.org/xstilts-jax.git" in flag(install, "--command")
    # the xstilts-jax arguments survive two levels of shell quoting intact
    remote = shlex.split(flag(launch, "--command"))
    assert remote[remote.index(".venv/bin/xstilts-jax") + 1 :][:3] == ["run", "--gin_file=gin/experiments/demo.gin", gin_arg]
    assert "gs://bucket/runs/" in flag(copy, "--command")
    assert delete[5] == "xs" and "--quiet" in delete


def test_multislice_uses_a_queued_resource_and_every_slice():
    result = pod("all", "--dry_run", *BASE, "--num_slices=2", "--spot", "--command=grid")
    assert result.returncode == 0, result.stderr
    cmds = commands(result.stdout)
    create = cmds[0]
    assert create[3:6] == ["queued-resources", "create", "xs"]
    assert "--node-count=2" in create and "--node-prefix=xs" in create and "--spot" in create
    assert "--runtime-version=v2-alpha-tpuv5" in create
    ssh_nodes = [c[5] for c in cmds if c[3:5] == ["tpu-vm", "ssh"] and "--worker=all" in c]
    assert ssh_nodes == ["xs-0", "xs-1", "xs-0", "xs-1"]  # install, then launch, on both slices
    assert any("xstilts-jax grid" in flag(c, "--command") for c in cmds if "--worker=all" in c)
    assert cmds[-1][3:5] == ["queued-resources", "delete"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["all", "--dry_run", "--zone=z", "--accelerator_type=v4-8", "--run_dir=gs://b"], "--project"),
        (["copy", "--dry_run", "--project=p", "--zone=z", "--accelerator_type=v4-8", "--run_dir=/tmp/x"], "must be a gs:// path"),
        (["install", "--dry_run", "--project=p", "--zone=z", "--accelerator_type=v4-8"], "--repo"),
        (["create", "--dry_run", "--project=p", "--zone=z", "--accelerator_type=v9-8"], "--runtime_version"),
        (["launch", "--dry_run", "--project=p", "--zone=z", "--accelerator_type=v4-8", "--bogus"], "unknown flag '--bogus'"),
        (["explode", "--dry_run"], "unknown step 'explode'"),
    ],
)
def test_bad_input_is_a_clear_error(args, message):
    result = pod(*args)
    assert result.returncode == 2
    assert message in result.stderr and result.stdout == ""
