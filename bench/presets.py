"""Train-step throughput of one model shape under each partitioning preset, side by side.

`python -m bench.presets [--model tiny]` runs every preset in this one process on the same
model, batch and devices (8 host CPU devices unless a TPU/GPU is present), prints tokens/s
and the ratio to data-parallel, and writes bench/results/presets-<timestamp>.json. Timings exclude compilation (first step).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path
from typing import Iterator

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from xstilts_jax.models import HeadSpec, build_model  # noqa: E402
from xstilts_jax.models.ladder import model_config  # noqa: E402
from xstilts_jax.partitioning import RULES_PRESETS, MeshConfig, Partitioner  # noqa: E402
from xstilts_jax.training.optimizer import OptimizerConfig  # noqa: E402
from xstilts_jax.training.step_builder import build_train_step  # noqa: E402


def synthetic_batches(vocab_size: int, pad_id: int, batch: int, length: int, seed: int) -> Iterator[dict[str, np.ndarray]]:
    """Endless padded classification batches over word ids 4..51 whose label is (first word id) mod 3."""
    rng = np.random.default_rng(seed)
    while True:
        ids = rng.integers(4, min(52, vocab_size), size=(batch, length)).astype(np.int32)
        lengths = rng.integers(length // 2, length + 1, size=batch)
        for i, n in enumerate(lengths):
            ids[i, 0], ids[i, n - 1], ids[i, n:] = 0, 2, pad_id
        yield {"input_ids": ids, "labels": (ids[:, 1] % 3).astype(np.int32)}


MESHES = {
    "data_parallel": MeshConfig(data=-1, fsdp=1, tensor=1, rules="data_parallel"),
    "fsdp": MeshConfig(data=1, fsdp=-1, tensor=1, rules="fsdp"),
    "fsdp_tensor": MeshConfig(data=1, fsdp=-1, tensor=2, rules="fsdp_tensor"),
}


def time_preset(preset: str, model_name: str, batch_size: int, seq_len: int, steps: int) -> dict[str, float]:
    """Median step time and tokens/s of the train step under one preset."""
    config = model_config(model_name, dropout_rate=0.0)
    model = build_model(config, {"c": HeadSpec("classification", 3)}, seed=0)
    partitioner = Partitioner.from_config(MESHES[preset])
    train_step = build_train_step(model, OptimizerConfig(learning_rate=1e-4), partitioner, steps + 1, dropout=False)
    state = train_step.init_state()
    batch = next(synthetic_batches(config.vocab_size, config.pad_id, batch_size, seq_len, seed=0))
    step = train_step.jit("c")
    state, metrics = step(state, batch)  # compile
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    median = float(np.median(times))
    return {"step_s": median, "tokens_per_s": batch_size * seq_len / median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    results = {p: time_preset(p, args.model, args.batch_size, args.seq_len, args.steps) for p in RULES_PRESETS}
    base = results["data_parallel"]["tokens_per_s"]
    print(f"model {args.model}, batch {args.batch_size} x {args.seq_len}, {jax.device_count()} {jax.devices()[0].platform} devices")
    print(f"{'preset':<15}{'step ms':>10}{'tokens/s':>12}{'vs data_parallel':>18}")
    for preset, r in results.items():
        print(f"{preset:<15}{1e3 * r['step_s']:>10.1f}{r['tokens_per_s']:>12.0f}{r['tokens_per_s'] / base:>17.2f}x")
    out = {
        "benchmark": "train_step_by_preset",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count(),
                    "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}"},
        "args": vars(args),
        "results": results,
        "ratios_vs_data_parallel": {p: r["tokens_per_s"] / base for p, r in results.items()},
    }
    path = Path(__file__).parent / "results" / f"presets-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
