"""`xstilts-jax eval`: zero-shot evaluation of a checkpoint on tasks (every language of a target).

    xstilts-jax eval --gin_file=gin/models/xlmr_large.gin --gin_file=gin/runs/eval.gin \\
        --gin.CHECKPOINT="'runs/udpos/checkpoints/1000'" --gin.EVAL_TASKS="['udpos.all_langs']" \\
        --gin.EVAL_DIR="'runs/udpos/eval'"

Writes predictions/<task>.<split>.json and scores.json into the eval directory and prints the
per-task table. Each task is scored on its dev split, or test where it has no dev split. The
checkpoint must hold every eval task's trained head (a fresh one would score noise); CHECKPOINT=None
scores a randomly initialized model on purpose.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import gin
from etils import epath

from xstilts_jax.data.task_records import expand_tasks
from xstilts_jax.evaluation.evaluator import evaluate_and_write
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.experiments.pipeline import model_for
from xstilts_jax.gin_utils import require_bound
from xstilts_jax.tools.gin_command import start_gin_command
from xstilts_jax.experiments.tables import format_scores
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.partitioning import MeshConfig, Partitioner
from xstilts_jax.tools.train_cli import write_operative_config


@gin.configurable
@dataclasses.dataclass(frozen=True)
class EvalRun:
    """What to score: a checkpoint (None = random init), the tasks, where to write, batch and length."""

    checkpoint: str | None = None
    eval_tasks: Sequence[str] = ()
    eval_dir: str = ""
    batch_size: int = 32
    length: int | None = None

    def __post_init__(self) -> None:
        if self.checkpoint is gin.REQUIRED:  # None is allowed: a randomly initialized model
            require_bound(self.checkpoint, "EvalRun.checkpoint (CHECKPOINT)", "--gin.CHECKPOINT=\"'runs/x/checkpoints/100'\"")
        require_bound(self.eval_tasks or None, "EvalRun.eval_tasks (EVAL_TASKS)", "--gin.EVAL_TASKS=\"['xnli.all_langs']\"")
        require_bound(self.eval_dir, "EvalRun.eval_dir (EVAL_DIR)", "--gin.EVAL_DIR=\"'runs/x/eval'\"")


def main(argv: Sequence[str]) -> int:
    """Score the checkpoint on every eval task and write predictions and scores."""
    start_gin_command("xstilts-jax eval", __doc__, argv)
    run, config, mesh_config = EvalRun(), EncoderConfig(), MeshConfig()
    tasks = expand_tasks(run.eval_tasks)
    settings = EvalSettings(run.batch_size, run.length, Partitioner.from_config(mesh_config))
    # a checkpoint must bring every scored head: a freshly initialized one would score noise
    model = model_for(config, tasks, 0, run.checkpoint, mesh_config, settings.representation, require_heads=True)
    scores = evaluate_and_write(model, tasks, settings, run.eval_dir, checkpoint=run.checkpoint)
    write_operative_config(epath.Path(run.eval_dir))
    print(format_scores(f"scores of {run.checkpoint or 'a randomly initialized model'}", scores))
    return 0
