#!/usr/bin/env bash
# Run xstilts-jax on Cloud TPU slices through a queued resource: create, install, launch, wait,
# copy, delete. Every step is a gcloud command; --dry_run (anywhere, also after --) prints them.
#
#   tpu_scripts/pod.sh STEP [--flag=value ...] [-- XSTILTS-JAX ARGS ...]
#   STEP: create | install | launch | status | wait | logs | copy | delete
#         all (create → install → launch → wait → copy → delete; relaunches after a preemption)
#
# Flags (or the environment variable in brackets):
#   --project=ID           [PROJECT]            Google Cloud project (required)
#   --zone=ZONE            [ZONE]               e.g. us-east5-a (required)
#   --accelerator_type=T   [ACCELERATOR_TYPE]   e.g. v5p-256, v4-512, v6e-256, v5e-16 (= v5litepod-16)
#   --run_dir=gs://B/P     [RUN_DIR]            the run's shared directory: logs, copied results (required)
#   --root=gs://B/P        [XSTILTS_ROOT]       run/grid: where the runs and results.sqlite live (default: --run_dir);
#                                               passed as --gin.Experiment.root and --gin.results_db.path
#   --name=NAME            [TPU_NAME]           queued-resource name; its nodes are NAME or NAME-<i> (default: xstilts-<user>)
#   --runtime_version=V    [RUNTIME_VERSION]    default chosen from the accelerator type
#   --num_slices=N         [NUM_SLICES]         multi-slice: N nodes, and MeshConfig.dcn_data=N (default 1)
#   --spot                  [SPOT=1]             spot capacity (preemptible; `all` recreates and relaunches)
#   --repo=URL             [REPO_URL]           git URL of this repository (required for install/all)
#   --ref=REF              [REPO_REF]           branch, tag or SHA, resolved once to one SHA (default main)
#   --command=CMD          [XSTILTS_COMMAND]    xstilts-jax command to launch: run, grid, train (default run)
#   --dry_run                                   print the commands instead of running them
# [POLL_SECONDS] (default 60) between status checks; [MAX_RECREATES] (default 10) after preemptions.
# Arguments after `--` go to `xstilts-jax CMD`, e.g. -- --gin_file=gin/experiments/demo.gin
# (after the root bindings, so an explicit --gin.Experiment.root there wins).
set -euo pipefail

PROJECT="${PROJECT:-}"
ZONE="${ZONE:-}"
ACCELERATOR_TYPE="${ACCELERATOR_TYPE:-}"
RUN_DIR="${RUN_DIR:-}"
ROOT="${XSTILTS_ROOT:-}"
TPU_NAME="${TPU_NAME:-xstilts-${USER:-user}}"
RUNTIME_VERSION="${RUNTIME_VERSION:-}"
NUM_SLICES="${NUM_SLICES:-1}"
SPOT="${SPOT:-0}"
REPO_URL="${REPO_URL:-}"
REPO_REF="${REPO_REF:-main}"
XSTILTS_COMMAND="${XSTILTS_COMMAND:-run}"
POLL_SECONDS="${POLL_SECONDS:-60}"
MAX_RECREATES="${MAX_RECREATES:-10}"
DRY_RUN=0
PYTHON_VERSION=3.12 # what uv installs on every image (the project needs >= 3.11; images ship 3.10)
EXIT_PREEMPTED=75   # Preempted.EXIT_CODE in xstilts_jax/errors.py
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REMOTE_DIR="\$HOME/xstilts-jax"
STATE_DIR="\$HOME/xstilts-run"
XSTILTS_ARGS=()
SHA=""

die() {
  echo "pod.sh: error: $*" >&2
  exit 2
}

usage() { # the header comment above
  awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"
}

# Quote one word for the printout: bare when safe, else in single quotes.
quote() {
  if [[ "$1" =~ ^[A-Za-z0-9_./=:@,+%-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

# Print a command (dry run) or run it; the printout can be pasted into a shell.
run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    local word line=""
    for word in "$@"; do line+="$(quote "$word") "; done
    echo "${line% }"
  else
    "$@"
  fi
}

parse_args() {
  [[ $# -ge 1 ]] || { usage; exit 2; }
  [[ "$1" == -h || "$1" == --help ]] && { usage; exit 0; }
  local arg
  for arg in "$@"; do [[ "$arg" == --dry_run ]] && DRY_RUN=1; done # anywhere, also after --
  STEP="$1"
  shift
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --project=*) PROJECT="${1#*=}" ;;
      --zone=*) ZONE="${1#*=}" ;;
      --accelerator_type=*) ACCELERATOR_TYPE="${1#*=}" ;;
      --run_dir=*) RUN_DIR="${1#*=}" ;;
      --root=*) ROOT="${1#*=}" ;;
      --name=*) TPU_NAME="${1#*=}" ;;
      --runtime_version=*) RUNTIME_VERSION="${1#*=}" ;;
      --num_slices=*) NUM_SLICES="${1#*=}" ;;
      --spot) SPOT=1 ;;
      --repo=*) REPO_URL="${1#*=}" ;;
      --ref=*) REPO_REF="${1#*=}" ;;
      --command=*) XSTILTS_COMMAND="${1#*=}" ;;
      --dry_run) ;;
      -h | --help) usage; exit 0 ;;
      --) shift; XSTILTS_ARGS=("$@"); break ;;
      *) die "unknown flag '$1' (see --help)" ;;
    esac
    shift
  done
}

check_config() {
  case "$STEP" in
    create | install | launch | status | wait | logs | copy | delete | all) ;;
    *) die "unknown step '$STEP'; choose create, install, launch, status, wait, logs, copy, delete or all" ;;
  esac
  [[ -n "$PROJECT" ]] || die "--project (or PROJECT) is required"
  [[ -n "$ZONE" ]] || die "--zone (or ZONE) is required"
  [[ -n "$ACCELERATOR_TYPE" ]] || die "--accelerator_type (or ACCELERATOR_TYPE) is required, e.g. v5p-256"
  [[ "$NUM_SLICES" =~ ^[1-9][0-9]*$ ]] || die "--num_slices must be a positive integer, got '$NUM_SLICES'"
  [[ "$POLL_SECONDS" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "POLL_SECONDS must be a number of seconds, got '$POLL_SECONDS'"
  if [[ "$STEP" == install || "$STEP" == all ]]; then
    [[ -n "$REPO_URL" ]] || die "--repo (or REPO_URL) is required for step '$STEP': the git URL of your xstilts-jax repository"
  fi
  case "$STEP" in
    launch | copy | all) [[ "$RUN_DIR" == gs://* ]] || die "--run_dir (or RUN_DIR) must be a gs:// path for step '$STEP', got '$RUN_DIR'" ;;
  esac
  # The Cloud TPU docs name v5e slices v5litepod-N.
  [[ "$ACCELERATOR_TYPE" == v5e-* ]] && ACCELERATOR_TYPE="v5litepod-${ACCELERATOR_TYPE#v5e-}"
  if [[ -z "$RUNTIME_VERSION" ]]; then
    case "$ACCELERATOR_TYPE" in
      v4-*) RUNTIME_VERSION=tpu-ubuntu2204-base ;;
      v5p-*) RUNTIME_VERSION=v2-alpha-tpuv5 ;;
      v5litepod-*) RUNTIME_VERSION=v2-alpha-tpuv5-lite ;;
      v6e-*) RUNTIME_VERSION=v2-alpha-tpuv6e ;;
      *) die "no default runtime for accelerator type '$ACCELERATOR_TYPE'; pass --runtime_version" ;;
    esac
  fi
  # Multi-slice: the mesh's DCN data axis spans the slices.
  [[ "$NUM_SLICES" -gt 1 ]] && XSTILTS_ARGS+=("--gin.MeshConfig.dcn_data=$NUM_SLICES")
  bind_root
  return 0
}

# run and grid keep their runs and results on shared storage, so that every host writes one run
# directory and a recreated TPU resumes from it: the root goes to the command as gin bindings.
bind_root() {
  case "$XSTILTS_COMMAND" in
    run | grid) ;;
    *)
      [[ -z "$ROOT" ]] || die "--root applies to --command=run or grid; '$XSTILTS_COMMAND' takes its gs:// paths as gin flags after -- (e.g. --gin.MODEL_DIR=\"'gs://B/P'\")"
      return 0
      ;;
  esac
  case "$STEP" in launch | all) ;; *) return 0 ;; esac
  ROOT="${ROOT:-$RUN_DIR}"
  [[ "$ROOT" == gs://* ]] || die "--root (or XSTILTS_ROOT, default --run_dir) must be a gs:// path, got '$ROOT': the workers and a recreated TPU share only that"
  [[ "$ROOT" != *"'"* ]] || die "--root must not contain a quote (it becomes a gin string), got '$ROOT'"
  ROOT="${ROOT%/}"
  XSTILTS_ARGS=("--gin.Experiment.root='$ROOT'" "--gin.results_db.path='$ROOT/results.sqlite'" "${XSTILTS_ARGS[@]}")
}

# TPU VM names: one per slice (a multi-slice queued resource names them <prefix>-<i>).
nodes() {
  if [[ "$NUM_SLICES" -gt 1 ]]; then
    for ((i = 0; i < NUM_SLICES; i++)); do echo "${TPU_NAME}-${i}"; done
  else
    echo "$TPU_NAME"
  fi
}

gcloud_tpu() {
  run gcloud compute tpus "$@" --project="$PROJECT" --zone="$ZONE"
}

# Run a shell command on every worker of every slice; the workers' outputs, concatenated.
# Fails when any ssh failed (all slices are still tried).
on_workers() {
  local node rc=0
  for node in $(nodes); do
    gcloud_tpu tpu-vm ssh "$node" --worker=all --command="$1" || rc=$?
  done
  return "$rc"
}

qr_state() {
  gcloud_tpu queued-resources describe "$TPU_NAME" --format='value(state.state)'
}

step_create() {
  local node_args=(--node-id="$TPU_NAME") extra=()
  [[ "$NUM_SLICES" -gt 1 ]] && node_args=(--node-count="$NUM_SLICES" --node-prefix="$TPU_NAME")
  [[ "$SPOT" == 1 ]] && extra+=(--spot)
  gcloud_tpu queued-resources create "$TPU_NAME" "${node_args[@]}" --accelerator-type="$ACCELERATOR_TYPE" \
    --runtime-version="$RUNTIME_VERSION" --metadata-from-file=startup-script="$HERE/startup.sh" "${extra[@]}"
  # Stopped while queued (Ctrl-C, or the request failed): nothing runs yet, so the request is deleted
  # rather than left in the queue.
  trap 'exit 130' INT TERM
  trap 'echo "pod.sh: stopped while queued; deleting the queued resource $TPU_NAME" >&2; step_delete' EXIT
  wait_active
  trap - EXIT INT TERM
}

# From here on a run may be going: any exit (Ctrl-C, a failed step) leaves the TPU as it is.
keep_on_exit() {
  trap 'exit 130' INT TERM
  trap 'echo "pod.sh: stopped; $TPU_NAME and its run are left as they are (pod.sh status / wait / delete)" >&2' EXIT
}

wait_active() {
  if [[ "$DRY_RUN" == 1 ]]; then
    qr_state
    return
  fi
  local state=""
  while [[ "$state" != ACTIVE ]]; do
    state="$(qr_state)"
    case "$state" in
      FAILED | SUSPENDED) die "queued resource $TPU_NAME is $state" ;;
    esac
    echo "pod.sh: queued resource $TPU_NAME: ${state:-unknown}; waiting" >&2
    sleep "$POLL_SECONDS"
  done
}

# The one commit every worker installs: --ref resolved once (a 40-hex SHA is taken as is).
resolve_sha() {
  [[ -n "$SHA" ]] && return
  if [[ "$REPO_REF" =~ ^[0-9a-f]{40}$ ]]; then
    SHA="$REPO_REF"
  elif [[ "$DRY_RUN" == 1 ]]; then
    run git ls-remote "$REPO_URL" "$REPO_REF"
    SHA="SHA_OF_$REPO_REF"
  else
    SHA="$(git ls-remote "$REPO_URL" "$REPO_REF" | awk 'NR == 1 {print $1}')"
    [[ "$SHA" =~ ^[0-9a-f]{40}$ ]] || die "--ref '$REPO_REF' is not a branch or tag of $REPO_URL (git ls-remote found no commit)"
  fi
  echo "pod.sh: installing $REPO_URL at $SHA" >&2
}

step_install() {
  resolve_sha
  local url sha
  url="$(printf '%q' "$REPO_URL")"
  sha="$(printf '%q' "$SHA")"
  # uv (https://docs.astral.sh/uv/) brings its own Python: the images' python3 is too old.
  on_workers "set -e; command -v uv >/dev/null || [ -x \$HOME/.local/bin/uv ] || curl -LsSf https://astral.sh/uv/install.sh | sh; \
export PATH=\$HOME/.local/bin:\$PATH; mkdir -p $REMOTE_DIR && cd $REMOTE_DIR && git init -q && git fetch -q --depth 1 $url $sha \
&& git checkout -q --force FETCH_HEAD && uv venv -q --allow-existing --python $PYTHON_VERSION .venv \
&& uv pip install -q --python .venv/bin/python -e '.[tpu]' && echo \"\$(hostname): installed \$(git rev-parse HEAD)\""
}

step_launch() {
  local args env
  args="$(printf ' %q' "$XSTILTS_COMMAND" "${XSTILTS_ARGS[@]}")"
  # Every worker joins one process group (JAX finds the others through the TPU metadata server).
  env="XSTILTS_DISTRIBUTED=on XSTILTS_RUN_DIR=$(printf '%q' "$RUN_DIR")"
  on_workers "cd $REMOTE_DIR && $env setsid nohup bash tpu_scripts/worker.sh$args > /dev/null 2>&1 < /dev/null &"
}

# One line per worker: `xstilts-exit HOST CODE` once its run has ended, else `xstilts-running HOST`.
status_lines() {
  on_workers "h=\$(hostname); if [ -f $STATE_DIR/\$h.exit ]; then echo xstilts-exit \$h \$(cat $STATE_DIR/\$h.exit); \
else echo xstilts-running \$h; fi"
}

# The number of workers (hosts) of one node.
node_workers() {
  gcloud_tpu tpu-vm describe "$1" --format='value(networkEndpoints.len())'
}

worker_count() {
  local node total=0 count
  for node in $(nodes); do
    count="$(node_workers "$node")"
    [[ "$count" =~ ^[0-9]+$ ]] || die "gcloud gave no worker count for node $node: '$count'"
    total=$((total + count))
  done
  echo "$total"
}

step_status() {
  if [[ "$DRY_RUN" == 1 ]]; then qr_state; else echo "queued resource $TPU_NAME: $(qr_state)"; fi
  status_lines
}

# Poll until every worker has reported its exit code. Returns 0 when all exited 0, 1 when the run
# ended with an error, 3 when the TPU was preempted (the queued resource is SUSPENDED or FAILED).
# A failed ssh (a dropped connection) only means "not known yet".
wait_for_exit() {
  if [[ "$DRY_RUN" == 1 ]]; then
    local node
    qr_state
    for node in $(nodes); do node_workers "$node"; done
    status_lines
    return 0
  fi
  local workers state lines ended codes
  workers="$(worker_count)"
  while :; do
    state="$(qr_state || echo unknown)"
    case "$state" in
      SUSPENDING | SUSPENDED | FAILED) echo "pod.sh: queued resource $TPU_NAME is $state: preempted" >&2; return 3 ;;
    esac
    if lines="$(status_lines)"; then
      ended="$(grep -c '^xstilts-exit ' <<<"$lines" || true)"
      echo "pod.sh: $(date -u +%TZ) $ended of $workers workers finished" >&2
      if [[ "$ended" -ge "$workers" && "$workers" -gt 0 ]]; then
        codes="$(awk '/^xstilts-exit / {print $3}' <<<"$lines" | sort -u | tr '\n' ' ')"
        echo "pod.sh: exit codes: $codes" >&2
        [[ "$codes" == "0 " ]] && return 0
        [[ " $codes" == *" $EXIT_PREEMPTED "* ]] && { echo "pod.sh: a worker gave up relaunching after preemptions; run unfinished" >&2; return 4; }
        return 1
      fi
    else
      echo "pod.sh: ssh failed; the run's status is unknown, asking again" >&2
    fi
    sleep "$POLL_SECONDS"
  done
}

step_wait() {
  wait_for_exit
}

step_logs() {
  on_workers "tail -n 20 $STATE_DIR/\$(hostname).log"
}

# Every worker copies its runs/ and its log, pid and exit-code files to the run directory.
step_copy() {
  local dest
  dest="$(printf '%q' "${RUN_DIR%/}")"
  on_workers "h=\$(hostname); gcloud storage cp -r $STATE_DIR/\$h.* $dest/logs/ && \
if [ -d $REMOTE_DIR/runs ]; then gcloud storage cp -r $REMOTE_DIR/runs $dest/workers/\$h/; fi"
}

step_delete() {
  gcloud_tpu queued-resources delete "$TPU_NAME" --force --quiet
}

# create → install → launch → wait → copy → delete. The TPU is deleted only once every worker
# has reported its exit code and the copy succeeded; a preemption recreates it and relaunches (the
# run resumes from the run directory); Ctrl-C, a failed ssh or an unfinished run leave it running.
step_all() {
  local recreates=0 result
  step_create
  if ! step_install; then
    echo "pod.sh: install failed; nothing runs, deleting $TPU_NAME" >&2
    step_delete
    return 1
  fi
  keep_on_exit
  step_launch
  while :; do
    result=0
    wait_for_exit || result=$?
    [[ "$result" != 3 ]] && break
    [[ "$recreates" -lt "$MAX_RECREATES" ]] || { echo "pod.sh: preempted $recreates times; giving up, $TPU_NAME kept" >&2; return 1; }
    recreates=$((recreates + 1))
    echo "pod.sh: recreating $TPU_NAME and relaunching (preemption $recreates)" >&2
    trap - EXIT
    step_delete
    step_create
    keep_on_exit
    step_install
    step_launch
  done
  trap - EXIT INT TERM # every worker has reported: what follows decides and says what is kept
  if [[ "$result" == 4 ]]; then
    echo "pod.sh: the run is unfinished; $TPU_NAME kept (pod.sh launch to resume, pod.sh delete to stop)" >&2
    return 1
  fi
  if ! step_copy; then
    echo "pod.sh: copying to $RUN_DIR failed; $TPU_NAME kept so that nothing is lost (pod.sh copy, then delete)" >&2
    return 1
  fi
  step_delete
  [[ "$result" == 0 ]] || { echo "pod.sh: the run failed (see $RUN_DIR/logs/); $TPU_NAME deleted" >&2; return 1; }
}

main() {
  parse_args "$@"
  check_config
  "step_$STEP"
}

main "$@"
