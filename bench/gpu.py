"""Accelerator benchmark: the project beside HF PyTorch on one GPU (or TPU), bf16, written as JSON.

    python -m bench.gpu [--out DIR] [--steps 10]          # DIR defaults to $OUT, else bench/results

Three measures, each side by side with HF `transformers` on the same device and batches when torch
sees it (else `hf` records why not):

1. `train`: the `xlmr_large` train step, bf16 compute (fp32 params), 16 × 512 padded rows: step time,
   tokens/s and MFU = analytic FLOPs (`xstilts_jax.planning.flops.train_step_flops`; every position
   counts) / step time / the device's peak dense bf16 FLOP/s (the planner's table,
   `xstilts_jax.planning.topology.chip_for_device_kind`; `--peak` for a device not in it);
2. `packed`: real (non-pad) tokens/s of the packed project step vs HF padded to the row length
   (bench/packing.py, XNLI-like pair lengths, rows of 256, batch 32);
3. `eval`: real tokens/s of the jitted inference forward vs HF under `torch.inference_mode`.

The attention kernel is the platform's (`EncoderConfig.attention = "auto"`: cuDNN on a GPU); the train
step is also timed with XLA's attention (`train_xla_attention`) to show what the fused kernel gives.
The JSON is rewritten after each measure, so a run stopped early keeps what it finished.

This module and what it imports need no TensorFlow, seqio or TFDS (the GPU machine has none):
`tests/bench` imports it with them blocked.
"""

from __future__ import annotations

import os

# JAX takes 75% of GPU memory at its first use by default; HF shares the GPU in this process.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime as dt  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Sequence  # noqa: E402

import gin  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import (  # noqa: E402
    NUM_CLASSES,
    BenchShape,
    hf_model,
    hf_trainer,
    interleaved_medians,
    machine_info,
    padded_batches,
    project_forward,
    project_trainer,
    real_tokens,
    to_torch,
    utc_now,
)
from xstilts_jax.errors import ConfigError  # noqa: E402
from xstilts_jax.models import HeadSpec  # noqa: E402
from xstilts_jax.models.attention import resolve_attention  # noqa: E402
from xstilts_jax.planning.flops import train_step_flops  # noqa: E402
from xstilts_jax.planning.topology import chip_for_device_kind  # noqa: E402

RESULTS_DIR = Path(__file__).parent / "results"
TRAIN_SHAPE = BenchShape(name="xlmr_large_bf16", model="xlmr_large", batch_size=16, seq_len=512, dtype="bfloat16")
PACKED_SHAPE = BenchShape(name="xlmr_large_bf16_packed", model="xlmr_large", batch_size=32, seq_len=256, dtype="bfloat16")


def peak_flops(device_kind: str) -> float | None:
    """Peak dense bf16 FLOP/s of a device kind from the planner's table, or None when it does not know it."""
    chip = chip_for_device_kind(device_kind)
    return None if chip is None else chip.peak_flops


def torch_device_for(device: jax.Device) -> tuple[str | None, str | None]:
    """The torch device matching the JAX device (None, reason when torch cannot run there)."""
    import torch

    if device.platform == "cpu":
        return "cpu", None
    if device.platform == "gpu" and torch.cuda.is_available():
        return "cuda", None
    return None, f"torch {torch.__version__} sees no device of platform {device.platform!r}; HF not run"


@gin.configurable
def accelerator_benchmark(shape: BenchShape, steps: int, peak: float | None = None, warmup: int = 2) -> dict[str, Any]:
    """Step time, tokens/s and MFU of the project's padded train step on the default JAX device; HF
    beside it on the matching torch device when there is one (else `hf` records why it did not run)."""
    if shape.dtype not in ("bfloat16", "float32"):
        raise ConfigError(f"BenchShape {shape.name!r}: dtype {shape.dtype!r}; use bfloat16 (accelerators) or float32.")
    config = shape.encoder_config()
    device = jax.devices()[0]
    batches = list(itertools.islice(padded_batches(config, shape.batch_size, shape.seq_len, seed=0), 2))
    project = project_trainer(config, HeadSpec("classification", NUM_CLASSES))
    calls = {"project": lambda i: project.step(batches[i % 2])}
    torch_device, hf_note = torch_device_for(device)
    if torch_device is not None:
        hf = hf_trainer(config, NUM_CLASSES, torch_device, shape.dtype)
        torch_batches = [to_torch(b, config.pad_id, torch_device) for b in batches]
        calls["hf"] = lambda i: hf.step(torch_batches[i % 2])
    medians = interleaved_medians(calls, steps, warmup)
    flops = train_step_flops(config, shape.batch_size, shape.seq_len, head="classification").total
    peak = peak if peak is not None else peak_flops(device.device_kind)
    tokens = shape.batch_size * shape.seq_len
    sides: dict[str, Any] = {
        name: {
            "step_s": s,
            "tokens_per_s": tokens / s,
            "tflops_per_s": flops / s / 1e12,
            "mfu": None if peak is None else flops / s / peak,
        }
        for name, s in medians.items()
    }
    if hf_note:
        sides["hf"] = {"skipped": hf_note}
    return {
        "shape": shape.name,
        "batch": [shape.batch_size, shape.seq_len],
        "dtype": shape.dtype,
        "device": f"{device.platform}: {device.device_kind}",
        "attention": resolve_attention(config.attention).name,
        "peak_flops": peak,
        "flops_per_step": flops,
        "steps": steps,
        **sides,
        "ratio": None if "step_s" not in sides.get("hf", {}) else sides["hf"]["step_s"] / sides["project"]["step_s"],
    }


def eval_benchmark(shape: BenchShape, steps: int, warmup: int = 2) -> dict[str, Any]:
    """Real tokens/s of the project's jitted classification forward vs HF inference on the same padded batches."""
    import torch

    config = shape.encoder_config()
    batches = list(itertools.islice(padded_batches(config, shape.batch_size, shape.seq_len, seed=1), 2))
    forward = project_forward(config, HeadSpec("classification", NUM_CLASSES))
    calls = {"project": lambda i: forward(batches[i % 2])}
    torch_device, hf_note = torch_device_for(jax.devices()[0])
    if torch_device is not None:
        model = hf_model(config, "classification", NUM_CLASSES, torch_device).eval()
        torch_batches = [to_torch(b, config.pad_id, torch_device) for b in batches]
        sync = torch.cuda.synchronize if torch_device == "cuda" else (lambda: None)

        def hf_forward(i: int) -> None:
            b = torch_batches[i % 2]
            with torch.inference_mode(), torch.autocast(torch_device, torch.bfloat16, enabled=shape.dtype == "bfloat16"):
                model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
            sync()

        calls["hf"] = hf_forward
    medians = interleaved_medians(calls, steps, warmup)
    real = float(np.mean([real_tokens(b, config.pad_id) for b in batches]))
    sides: dict[str, Any] = {name: {"batch_s": s, "real_tokens_per_s": real / s} for name, s in medians.items()}
    if hf_note:
        sides["hf"] = {"skipped": hf_note}
    ratio = None if "batch_s" not in sides.get("hf", {}) else sides["hf"]["batch_s"] / sides["project"]["batch_s"]
    return {"shape": shape.name, "batch": [shape.batch_size, shape.seq_len], "dtype": shape.dtype, **sides, "ratio": ratio}


def packed_benchmark(shape: BenchShape, steps: int) -> dict[str, Any]:
    """bench/packing.py on the accelerator, rows packed in NumPy (no TensorFlow here)."""
    from bench.packing import next_fit_rows, packing_benchmark

    torch_device, note = torch_device_for(jax.devices()[0])
    if torch_device is None:
        return {"skipped": note}
    return packing_benchmark(shape, steps, warmup=2, device=torch_device, pack=next_fit_rows)


def run(
    out_dir: Path,
    steps: int,
    peak: float | None,
    measures: Sequence[str],
    train_shape: BenchShape = TRAIN_SHAPE,
    packed_shape: BenchShape = PACKED_SHAPE,
) -> Path:
    """Run the measures in order, rewriting one JSON in `out_dir` after each; returns its path."""
    device = jax.devices()[0]
    result: dict[str, Any] = {
        "date": utc_now(),
        "command": " ".join(["python -m bench.gpu", *sys.argv[1:]]),
        "device_kind": device.device_kind,
        "platform": device.platform,
        "machine": machine_info(),
    }
    xla_attention = dataclasses.replace(train_shape, overrides={**train_shape.overrides, "attention": "xla"})
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"gpu-{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}.json"
    plan = {
        "train": lambda: accelerator_benchmark(train_shape, steps, peak),
        "packed": lambda: packed_benchmark(packed_shape, steps),
        "eval": lambda: eval_benchmark(train_shape, steps),
        "train_xla_attention": lambda: accelerator_benchmark(xla_attention, steps, peak),
    }
    for name in measures:
        if name not in plan:
            raise ConfigError(f"--measures: unknown measure {name!r}; choose from {sorted(plan)}.")
        print(f"== {name} ==", flush=True)
        result[name] = plan[name]()
        result["finished"] = utc_now()
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(summary(name, result[name])), flush=True)
    return path


def summary(name: str, r: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of one measure, for the log."""
    if "skipped" in r:
        return {name: r["skipped"]}
    if name.startswith("train"):
        return {name: {side: r[side].get("mfu", r[side].get("skipped")) for side in ("project", "hf")}, "ratio": r["ratio"]}
    return {name: r["ratio"]}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, run, print where the JSON is."""
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.environ.get("OUT") or str(RESULTS_DIR), help="directory for the JSON ($OUT on the device machine)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measure (after 2 warm-up steps)")
    parser.add_argument("--peak", type=float, help="peak bf16 FLOP/s of a device the planner's table does not know")
    parser.add_argument("--measures", default="train,packed,eval,train_xla_attention", help="comma-separated, run in this order")
    args = parser.parse_args(argv)
    path = run(Path(args.out), args.steps, args.peak, [m for m in args.measures.split(",") if m])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
