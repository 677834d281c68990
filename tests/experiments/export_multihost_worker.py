"""One process of the 2-process export test: export the tiny model, sharded over both hosts, twice into the
same directory (the second replaces the first), then load it back onto the mesh and print a checksum.

argv: <export dir> <seed>. The process joins the job from XSTILTS_COORDINATOR / XSTILTS_NUM_PROCESSES /
XSTILTS_PROCESS_ID.
"""

import sys

from xstilts_jax.distributed import initialize_from_config

assert initialize_from_config()

import jax  # noqa: E402  (after joining the job)
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402
from tiny import TINY_CONFIG, TOY_MESH  # noqa: E402

from xstilts_jax.checkpoints.export import export_params  # noqa: E402
from xstilts_jax.checkpoints.run import load_encoder_from  # noqa: E402
from xstilts_jax.models import HeadSpec  # noqa: E402
from xstilts_jax.partitioning import Partitioner  # noqa: E402
from xstilts_jax.training.model_init import build_sharded_model  # noqa: E402

HEADS = {"cls": HeadSpec("classification", num_labels=3)}
directory, seed = sys.argv[1], int(sys.argv[2])
assert jax.process_count() == 2 and jax.device_count() == 8, (jax.process_count(), jax.device_count())
partitioner = Partitioner.from_config(TOY_MESH)
model = build_sharded_model(TINY_CONFIG, HEADS, seed, partitioner)
for _ in range(2):
    export_params(directory, model, source=f"{directory}/../checkpoints/7")
loaded = load_encoder_from(directory, build_sharded_model(TINY_CONFIG, HEADS, seed + 1, partitioner), require_heads=True)
sums = jax.jit(lambda tree: jax.tree.map(lambda x: x.astype("float32").sum(), tree))(nnx.to_pure_dict(nnx.state(loaded, nnx.Param)))
print("checksum", float(np.sum([float(x) for x in jax.tree.leaves(sums)])))
