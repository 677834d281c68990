"""Padded train step, project vs Hugging Face XLM-R (PyTorch, SDPA), same shape, batch and machine.

Both sides: the classification model of one `BenchShape`, no dropout, AdamW (lr 1e-4,
weight decay 0.01) after global-norm clipping at 1.0, fp32 on CPU. They train on the
same padded batches (lengths uniform in [seq_len / 2, seq_len]); steps take turns
(`interleaved_medians`). tokens/s counts every position of the padded batch.
"""

from __future__ import annotations

import itertools
from typing import Any

from bench.common import (
    NUM_CLASSES,
    BenchShape,
    hf_trainer,
    interleaved_medians,
    padded_batches,
    project_trainer,
    real_tokens,
    to_torch,
)
from xstilts_jax.models import HeadSpec

POOL = 4  # distinct batches cycled through


def side(step_s: float, positions: int, real: int) -> dict[str, float]:
    """Step time and throughput figures of one side."""
    return {"step_s": step_s, "tokens_per_s": positions / step_s, "real_tokens_per_s": real / step_s}


def padded_train_benchmark(shape: BenchShape, steps: int, warmup: int = 1) -> dict[str, Any]:
    """Median step time and tokens/s of both train steps on `shape`, and their ratio (project / HF)."""
    config = shape.encoder_config()
    batches = list(itertools.islice(padded_batches(config, shape.batch_size, shape.seq_len, seed=0), POOL))
    torch_batches = [to_torch(b, config.pad_id) for b in batches]
    project = project_trainer(config, HeadSpec("classification", NUM_CLASSES))
    hf = hf_trainer(config, NUM_CLASSES)
    medians = interleaved_medians(
        {
            "project": lambda i: project.step(batches[i % POOL]),
            "hf": lambda i: hf.step(torch_batches[i % POOL]),
        },
        steps,
        warmup,
    )
    positions = shape.batch_size * shape.seq_len
    real = sum(real_tokens(b, config.pad_id) for b in batches) // POOL
    result = {name: side(s, positions, real) for name, s in medians.items()}
    hf.phases = hf.phases[warmup:]
    result["hf"]["phases"] = hf.phase_medians()
    return {
        "shape": shape.name,
        "batch": [shape.batch_size, shape.seq_len],
        "steps": steps,
        **result,
        "ratio": result["project"]["tokens_per_s"] / result["hf"]["tokens_per_s"],
    }
