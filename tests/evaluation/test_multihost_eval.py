"""Evaluation over 2 processes × 4 CPU devices gathers every host's predictions: equal to 1 process × 8."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import tasks  # noqa: F401  (registers the catalog)
from tasks import vocabulary
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.evaluation.decoders import decode
from xstilts_jax.models import build_model
from xstilts_jax.partitioning import MeshConfig, Partitioner

WORKER = Path(__file__).with_name("multihost_worker.py")
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_predictions_equal_one_process(tmp_path, catalog_env, catalog_vocab_dir, tiny_config):
    env = dict(os.environ, XSTILTS_DATA_DIR=str(catalog_env), XSTILTS_VOCAB_DIR=str(catalog_vocab_dir))
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    env["PYTHONPATH"] = str(REPO)
    port, out = _free_port(), tmp_path / "pred"
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), str(port), str(i), str(out)], cwd=REPO, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-3000:] for log in logs)
    per_process = [json.loads(Path(f"{out}.{i}.json").read_text()) for i in range(2)]
    assert per_process[0] == per_process[1]  # every host ends with all rows

    config = tiny_config.replace(vocab_size=vocabulary.MODEL_VOCABULARY.vocab_size)
    tasks_ = ("udpos.de", "xcopa.zh")
    model = build_model(config, {get_task_record(t).head: get_task_record(t).spec for t in tasks_}, seed=0)
    settings = EvalSettings(8, 32, Partitioner.from_config(MeshConfig(data=2, fsdp=4, rules="fsdp")))
    expected = {"udpos.de": decode(model, "udpos.de", "validation", settings), "xcopa.zh": decode(model, "xcopa.zh", "test", settings)}
    assert per_process[0] == json.loads(json.dumps(expected))
