"""`xstilts-jax run --gin_file=gin/experiments/X.gin`: the three phases, recorded in the results store."""

from __future__ import annotations

import argparse
import subprocess
from typing import Sequence

import gin

from xstilts_jax.experiments.pipeline import Experiment, run_experiment
from xstilts_jax.experiments.results import ResultsStore, RunInfo, results_db
from xstilts_jax.gin_utils import REPO_ROOT, add_gin_flags, parse_gin, split_gin_overrides
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.tools.param_count import count_params
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.trainer import TrainConfig


def git_commit() -> str:
    """The repository's HEAD commit, or "" outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def run_from_gin() -> dict[str, dict[str, float]]:
    """Build everything from the parsed gin config, run the experiment, record its scores."""
    config, mesh, optimizer, experiment = EncoderConfig(), MeshConfig(), OptimizerConfig(), Experiment()
    intermediate = None
    if experiment.intermediate is not None:
        with gin.config_scope("intermediate"):
            intermediate = TrainConfig()
    with gin.config_scope("target"):
        target = TrainConfig()
    scores = run_experiment(
        experiment, config, mesh, intermediate_train=intermediate, target_train=target, optimizer=optimizer
    )
    run_id = str(experiment.target_dir(config.name))
    with ResultsStore(results_db()) as store:
        store.record_run(
            RunInfo(
                run_id=run_id, model=config.name, model_params=count_params(config), target=experiment.target,
                intermediate=experiment.intermediate or "none", seed=experiment.seed,
                gin_config=gin.operative_config_str(), git_commit=git_commit(),
            )
        )  # fmt: skip
        for task, result in scores.items():
            values = {k: v for k, v in result.items() if k != "split"}
            store.record_scores(run_id, "eval", task, str(result["split"]), {task.split(".", 1)[1]: values})
    print(f"\nzero-shot scores ({run_id}):")
    for task, result in scores.items():
        shown = "  ".join(f"{k} {v:6.2f}" for k, v in result.items() if k != "split")
        print(f"  {task:<14} {result['split']:<10} {shown}")
    print(f"results recorded in {results_db()}")
    return scores


def main(argv: Sequence[str]) -> int:
    """Parse gin files and overrides, then run the experiment they describe."""
    argv, bindings = split_gin_overrides(argv)
    parser = argparse.ArgumentParser(prog="xstilts-jax run", description=__doc__)
    add_gin_flags(parser)
    args = parser.parse_args(argv)
    if not args.gin_file:
        parser.error("give at least one --gin_file (e.g. gin/experiments/demo.gin)")
    gin.clear_config()
    parse_gin(args.gin_file, bindings, args.gin_search_path)
    run_from_gin()
    return 0
