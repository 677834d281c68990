"""Length-bucketed vs padded evaluation: one zero-shot pass of a target over its sample languages
through the project's own evaluation (`evaluate_tasks`: batches, forward, decoding, metrics), with
`EvalSettings.bucket_lengths` on and off, at a long input length (XTREME's 512 by default).

The sample dev sentences are short, as most XTREME sentences are, so the padded pass runs every
row at the full length while the bucketed one cuts each batch to its bucket. Both passes must give
the same scores (checked here); the ratio is padded pass time / bucketed pass time.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.common import BenchShape, interleaved_medians
from bench.eval_throughput import with_sample_catalog
from xstilts_jax.errors import ConfigError


def bucketed_eval_benchmark(shape: BenchShape, passes: int, target: str = "udpos", length: int = 512) -> dict[str, Any]:
    """Seconds per evaluation pass of `target` over its languages with sample data, bucketed vs padded to `length`."""

    import tasks  # noqa: F401  (registers the catalog)
    from tasks import catalog
    from xstilts_jax.data.task_records import expand_tasks, get_task_record, heads_for
    from xstilts_jax.evaluation.evaluator import evaluate_tasks
    from xstilts_jax.evaluation.forward import EvalSettings
    from xstilts_jax.models.model import build_model
    from xstilts_jax.partitioning import MeshConfig, Partitioner

    config = dataclasses.replace(shape.encoder_config(), max_positions=length + 2)
    if target not in catalog.TARGETS:
        raise ConfigError(f"Unknown target {target!r} for the bucketing benchmark; known: {sorted(catalog.TARGETS)}.")

    def run() -> dict[str, Any]:
        from tasks import sources

        tasks_ = [t for t in expand_tasks([f"{target}.all_langs"]) if _has_sample(t, sources)]
        splits = {t: get_task_record(t).scoring_split for t in tasks_}
        model = build_model(config, heads_for(tasks_), seed=0)
        partitioner = Partitioner.from_config(MeshConfig())  # every device on the fsdp axis (data parallel for eval)
        bucketed = EvalSettings(shape.batch_size, length, partitioner, bucket_lengths=True)
        padded = dataclasses.replace(bucketed, bucket_lengths=False)
        scores: dict[str, Any] = {}

        def run_pass(name: str, settings: EvalSettings) -> Any:
            return lambda _: scores.__setitem__(name, evaluate_tasks(model, tasks_, splits, settings))

        medians = interleaved_medians({"bucketed": run_pass("bucketed", bucketed), "padded": run_pass("padded", padded)}, passes)
        if scores["bucketed"] != scores["padded"]:
            raise AssertionError(f"bucketed and padded evaluation disagree: {scores}")
        return {
            "shape": shape.name, "target": target, "tasks": tasks_, "length": length, "batch": shape.batch_size,
            "passes": passes, "bucketed_pass_s": medians["bucketed"], "padded_pass_s": medians["padded"],
            "ratio": medians["padded"] / medians["bucketed"],
        }

    return with_sample_catalog(run)


def _has_sample(task: str, sources: Any) -> bool:
    """Whether the sample data holds `task`'s scoring split (languages without sample files are skipped)."""
    from xstilts_jax.data.task_records import get_provider, get_task_record

    try:
        split = get_task_record(task).scoring_split
        next(iter(get_provider(task).get_dataset({"inputs": 64}, split=split, shuffle=False, num_epochs=1)))
        return True
    except ConfigError:
        return False


if __name__ == "__main__":
    import json

    print(json.dumps(bucketed_eval_benchmark(BenchShape(name="tiny", model="tiny", batch_size=16), passes=3), indent=1))
