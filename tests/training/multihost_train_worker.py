"""One process of the 2-process training test: `xstilts-jax train` to the end, then again from its middle save.

argv: <run_dir> <steps> <train flags...>. The process joins the job from XSTILTS_COORDINATOR /
XSTILTS_NUM_PROCESSES / XSTILTS_PROCESS_ID (the CLI calls `initialize_from_config`). After the
first run, host 0 moves the last checkpoint to <run_dir>.uninterrupted/<steps> and removes DONE,
so the second run restores the middle checkpoint on every host and trains the last steps again.
"""

import shutil
import sys
from pathlib import Path

from xstilts_jax.cli import main

run_dir, steps, flags = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
assert main(["train", *flags]) == 0

import jax
from jax.experimental import multihost_utils

assert jax.process_count() == 2 and jax.device_count() == 8, (jax.process_count(), jax.device_count())
if jax.process_index() == 0:
    kept = Path(f"{run_dir}.uninterrupted")
    kept.mkdir()
    shutil.move(str(run_dir / "checkpoints" / steps), str(kept / steps))
    (run_dir / "DONE").unlink()
multihost_utils.sync_global_devices("last checkpoint moved aside")
assert main(["train", *flags]) == 0
