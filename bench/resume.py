"""Restart cost: time to the first batch after a resume at step N, replaying the data vs restoring
the saved tf.data iterator state (`xstilts_jax/data/iterator_state.py`).

The pipeline is the trainer's (`training_batches`): a catalog task read from the shipped sample
data (`udpos` by default: tasks/data, tokenized by a SentencePiece model trained on the shipped
multilingual sample, as the evaluation benchmark does), shuffled, through the padded feature
converter, one host's batches. One iterator is run to each step in `steps` and its state saved
there (a local directory, as the Checkpointer's `data_iterators/` item holds it). Then, for each
step, from a fresh pipeline (its construction included in both times):
- replay: pull the N consumed batches again, then the next one (the resume path of checkpoints
  written before iterator state was saved, and of sources tf.data cannot checkpoint);
- restore: read the saved state, then the next one.
Both must hand out the batch the uninterrupted run got at step N + 1 (checked, not timed).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import gin
import numpy as np
from etils import epath

from xstilts_jax.data.batches import BatchSpec, training_batches
from xstilts_jax.errors import ConfigError


def _first_batch_after(spec: BatchSpec, pad_id: int, offset: int, directory: Path | None, step: int) -> tuple[float, dict]:
    """Seconds from a fresh pipeline to its first batch after `step` (restored from `directory`, or replayed)."""
    started = time.perf_counter()
    batches = training_batches(spec, pad_id, offset)
    batches.restore(None if directory is None else epath.Path(directory), step)
    batch = next(batches)
    return time.perf_counter() - started, batch


@gin.configurable
def resume_benchmark(
    task: str = "udpos", steps: Sequence[int] = (10, 100, 1000), batch_size: int = 8, length: int = 64
) -> dict[str, Any]:
    """Time to the first batch after a resume at each of `steps`, replay vs iterator restore."""
    from bench.eval_throughput import with_sample_catalog

    steps = sorted(steps)
    if not steps or steps[0] < 1:
        raise ConfigError(f"resume_benchmark.steps must be positive step numbers, got {list(steps)}.")
    spec = BatchSpec(task=task, split="train", length=length, batch_size=batch_size, seed=0)

    def run() -> dict[str, Any]:
        from tasks import vocabulary

        pad_id = vocabulary.MODEL_VOCABULARY.pad_id
        offset = pad_id + 1
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            batches = training_batches(spec, pad_id, offset)
            reached = time.perf_counter()
            expected = {}
            for step in steps:
                while batches.consumed < step:
                    next(batches)
                batches.save(epath.Path(tmp) / str(step))
                expected[step] = next(batches)
            first_pass = time.perf_counter() - reached
            for step in steps:
                saved = Path(tmp) / str(step)
                size = sum(f.stat().st_size for f in saved.rglob("*") if f.is_file())
                replay_s, replayed = _first_batch_after(spec, pad_id, offset, None, step)
                restore_s, restored = _first_batch_after(spec, pad_id, offset, saved, step)
                for got in (replayed, restored):
                    if any(not np.array_equal(got[k], expected[step][k]) for k in expected[step]):
                        raise RuntimeError(f"resume at step {step} did not continue the uninterrupted run")
                rows.append({"step": step, "replay_s": replay_s, "restore_s": restore_s, "state_bytes": size,
                             "ratio": replay_s / restore_s})
                print_resume_row(rows[-1], header=len(rows) == 1)
        return {"task": task, "batch": [batch_size, length], "first_pass_s": first_pass, "rows": rows,
                "ratio": rows[-1]["ratio"]}

    return with_sample_catalog(run)


def print_resume_row(row: dict[str, Any], header: bool = False) -> None:
    """One step's restart cost."""
    if header:
        print(f"{'step':>7}{'replay s':>11}{'restore s':>11}{'state KiB':>11}{'replay/restore':>16}")
    print(f"{row['step']:>7}{row['replay_s']:>11.2f}{row['restore_s']:>11.2f}{row['state_bytes'] / 1024:>11.0f}"
          f"{row['ratio']:>15.1f}x")
