"""A fake `gcloud` for the tpu_scripts tests: records every call and plays a scripted TPU.

Environment: FAKE_GCLOUD_DIR holds `calls.jsonl` (one JSON argv per call) and two scripts, one
entry a line, each consumed in turn, the last one repeated: `states` (what `queued-resources
describe` prints) and `statuses` (the answer of the status ssh: `running`, `drop` — an ssh that
fails with 255 — or `exit CODE CODE ...`, one code per worker). `tpu-vm describe` reports 2 workers.
Ctrl-C kills it at once (the default SIGINT action, not Python's KeyboardInterrupt, which can be lost in
the interpreter's shutdown; bash then takes the child for one that handled SIGINT and ignores it).
"""

import json
import os
import signal
import sys
from pathlib import Path

WORKERS = 2


def next_entry(path: Path, default: str) -> str:
    """The next line of a script file (the last one stays)."""
    if not path.exists():
        return default
    lines = path.read_text().splitlines() or [default]
    if len(lines) > 1:
        path.write_text("\n".join(lines[1:]) + "\n")
    return lines[0]


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    state = Path(os.environ["FAKE_GCLOUD_DIR"])
    with open(state / "calls.jsonl", "a") as f:
        f.write(json.dumps(argv) + "\n")
    words = [a for a in argv if not a.startswith("-")]
    command = next((a.split("=", 1)[1] for a in argv if a.startswith("--command=")), "")
    if words[2:4] == ["queued-resources", "describe"]:
        print(next_entry(state / "states", "ACTIVE"))
    elif words[2:4] == ["tpu-vm", "describe"]:
        print(WORKERS)
    elif words[2:4] == ["tpu-vm", "ssh"] and "xstilts-exit" in command:
        status = next_entry(state / "statuses", "running").split()
        if status[0] == "drop":
            print("Connection closed by remote host", file=sys.stderr)
            return 255
        for i in range(WORKERS):
            print(f"xstilts-exit {words[4]}-w-{i} {status[1 + i]}" if status[0] == "exit" else f"xstilts-running {words[4]}-w-{i}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
