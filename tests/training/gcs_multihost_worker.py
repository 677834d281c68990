"""One process of the 2-process gs:// test: `xstilts-jax train` into a bucket run directory to the end,
then again from its middle save; both hosts write a params-only export of the last checkpoint (each its own
shards); then process 0 records a result on the bucket and process 1 is refused.

argv: <run_dir (gs://)> <steps> <train flags...>. The process joins the job from XSTILTS_COORDINATOR /
XSTILTS_NUM_PROCESSES / XSTILTS_PROCESS_ID and reaches the emulator through the inherited environment.
"""

import sys

import jax
from jax.experimental import multihost_utils

from tiny import TOY_MESH

from xstilts_jax.checkpoints.export import export_params
from xstilts_jax.cli import main
from xstilts_jax.experiments.pipeline import model_for
from xstilts_jax.experiments.results.records import ResultsError, RunInfo
from xstilts_jax.experiments.results.store import ResultsStore
from xstilts_jax.models.ladder import model_config
from xstilts_jax.storage import as_path

run_dir, steps, flags = as_path(sys.argv[1]), sys.argv[2], sys.argv[3:]
assert main(["train", *flags]) == 0
assert jax.process_count() == 2 and jax.device_count() == 8, (jax.process_count(), jax.device_count())
if jax.process_index() == 0:
    kept = as_path(f"{run_dir}.uninterrupted")
    (kept / "README").write_text("the uninterrupted run's last checkpoint")  # a bucket has no empty directories
    (run_dir / "checkpoints" / steps).rename(kept / steps)
    (run_dir / "DONE").unlink()
multihost_utils.sync_global_devices("last checkpoint moved aside")
assert main(["train", *flags]) == 0

last = f"{sys.argv[1]}/checkpoints/{steps}"
export_params(f"{sys.argv[1]}/export", model_for(model_config("tiny"), ["udpos"], 0, last, TOY_MESH), source=last)
multihost_utils.sync_global_devices("exported")

db = f"{run_dir}/results.sqlite"
if jax.process_index() == 0:
    with ResultsStore(db) as store:
        store.record_run(RunInfo(run_id=str(run_dir), model="tiny", model_params=1, target="udpos", seed=0))
else:
    try:
        ResultsStore(db)
    except ResultsError as e:
        print(f"refused: {e}")
multihost_utils.sync_global_devices("results recorded")
