"""tpu_scripts/pod.sh: shellcheck-clean; dry runs print the commands each step needs; `all` against a
fake `gcloud` (tests/tpu_scripts/fake_gcloud.py, put on the PATH) that plays a finished run, a crashed
run, an ssh drop, a preemption, an unfinished run and Ctrl-C."""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tpu_scripts" / "pod.sh"
FAKE = Path(__file__).with_name("fake_gcloud.py")
SHA = "0123456789abcdef0123456789abcdef01234567"
BASE = ["--project=proj", "--zone=us-east5-a", "--accelerator_type=v5p-256", "--run_dir=gs://bucket/runs",
        "--repo=https://example.org/xstilts-jax.git", "--name=xs"]


def pod(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, env=env)


def commands(out: str) -> list[list[str]]:
    return [shlex.split(line) for line in out.strip().splitlines()]


def flag(words: list[str], name: str) -> str:
    return next(w.split("=", 1)[1] for w in words if w.startswith(name + "="))


@pytest.fixture
def fake(tmp_path):
    """A `gcloud` on the PATH that records its calls in tmp_path/calls.jsonl; returns pod.sh's environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "gcloud"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE))} "$@"\n')
    shim.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_GCLOUD_DIR=str(tmp_path), POLL_SECONDS="0.05")


def script(env: dict[str, str], states: list[str] = (), statuses: list[str] = ()) -> None:
    d = Path(env["FAKE_GCLOUD_DIR"])
    (d / "states").write_text("".join(s + "\n" for s in states))
    (d / "statuses").write_text("".join(s + "\n" for s in statuses))


def calls(env: dict[str, str]) -> list[str]:
    """The recorded calls, each named by its kind: create, describe, workers, install, launch, status, copy, delete."""
    path = Path(env["FAKE_GCLOUD_DIR"]) / "calls.jsonl"
    named = []
    for argv in (json.loads(line) for line in path.read_text().splitlines()) if path.exists() else []:
        if argv[2:4] == ["tpu-vm", "ssh"]:
            command = flag(argv, "--command")
            named.append(next(n for key, n in [("uv pip install", "install"), ("worker.sh", "launch"), ("xstilts-exit", "status"),
                                               ("gcloud storage cp", "copy")] if key in command))
        else:
            named.append({"create": "create", "delete": "delete"}.get(argv[3], "workers" if argv[2] == "tpu-vm" else "describe"))
    return named


def test_shellcheck_clean():
    shellcheck = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    scripts = sorted(str(p) for p in (REPO / "tpu_scripts").glob("*.sh"))
    result = subprocess.run([shellcheck, *scripts], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_all_dry_run_prints_every_step_in_order(fake):
    gin_arg = "--gin.target/TrainConfig.name='it''s here'"
    result = pod("all", *BASE, "--ref=main", "--", "--gin_file=gin/experiments/demo.gin", gin_arg, "--dry_run", env=fake)
    assert result.returncode == 0, result.stderr
    assert calls(fake) == []  # --dry_run after -- too: nothing ran
    cmds = commands(result.stdout)
    assert cmds[2] == ["git", "ls-remote", "https://example.org/xstilts-jax.git", "main"]
    del cmds[2]
    assert all(c[:3] == ["gcloud", "compute", "tpus"] and "--project=proj" in c and "--zone=us-east5-a" in c for c in cmds)
    assert [c[3:5] for c in cmds] == [["queued-resources", "create"], ["queued-resources", "describe"]] + [["tpu-vm", "ssh"]] * 2 + [
        ["queued-resources", "describe"], ["tpu-vm", "describe"], ["tpu-vm", "ssh"], ["tpu-vm", "ssh"], ["queued-resources", "delete"]]
    create, _, install, launch, _, _, status, copy, delete = cmds
    assert "--accelerator-type=v5p-256" in create and "--runtime-version=v2-alpha-tpuv5" in create and "--node-id=xs" in create
    assert flag(create, "--metadata-from-file") == f"startup-script={REPO / 'tpu_scripts' / 'startup.sh'}"
    assert all("--worker=all" in c for c in (install, launch, status, copy))
    assert "uv venv -q --allow-existing --python 3.12 .venv" in flag(install, "--command")
    remote = shlex.split(flag(launch, "--command"))  # the xstilts-jax arguments survive two levels of shell quoting intact
    assert "XSTILTS_DISTRIBUTED=on" in remote and "XSTILTS_RUN_DIR=gs://bucket/runs" in remote
    # the run's root and results database on shared storage (--root defaults to --run_dir), then the user's arguments
    assert remote[remote.index("tpu_scripts/worker.sh") + 1 :][:6] == [
        "run", "--gin.Experiment.root='gs://bucket/runs'", "--gin.results_db.path='gs://bucket/runs/results.sqlite'",
        "--gin_file=gin/experiments/demo.gin", gin_arg, "--dry_run"]
    assert "gs://bucket/runs/logs/" in flag(copy, "--command")
    assert delete[5] == "xs" and "--quiet" in delete and "--force" in delete


def test_multislice_v5e_spot(fake):
    result = pod("all", "--dry_run", *BASE[:2], "--accelerator_type=v5e-16", *BASE[3:], "--num_slices=2", "--spot",
                 "--command=grid", f"--ref={SHA}", env=fake)
    assert result.returncode == 0, result.stderr
    cmds = commands(result.stdout)
    create = cmds[0]
    assert create[3:6] == ["queued-resources", "create", "xs"]
    assert "--node-count=2" in create and "--node-prefix=xs" in create and "--spot" in create
    assert "--accelerator-type=v5litepod-16" in create and "--runtime-version=v2-alpha-tpuv5-lite" in create
    assert not any(c[0] == "git" for c in cmds)  # a SHA is installed as given
    ssh = [(c[5], flag(c, "--command")) for c in cmds if c[3:5] == ["tpu-vm", "ssh"]]
    assert [node for node, _ in ssh] == ["xs-0", "xs-1"] * 4  # install, launch, status, copy on both slices
    assert all(f"--depth 1 https://example.org/xstilts-jax.git {SHA}" in command for _, command in ssh[:2])
    assert all(worker_args(command) == ["grid", "--gin.Experiment.root='gs://bucket/runs'",
                                        "--gin.results_db.path='gs://bucket/runs/results.sqlite'", "--gin.MeshConfig.dcn_data=2"]
               for _, command in ssh[2:4])


def worker_args(remote_command: str) -> list[str]:
    """The xstilts-jax command and arguments that a launch's remote shell command gives worker.sh."""
    words = shlex.split(remote_command)
    return words[words.index("tpu_scripts/worker.sh") + 1 : words.index(">")]


def launched_args(result: subprocess.CompletedProcess) -> list[str]:
    """The xstilts-jax command and arguments a dry-run `launch` starts on the workers."""
    assert result.returncode == 0, result.stderr
    (launch,) = commands(result.stdout)
    return worker_args(flag(launch, "--command"))


def test_root_is_passed_to_the_command_as_its_run_root_and_results_database(fake):
    args = launched_args(pod("launch", "--dry_run", *BASE, "--command=grid", "--root=gs://study-bucket/ladder/",
                             "--", "--gin_file=gin/experiments/alternatives.gin", env=fake))
    assert args == ["grid", "--gin.Experiment.root='gs://study-bucket/ladder'",
                    "--gin.results_db.path='gs://study-bucket/ladder/results.sqlite'", "--gin_file=gin/experiments/alternatives.gin"]
    # from the environment too; a single-phase command takes its gs:// paths as its own gin flags
    args = launched_args(pod("launch", "--dry_run", *BASE, "--", "--gin_file=g.gin", env=dict(fake, XSTILTS_ROOT="gs://b/s")))
    assert args[1:3] == ["--gin.Experiment.root='gs://b/s'", "--gin.results_db.path='gs://b/s/results.sqlite'"]
    assert launched_args(pod("launch", "--dry_run", *BASE, "--command=train", "--", "--gin.MODEL_DIR='gs://b/m'", env=fake)) == [
        "train", "--gin.MODEL_DIR='gs://b/m'"]


def run_all(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return pod("all", *BASE[:4], f"--repo={REPO}", "--ref=HEAD", "--name=xs", *extra, env=env)


def test_finished_run_installs_one_sha_copies_then_deletes(fake):
    script(fake, ["PROVISIONING", "ACTIVE"], ["running", "exit 0 0"])
    result = run_all(fake)
    assert result.returncode == 0, result.stderr
    assert calls(fake) == ["create", "describe", "describe", "install", "launch", "workers", "describe", "status",
                           "describe", "status", "copy", "delete"]
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    installed = [json.loads(line) for line in (Path(fake["FAKE_GCLOUD_DIR"]) / "calls.jsonl").read_text().splitlines()][3]
    assert f"git fetch -q --depth 1 {REPO} {sha} " in flag(installed, "--command")


def test_crashed_run_is_copied_then_deleted_and_fails(fake):
    script(fake, [], ["exit 0 1"])
    result = run_all(fake)
    assert result.returncode == 1 and "the run failed" in result.stderr
    assert calls(fake)[-2:] == ["copy", "delete"]


def test_ssh_drop_is_not_an_end(fake):
    script(fake, [], ["drop", "running", "drop", "exit 0 0"])
    result = run_all(fake)
    assert result.returncode == 0, result.stderr
    assert calls(fake)[-10:] == ["describe", "status", "describe", "status", "describe", "status", "describe", "status", "copy", "delete"]
    assert "ssh failed; the run's status is unknown" in result.stderr


def test_preempted_tpu_is_recreated_and_relaunched(fake):
    script(fake, ["ACTIVE", "SUSPENDED", "ACTIVE"], ["exit 0 0"])
    result = run_all(fake, "--spot")
    assert result.returncode == 0, result.stderr
    assert calls(fake) == ["create", "describe", "install", "launch", "workers", "describe", "delete", "create", "describe",
                           "install", "launch", "workers", "describe", "status", "copy", "delete"]


def test_unfinished_run_keeps_the_tpu(fake):
    script(fake, [], ["exit 75 75"])
    result = run_all(fake)
    assert result.returncode == 1 and "the run is unfinished" in result.stderr
    assert "delete" not in calls(fake) and "copy" not in calls(fake)


def interrupt_when(env: dict[str, str], seen: str, *extra: str) -> subprocess.CompletedProcess:
    """Run `all`, press Ctrl-C (SIGINT to its process group, as a terminal does) once the fake gcloud saw a
    `seen` call, and wait for pod.sh to exit."""
    proc = subprocess.Popen(["bash", str(SCRIPT), "all", *BASE[:4], f"--repo={REPO}", f"--ref={SHA}", "--name=xs", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120  # a loaded CI machine can take long to reach the call
    while seen not in calls(env) and time.time() < deadline:
        time.sleep(0.02)
    assert seen in calls(env), f"pod.sh never reached {seen!r}: {calls(env)}"
    for _ in range(5):  # pressed again while it is still polling, as a user would: bash ignores a SIGINT that the
        os.killpg(proc.pid, signal.SIGINT)  # child it waits for survives (the bash manual, SIGNALS)
        try:
            out, err = proc.communicate(timeout=5)
            break
        except subprocess.TimeoutExpired:
            assert "delete" not in calls(env) and "copy" not in calls(env)
    else:
        proc.kill()
        pytest.fail("pod.sh ignored Ctrl-C")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_while_running_leaves_the_tpu(fake):
    script(fake, [], ["running"])
    result = interrupt_when(fake, "status")
    # 130, or the status of the gcloud call the Ctrl-C killed
    assert result.returncode != 0 and "xs and its run are left as they are" in result.stderr
    assert "delete" not in calls(fake) and "copy" not in calls(fake)


def test_ctrl_c_while_queued_deletes_the_request(fake):
    script(fake, ["WAITING_FOR_RESOURCES"])
    result = interrupt_when(fake, "describe")
    assert result.returncode != 0 and "stopped while queued; deleting the queued resource xs" in result.stderr
    assert calls(fake)[0] == "create" and calls(fake)[-1] == "delete" and "install" not in calls(fake)


@pytest.mark.parametrize(
    "args, message",
    [
        (["all", "--dry_run", "--zone=z", "--accelerator_type=v4-8", "--run_dir=gs://b"], "--project"),
        (["copy", "--dry_run", "--project=p", "--zone=z", "--accelerator_type=v4-8", "--run_dir=/tmp/x"], "must be a gs:// path"),
        (["install", "--dry_run", "--project=p", "--zone=z", "--accelerator_type=v4-8"], "--repo"),
        (["create", "--dry_run", "--project=p", "--zone=z", "--accelerator_type=v9-8"], "--runtime_version"),
        (["launch", "--dry_run", "--project=p", "--zone=z", "--accelerator_type=v4-8", "--bogus"], "unknown flag '--bogus'"),
        (["explode", "--dry_run"], "unknown step 'explode'"),
        (["launch", "--dry_run", *BASE, "--root=/data/study"], "--root (or XSTILTS_ROOT, default --run_dir) must be a gs:// path"),
        (["launch", "--dry_run", *BASE, "--command=train", "--root=gs://b/s"], "--root applies to --command=run or grid"),
    ],
)
def test_bad_input_is_a_clear_error(args, message):
    result = pod(*args)
    assert result.returncode == 2
    assert message in result.stderr and result.stdout == ""


def test_unknown_ref_is_a_clear_error(fake):
    result = pod("install", *BASE[:4], f"--repo={REPO}", "--ref=no-such-branch-xyz", env=fake)
    assert result.returncode == 2 and "--ref 'no-such-branch-xyz' is not a branch or tag" in result.stderr
    assert calls(fake) == []


def test_help_prints_every_flag_of_the_header():
    result = pod("--help")
    assert result.returncode == 0 and result.stdout.startswith("Run xstilts-jax on Cloud TPU slices")
    assert "--root=gs://B/P" in result.stdout and result.stdout.rstrip().endswith("an explicit --gin.Experiment.root there wins).")
