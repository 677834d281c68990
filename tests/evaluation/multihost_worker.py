"""One process of the 2-process evaluation test: predict tasks over a mesh spanning both processes.

argv: <out>. The process joins the job from XSTILTS_COORDINATOR / XSTILTS_NUM_PROCESSES /
XSTILTS_PROCESS_ID and writes its predictions to <out>.<process index>.json.
"""

import json
import sys

from xstilts_jax.distributed import initialize_from_config

assert initialize_from_config()

import jax  # noqa: E402
from tiny import catalog_model, toy_eval_settings  # noqa: E402

import tasks  # noqa: E402,F401  (registers the catalog)
from xstilts_jax.evaluation.decoders import decode  # noqa: E402

SPLITS = {"udpos.de": "validation", "xcopa.zh": "test", "tatoeba.de": "test", "bucc2018.fr": "test"}
assert jax.process_count() == 2 and jax.device_count() == 8
model = catalog_model(*SPLITS)
result = {task: decode(model, task, split, toy_eval_settings())[:2] for task, split in SPLITS.items()}  # (gold, predicted)
with open(f"{sys.argv[1]}.{jax.process_index()}.json", "w") as f:
    json.dump(result, f)
