"""Evaluation over 2 processes × 4 CPU devices gathers every host's predictions: equal to 1 process × 8
(retrieval too: embeddings stay sharded over both processes' devices, the search is sharded over them)."""

import json
import sys
from pathlib import Path

import pytest
from jobs import finish, job_envs, launch, process_env
from tiny import catalog_model, toy_eval_settings

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.evaluation.decoders import decode

WORKER = Path(__file__).with_name("multihost_worker.py")


@pytest.mark.slow
def test_two_process_predictions_equal_one_process(tmp_path, catalog_env):
    out = tmp_path / "pred"
    finish(launch([sys.executable, str(WORKER), str(out)], job_envs(process_env(4), 2)))
    per_process = [json.loads(Path(f"{out}.{i}.json").read_text()) for i in range(2)]
    assert per_process[0] == per_process[1]  # every host ends with all rows

    splits = {"udpos.de": "validation", "xcopa.zh": "test", "tatoeba.de": "test", "bucc2018.fr": "test"}
    model = catalog_model(*splits)
    settings = toy_eval_settings()
    expected = {task: decode(model, task, split, settings)[:2] for task, split in splits.items()}
    assert per_process[0] == json.loads(json.dumps(expected))
