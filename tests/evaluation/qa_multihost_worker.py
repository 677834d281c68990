"""One process of the 2-process span QA test: decode `xquad.ro` (file source) over a mesh spanning both.

argv: <out>. The process joins the job from XSTILTS_COORDINATOR / XSTILTS_NUM_PROCESSES /
XSTILTS_PROCESS_ID and writes its (gold, predictions) to <out>.<process index>.json.
"""

import json
import sys

from xstilts_jax.distributed import initialize_from_config

assert initialize_from_config()

import jax  # noqa: E402
from tiny import catalog_model, toy_eval_settings  # noqa: E402

import tasks  # noqa: E402,F401  (registers the catalog)
from xstilts_jax.evaluation.decoders import decode  # noqa: E402

with open(f"{sys.argv[1]}.{jax.process_index()}.json", "w") as f:
    json.dump(decode(catalog_model("xquad.ro"), "xquad.ro", "test", toy_eval_settings()), f)
