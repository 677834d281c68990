#!/usr/bin/env bash
# Supervise xstilts-jax on one TPU worker (pod.sh launch starts it on every worker, the startup
# script restarts it after a reboot). Run from the installed checkout:
#
#   tpu_scripts/worker.sh COMMAND [ARGS ...]      e.g. tpu_scripts/worker.sh run --gin_file=...
#
# In $XSTILTS_STATE_DIR (default ~/xstilts-run), named by hostname: HOST.log (appended, never
# truncated), HOST.pid (this supervisor, while it runs), HOST.exit (the final exit code) and job.sh
# (how to start it again). Before every attempt it removes the libtpu lockfile and kills stale
# processes holding the TPU devices. An attempt that exits 75 (a preempted, unfinished run) is
# relaunched, up to XSTILTS_MAX_RELAUNCHES times; it resumes from its checkpoints. With
# XSTILTS_RUN_DIR=gs://..., the log and exit code are copied to RUN_DIR/logs/ after every attempt.
set -uo pipefail

STATE_DIR="${XSTILTS_STATE_DIR:-$HOME/xstilts-run}"
RUN_DIR="${XSTILTS_RUN_DIR:-}"
MAX_RELAUNCHES="${XSTILTS_MAX_RELAUNCHES:-20}"
LOCKFILE="${XSTILTS_LIBTPU_LOCKFILE:-/tmp/libtpu_lockfile}"
EXIT_PREEMPTED=75 # Preempted.EXIT_CODE in xstilts_jax/errors.py
HOST="$(hostname)"
LOG="$STATE_DIR/$HOST.log"
PID_FILE="$STATE_DIR/$HOST.pid"
EXIT_FILE="$STATE_DIR/$HOST.exit"

[[ $# -ge 1 ]] || { echo "worker.sh: error: give the xstilts-jax command, e.g. worker.sh run --gin_file=..." >&2; exit 2; }
mkdir -p "$STATE_DIR"
if [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
  echo "worker.sh: already running on $HOST (pid $(cat "$PID_FILE"), $PID_FILE)" >&2
  exit 0
fi
echo "$$" >"$PID_FILE"
rm -f "$EXIT_FILE"
{
  printf 'export XSTILTS_RUN_DIR=%q XSTILTS_DISTRIBUTED=%q XSTILTS_STATE_DIR=%q\n' \
    "$RUN_DIR" "${XSTILTS_DISTRIBUTED:-}" "$STATE_DIR"
  printf 'cd %q && exec bash %q' "$PWD" "$(realpath "$0")"
  printf ' %q' "$@"
  echo
} >"$STATE_DIR/job.sh"

as_root() { if [[ $EUID == 0 ]]; then "$@"; else sudo -n "$@" 2>/dev/null || "$@"; fi; }

# The TPU is one process's: a crashed run can leave its lockfile and orphans holding /dev/accel* (/dev/vfio on v5e, v6e).
clean_tpu() {
  as_root rm -f "$LOCKFILE" 2>/dev/null || echo "worker.sh: cannot remove $LOCKFILE" >>"$LOG"
  local devices=(/dev/accel* /dev/vfio/[0-9]*) pid
  [[ -e "${devices[0]}" || -e "${devices[-1]}" ]] || return 0
  for pid in $(as_root lsof -t "${devices[@]}" 2>/dev/null | sort -u); do
    [[ "$pid" == "$$" ]] && continue
    echo "worker.sh: killing stale process $pid holding the TPU" >>"$LOG"
    as_root kill -9 "$pid" || true
  done
}

copy_logs() {
  [[ "$RUN_DIR" == gs://* ]] || return 0
  local files=("$LOG")
  [[ -f "$EXIT_FILE" ]] && files+=("$EXIT_FILE")
  gcloud storage cp "${files[@]}" "${RUN_DIR%/}/logs/" >>"$LOG" 2>&1 || echo "worker.sh: copying the log to $RUN_DIR/logs/ failed" >>"$LOG"
}

child=""
stopping=0
trap 'stopping=1; [[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null' TERM INT

attempt=0
while :; do
  clean_tpu
  echo "worker.sh: $(date -u +%FT%TZ) $HOST attempt $attempt: xstilts-jax $*" >>"$LOG"
  .venv/bin/xstilts-jax "$@" >>"$LOG" 2>&1 </dev/null &
  child=$!
  wait "$child"
  code=$?
  if [[ "$stopping" == 1 ]]; then # the signal interrupted `wait`: wait for the run to save and exit
    wait "$child"
    code=$?
  fi
  echo "worker.sh: $(date -u +%FT%TZ) $HOST attempt $attempt exited $code" >>"$LOG"
  if [[ "$code" == "$EXIT_PREEMPTED" && "$stopping" == 0 && "$attempt" -lt "$MAX_RELAUNCHES" ]]; then
    copy_logs
    attempt=$((attempt + 1))
    continue
  fi
  break
done
echo "$code" >"$EXIT_FILE.tmp" && mv "$EXIT_FILE.tmp" "$EXIT_FILE"
copy_logs
rm -f "$PID_FILE"
exit "$code"
