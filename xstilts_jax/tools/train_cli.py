"""`xstilts-jax train`: one training phase from gin, t5x style.

    xstilts-jax train --gin_file=gin/models/xlmr_large.gin --gin_file=gin/runs/target.gin \\
        --gin.TASK="'udpos'" --gin.MODEL_DIR="'runs/udpos'" --gin.INIT_FROM="'checkpoints/xlmr_large'"

The run directory gets checkpoints/, tensorboard/, the operative gin config and a DONE marker
naming the checkpoint a later phase should load (the best by `TrainConfig.best_metric`, else the
last) and the settings it ran with. Rerunning the command resumes from the latest complete checkpoint;
rerunning a finished run with other settings is refused (use a new MODEL_DIR).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import gin
from etils import epath
import jax

from xstilts_jax.experiments.pipeline import check_settings, mark_done, model_for, phase_settings
from xstilts_jax.experiments.tables import format_phase
from xstilts_jax.gin_utils import require_bound
from xstilts_jax.tools.gin_command import start_gin_command
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.trainer import TrainConfig, train


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TrainRun:
    """Where one phase writes (`model_dir`) and what it starts from (`init_from`: a converted
    checkpoint, an earlier phase's checkpoints/ directory or one of its step directories; None = random init)."""

    model_dir: str = ""
    init_from: str | None = None

    def __post_init__(self) -> None:
        require_bound(self.model_dir, "TrainRun.model_dir (MODEL_DIR)", "--gin.MODEL_DIR=\"'runs/x'\"")


def write_operative_config(directory: Path | epath.Path) -> None:
    """Save the operative gin config beside the run (first host only)."""
    if jax.process_index() == 0:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "operative_config.gin").write_text(gin.operative_config_str())


def run_settings(run: TrainRun, config: EncoderConfig, train_config: TrainConfig) -> dict[str, object]:
    """The settings a finished run records in DONE and a rerun must match (the mesh may change)."""
    return phase_settings(model=config, train=train_config, optimizer=OptimizerConfig(), init_from=run.init_from)


def main(argv: Sequence[str]) -> int:
    """Train one phase as the gin files and overrides describe."""
    start_gin_command("xstilts-jax train", __doc__, argv)
    run, config, train_config = TrainRun(), EncoderConfig(), TrainConfig()
    mesh_config = MeshConfig()
    directory = epath.Path(run.model_dir)  # a local directory or gs://
    settings = run_settings(run, config, train_config)
    check_settings(directory, settings)  # before anything is built or written: a finished run with other settings is refused
    model = model_for(config, [train_config.task], train_config.seed, run.init_from, mesh_config)
    result = train(model, directory, train_config, mesh_config, OptimizerConfig())
    summary = {
        "phase": "train", "task": train_config.task, "steps": result.steps, "train_loss": result.train_loss,
        "eval": dict(result.eval_metrics), "best_step": result.best_step, "checkpoint": result.checkpoint,
        "seconds": round(result.seconds, 1), "settings": settings,
    }
    write_operative_config(directory)
    mark_done(directory, summary)
    print(format_phase(summary))
    return 0
