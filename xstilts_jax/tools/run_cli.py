"""`xstilts-jax run --gin_file=gin/experiments/X.gin`: the three phases, recorded in the results store.

The target's record supplies what gin leaves unbound: the training task and eval tasks
(`Experiment`), the target phase's recipe (`target/TrainConfig`) and its learning rate
(`OptimizerConfig.learning_rate`). The MLM phase has its own recipe in gin scope `mlm`
(`gin/runs/pretrain.gin`).
"""

from __future__ import annotations

import sqlite3
import subprocess
from typing import Any, Sequence

import gin
import jax

from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.evaluator import metric_values
from xstilts_jax.experiments.mixtures import register_mixtures
from xstilts_jax.experiments.pipeline import Experiment, run_experiment, target_phase_defaults
from xstilts_jax.experiments.results.records import RunInfo
from xstilts_jax.experiments.results.store import ResultsStore, results_db
from xstilts_jax.experiments.targets import find_target, system_name
from xstilts_jax.gin_utils import REPO_ROOT
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.tools.gin_command import start_gin_command
from xstilts_jax.models.param_count import count_params
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.trainer import TrainConfig


def git_commit() -> str:
    """The repository's HEAD commit, or "" outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _bound(scope: str, configurable: str, parameter: str) -> bool:
    """Whether gin binds `configurable.parameter` in `scope` (or unscoped, which applies in every scope)."""
    for key in (f"{scope}/{configurable}.{parameter}", f"{configurable}.{parameter}"):
        try:
            gin.query_parameter(key)
            return True
        except ValueError:
            continue
    return False


def _unbound(scope: str, configurable: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """The defaults gin does not bind (gin bindings override a record's defaults)."""
    return {name: value for name, value in defaults.items() if not _bound(scope, configurable, name)}


def phase_config(scope: str, task: str | None, defaults: dict[str, Any] | None = None) -> TrainConfig | None:
    """The phase's TrainConfig from gin scope `scope`, its task fixed by the Experiment and the
    `defaults` gin leaves unbound filled in (None: no such phase)."""
    if task is None:
        return None
    with gin.config_scope(scope):
        return TrainConfig(task=task, **_unbound(scope, "TrainConfig", defaults or {}))


def phase_configs(experiment: Experiment) -> dict[str, TrainConfig]:
    """The TrainConfig of each training phase `experiment` runs (mlm, intermediate, target), from the current gin."""
    configs = {
        "mlm": phase_config("mlm", experiment.mlm),
        "intermediate": phase_config("intermediate", experiment.intermediate),
        "target": phase_config("target", experiment.target_train, target_phase_defaults(experiment.target)),
    }
    return {phase: config for phase, config in configs.items() if config is not None}


def _optimizer(target: str) -> OptimizerConfig:
    """The OptimizerConfig from gin, with the target recipe's learning rate unless gin binds one."""
    record = find_target(target)
    defaults = {} if record is None else {"learning_rate": record.recipe.learning_rate}
    return OptimizerConfig(**_unbound("", "OptimizerConfig", defaults))


def _pretraining_optimizer(mlm_task: str | None) -> OptimizerConfig | None:
    """The MLM phase's OptimizerConfig: gin scope `mlm` (`mlm/OptimizerConfig.*`, gin/runs/pretrain.gin)."""
    if mlm_task is None:
        return None
    with gin.config_scope("mlm"):
        return OptimizerConfig()


def _record(run_id: str, config: EncoderConfig, experiment: Experiment, scores: dict[str, dict[str, Any]]) -> None:
    """Store the run and its zero-shot scores in the results database."""
    with ResultsStore(results_db()) as store:
        store.record_run(
            RunInfo(
                run_id=run_id,
                model=config.name,
                model_params=count_params(config),
                target=experiment.target,
                intermediate=system_name(experiment.intermediate),
                seed=experiment.seed,
                gin_config=gin.operative_config_str(),
                git_commit=git_commit(),
            )
        )
        for task, result in scores.items():
            values = metric_values(result)
            if not values:  # not scored (its data lacks the split): nothing to record; the printed table says why
                continue
            store.record_scores(run_id, "eval", task, str(result["split"]), {get_task_record(task).language: values})


def run_from_gin() -> dict[str, dict[str, Any]]:
    """Build everything from the parsed gin config, run the experiment, record its scores."""
    register_mixtures()
    config, mesh, experiment = EncoderConfig(), MeshConfig(), Experiment()
    phases = phase_configs(experiment)
    scores = run_experiment(
        experiment,
        config,
        mesh,
        optimizer=_optimizer(experiment.target),
        mlm_optimizer=_pretraining_optimizer(experiment.mlm),
        mlm_train=phases.get("mlm"),
        intermediate_train=phases.get("intermediate"),
        target_train=phases.get("target"),
    )
    run_id = str(experiment.target_dir(config.name))
    if jax.process_index() == 0:
        try:
            _record(run_id, config, experiment, scores)
        except sqlite3.DatabaseError as e:
            raise ConfigError(
                f"results database {results_db()} cannot be written ({e}); the scores are in "
                f"{experiment.target_dir(config.name) / 'eval' / 'scores.json'}. Restore the database from a backup "
                "or bind a new results_db.path, then rerun (finished phases are skipped)."
            ) from e
        print(f"results recorded in {results_db()}")
    return scores


def main(argv: Sequence[str]) -> int:
    """Parse gin files and overrides, then run the experiment they describe."""
    start_gin_command("xstilts-jax run", __doc__, argv)
    run_from_gin()
    return 0
