#!/usr/bin/env bash
# Startup script of every TPU worker (pod.sh create sets it as the `startup-script` metadata).
# After a reboot (maintenance, repair) it restarts tpu_scripts/worker.sh, as the user who launched
# it, for every run on this worker that has not finished: no exit code yet, or 75 (preempted).
# The run resumes from its checkpoints. XSTILTS_HOMES (default /home) is where it looks.
set -uo pipefail

HOST="$(hostname)"
for job in "${XSTILTS_HOMES:-/home}"/*/xstilts-run/job.sh; do
  [[ -f "$job" ]] || continue
  exit_file="$(dirname "$job")/$HOST.exit"
  if [[ -f "$exit_file" && "$(cat "$exit_file")" != 75 ]]; then
    continue # finished or crashed: nothing to resume
  fi
  owner="$(stat -c %U "$job")"
  echo "startup.sh: relaunching $job as $owner"
  if [[ "$owner" == "$(id -un)" ]]; then
    setsid nohup bash "$job" >/dev/null 2>&1 </dev/null &
  else
    sudo -u "$owner" -H setsid nohup bash "$job" >/dev/null 2>&1 </dev/null &
  fi
done
