"""Dev evaluation during training: score the current model on a phase's eval tasks.

Metrics are named `eval/<task>/<metric>`; with several tasks, `eval/mean/<metric>` is the plain
mean over the tasks that report that metric (e.g. a target's English dev set plus other
languages' dev sets). Best-checkpoint selection names one of these (`TrainConfig.best_metric`). Every call scores with
the same cached forward (`evaluation.forward`), so only the first dev evaluation of a run compiles.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from xstilts_jax.data.label_kinds import InputLengths
from xstilts_jax.data.task_records import expand_tasks, get_task_record
from xstilts_jax.evaluation.evaluator import evaluate_tasks
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.models.model import Model
from xstilts_jax.partitioning import Partitioner

EvalFn = Callable[[Model, int], Mapping[str, float]]


def flatten_scores(scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """{task: {metric: v}} → {"eval/<task>/<metric>": v} plus "eval/mean/<metric>" over several tasks."""
    flat = {f"eval/{task}/{metric}": float(v) for task, values in scores.items() for metric, v in values.items()}
    if len(scores) > 1:
        metrics = sorted({m for values in scores.values() for m in values})
        for metric in metrics:
            values = [float(v[metric]) for v in scores.values() if metric in v]
            flat[f"eval/mean/{metric}"] = float(np.mean(values))
    return flat


def dev_evaluator(
    eval_tasks: Sequence[str], batch_size: int, length: int | None, partitioner: Partitioner, input_lengths: InputLengths
) -> EvalFn | None:
    """An EvalFn scoring `eval_tasks` (mixtures expanded) on their dev split, at `length` or each
    task's default from `input_lengths`; None without tasks."""
    if not eval_tasks:
        return None
    tasks = expand_tasks(eval_tasks)
    splits = {task: get_task_record(task).scoring_split for task in tasks}
    settings = EvalSettings(batch_size, length, partitioner, input_lengths)

    def evaluate(model: Model, step: int) -> dict[str, float]:
        return flatten_scores(evaluate_tasks(model, tasks, splits, settings))

    return evaluate
