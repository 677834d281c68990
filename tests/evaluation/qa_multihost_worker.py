"""One process of the 2-process span QA test: decode `xquad.ro` (file source) over a mesh spanning both."""

import json
import sys

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")
port, process_id, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)

import tasks  # noqa: E402,F401  (registers the catalog)
from tasks import vocabulary  # noqa: E402
from xstilts_jax.data.task_records import heads_for  # noqa: E402
from xstilts_jax.evaluation.forward import EvalSettings  # noqa: E402
from xstilts_jax.evaluation.decoders import decode  # noqa: E402
from xstilts_jax.models import EncoderConfig, build_model  # noqa: E402
from xstilts_jax.partitioning import MeshConfig, Partitioner  # noqa: E402

config = EncoderConfig(name="tiny_test", vocab_size=vocabulary.MODEL_VOCABULARY.vocab_size, hidden_size=32, num_layers=2,
                       num_heads=4, mlp_dim=64, max_positions=66)
model = build_model(config, heads_for(["xquad.ro"]), seed=0)
settings = EvalSettings(8, 32, Partitioner.from_config(MeshConfig(data=2, fsdp=4, rules="fsdp")))
with open(f"{out}.{process_id}.json", "w") as f:
    json.dump(decode(model, "xquad.ro", "test", settings), f)
