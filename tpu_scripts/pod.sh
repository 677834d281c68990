#!/usr/bin/env bash
# Run xstilts-jax on a Cloud TPU VM / pod slice (or several slices): create, install, launch,
# stream logs, copy results to GCS, delete. Every step is a gcloud command; --dry_run prints them.
#
#   tpu_scripts/pod.sh STEP [--flag=value ...] [-- XSTILTS-JAX ARGS ...]
#   STEP: create | install | launch | logs | copy | delete | all (create → install → launch → logs → copy → delete)
#
# Flags (or the environment variable in brackets):
#   --project=ID           [PROJECT]            Google Cloud project (required)
#   --zone=ZONE            [ZONE]               e.g. us-east5-a (required)
#   --accelerator_type=T   [ACCELERATOR_TYPE]   e.g. v5p-256, v4-512, v6e-256 (required)
#   --run_dir=gs://B/P     [RUN_DIR]            where `copy` puts the runs/ directory (required for copy/all)
#   --name=NAME            [TPU_NAME]           TPU VM / queued-resource name (default: xstilts-<user>)
#   --runtime_version=V    [RUNTIME_VERSION]    default chosen from the accelerator type
#   --num_slices=N         [NUM_SLICES]         >1: multi-slice through a queued resource (default 1)
#   --queued                [QUEUED=1]           create through a queued resource even for one slice
#   --spot                  [SPOT=1]             spot capacity
#   --repo=URL             [REPO_URL]           git URL of this repository, installed on every worker (install/all)
#   --ref=REF              [REPO_REF]           branch or tag (default main)
#   --command=CMD          [XSTILTS_COMMAND]    xstilts-jax command to launch: run, grid, train (default run)
#   --dry_run                                   print the gcloud commands instead of running them
# Arguments after `--` go to `xstilts-jax CMD`, e.g. -- --gin_file=gin/experiments/demo.gin
set -euo pipefail

PROJECT="${PROJECT:-}"
ZONE="${ZONE:-}"
ACCELERATOR_TYPE="${ACCELERATOR_TYPE:-}"
RUN_DIR="${RUN_DIR:-}"
TPU_NAME="${TPU_NAME:-xstilts-${USER:-user}}"
RUNTIME_VERSION="${RUNTIME_VERSION:-}"
NUM_SLICES="${NUM_SLICES:-1}"
QUEUED="${QUEUED:-0}"
SPOT="${SPOT:-0}"
REPO_URL="${REPO_URL:-}"
REPO_REF="${REPO_REF:-main}"
XSTILTS_COMMAND="${XSTILTS_COMMAND:-run}"
DRY_RUN=0
REMOTE_DIR="\$HOME/xstilts-jax"
REMOTE_LOG="\$HOME/xstilts-jax.log"
XSTILTS_ARGS=()

die() {
  echo "pod.sh: error: $*" >&2
  exit 2
}

usage() {
  sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
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
  STEP="$1"
  shift
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --project=*) PROJECT="${1#*=}" ;;
      --zone=*) ZONE="${1#*=}" ;;
      --accelerator_type=*) ACCELERATOR_TYPE="${1#*=}" ;;
      --run_dir=*) RUN_DIR="${1#*=}" ;;
      --name=*) TPU_NAME="${1#*=}" ;;
      --runtime_version=*) RUNTIME_VERSION="${1#*=}" ;;
      --num_slices=*) NUM_SLICES="${1#*=}" ;;
      --queued) QUEUED=1 ;;
      --spot) SPOT=1 ;;
      --repo=*) REPO_URL="${1#*=}" ;;
      --ref=*) REPO_REF="${1#*=}" ;;
      --command=*) XSTILTS_COMMAND="${1#*=}" ;;
      --dry_run) DRY_RUN=1 ;;
      -h | --help) usage; exit 0 ;;
      --) shift; XSTILTS_ARGS=("$@"); break ;;
      *) die "unknown flag '$1' (see --help)" ;;
    esac
    shift
  done
}

check_config() {
  case "$STEP" in
    create | install | launch | logs | copy | delete | all) ;;
    *) die "unknown step '$STEP'; choose create, install, launch, logs, copy, delete or all" ;;
  esac
  [[ -n "$PROJECT" ]] || die "--project (or PROJECT) is required"
  [[ -n "$ZONE" ]] || die "--zone (or ZONE) is required"
  [[ -n "$ACCELERATOR_TYPE" ]] || die "--accelerator_type (or ACCELERATOR_TYPE) is required, e.g. v5p-256"
  [[ "$NUM_SLICES" =~ ^[1-9][0-9]*$ ]] || die "--num_slices must be a positive integer, got '$NUM_SLICES'"
  if [[ "$STEP" == install || "$STEP" == all ]]; then
    [[ -n "$REPO_URL" ]] || die "--repo (or REPO_URL) is required for step '$STEP': the git URL of your xstilts-jax repository"
  fi
  if [[ "$STEP" == copy || "$STEP" == all ]]; then
    [[ "$RUN_DIR" == gs://* ]] || die "--run_dir (or RUN_DIR) must be a gs:// path for step '$STEP', got '$RUN_DIR'"
  fi
  if [[ "$NUM_SLICES" -gt 1 ]]; then
    QUEUED=1
  fi
  if [[ -z "$RUNTIME_VERSION" ]]; then
    case "$ACCELERATOR_TYPE" in
      v4-*) RUNTIME_VERSION=tpu-ubuntu2204-base ;;
      v5p-*) RUNTIME_VERSION=v2-alpha-tpuv5 ;;
      v5litepod-* | v5e-*) RUNTIME_VERSION=v2-alpha-tpuv5-lite ;;
      v6e-*) RUNTIME_VERSION=v2-alpha-tpuv6e ;;
      *) die "no default runtime for accelerator type '$ACCELERATOR_TYPE'; pass --runtime_version" ;;
    esac
  fi
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

# Run a shell command on every worker of every slice.
on_workers() {
  local node
  for node in $(nodes); do
    gcloud_tpu tpu-vm ssh "$node" --worker=all --command="$1"
  done
}

step_create() {
  local extra=()
  [[ "$SPOT" == 1 ]] && extra+=(--spot)
  if [[ "$QUEUED" == 1 ]]; then
    local node_args=(--node-id="$TPU_NAME")
    [[ "$NUM_SLICES" -gt 1 ]] && node_args=(--node-count="$NUM_SLICES" --node-prefix="$TPU_NAME")
    gcloud_tpu queued-resources create "$TPU_NAME" "${node_args[@]}" --accelerator-type="$ACCELERATOR_TYPE" \
      --runtime-version="$RUNTIME_VERSION" "${extra[@]}"
    wait_active
  else
    gcloud_tpu tpu-vm create "$TPU_NAME" --accelerator-type="$ACCELERATOR_TYPE" --version="$RUNTIME_VERSION" "${extra[@]}"
  fi
}

wait_active() {
  if [[ "$DRY_RUN" == 1 ]]; then
    gcloud_tpu queued-resources describe "$TPU_NAME" --format='value(state.state)'
    return
  fi
  local state=""
  while [[ "$state" != ACTIVE ]]; do
    state="$(gcloud_tpu queued-resources describe "$TPU_NAME" --format='value(state.state)')"
    case "$state" in
      FAILED | SUSPENDED) die "queued resource $TPU_NAME is $state" ;;
    esac
    echo "queued resource $TPU_NAME: ${state:-unknown}; waiting" >&2
    sleep 30
  done
}

step_install() {
  local url ref
  url="$(printf '%q' "$REPO_URL")"
  ref="$(printf '%q' "$REPO_REF")"
  on_workers "set -e; if [ -d $REMOTE_DIR/.git ]; then git -C $REMOTE_DIR fetch --depth 1 origin $ref && git -C $REMOTE_DIR checkout -q FETCH_HEAD; \
else git clone --depth 1 --branch $ref $url $REMOTE_DIR; fi; cd $REMOTE_DIR && python3 -m venv .venv && .venv/bin/pip install -q -e '.[tpu]'"
}

step_launch() {
  local args=""
  [[ ${#XSTILTS_ARGS[@]} -gt 0 ]] && args="$(printf ' %q' "${XSTILTS_ARGS[@]}")"
  on_workers "cd $REMOTE_DIR && setsid nohup .venv/bin/xstilts-jax $(printf '%q' "$XSTILTS_COMMAND")$args > $REMOTE_LOG 2>&1 < /dev/null &"
}

step_logs() {
  # Worker 0 of the first slice logs for the whole job; Ctrl-C stops streaming, not the run.
  gcloud_tpu tpu-vm ssh "$(nodes | head -n 1)" --worker=0 \
    --command="pid=\$(pgrep -f 'xstilts-jax $XSTILTS_COMMAND' | head -n 1); if [ -n \"\$pid\" ]; then tail -n +1 -f $REMOTE_LOG --pid=\$pid; else cat $REMOTE_LOG; fi"
}

step_copy() {
  gcloud_tpu tpu-vm ssh "$(nodes | head -n 1)" --worker=0 \
    --command="gcloud storage cp -r $REMOTE_DIR/runs $REMOTE_LOG $(printf '%q' "${RUN_DIR%/}")/"
}

step_delete() {
  if [[ "$QUEUED" == 1 ]]; then
    gcloud_tpu queued-resources delete "$TPU_NAME" --force --quiet
  else
    gcloud_tpu tpu-vm delete "$TPU_NAME" --quiet
  fi
}

main() {
  parse_args "$@"
  check_config
  case "$STEP" in
    all)
      step_create
      trap step_delete EXIT # never leave a pod running after a failed step
      step_install
      step_launch
      step_logs || echo "pod.sh: log streaming stopped; copying results anyway" >&2
      step_copy
      ;;
    *) "step_$STEP" ;;
  esac
}

main "$@"
