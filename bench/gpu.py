"""Accelerator benchmark: the bf16 train step of a large shape (xlmr_large, seq 512), MFU from
analytic FLOPs and the device's peak, beside HF PyTorch on the same device when torch sees one.

FLOPs are analytic (DESIGN.md), from `xstilts_jax.planning.flops.train_step_flops`: 6 FLOPs
per matmul weight per token plus attention; every position counts (padded batches).
MFU = FLOPs per step / step time / peak dense bf16 FLOP/s of the device (`PEAK_BF16_FLOPS`,
matched on `jax.Device.device_kind`; bind `accelerator_benchmark.peak` for a device not in the table).
"""

from __future__ import annotations

import itertools
from typing import Any

import gin
import jax

from bench.common import NUM_CLASSES, BenchShape, hf_trainer, interleaved_medians, padded_batches, project_trainer, to_torch
from xstilts_jax.errors import ConfigError
from xstilts_jax.models import HeadSpec
from xstilts_jax.planning.flops import train_step_flops


# Dense (non-sparse) bf16 peak FLOP/s from the vendors' data sheets, by device-kind substring.
# More specific names first: "H100 PCIe" must match before "H100".
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100", 989.4e12),  # SXM
    ("H200", 989.4e12),
    ("GH200", 989.4e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("L4", 121e12),
    ("TPU v4", 275e12),
    ("TPU v5 lite", 197e12),  # v5e
    ("TPU v5e", 197e12),
    ("TPU v5p", 459e12),
    ("TPU v5", 459e12),
    ("TPU v6", 918e12),  # Trillium (v6e)
)


def peak_flops(device_kind: str) -> float | None:
    """Peak dense bf16 FLOP/s of a device kind, or None when the table does not know it."""
    for name, peak in PEAK_BF16_FLOPS:
        if name.lower() in device_kind.lower():
            return peak
    return None


@gin.configurable
def accelerator_benchmark(shape: BenchShape, steps: int, peak: float | None = None, warmup: int = 2) -> dict[str, Any]:
    """Step time, tokens/s and MFU of the project's step on the default JAX device; HF beside it on
    the matching torch device when there is one (else `hf` records why it did not run)."""
    import torch

    if shape.dtype not in ("bfloat16", "float32"):
        raise ConfigError(f"BenchShape {shape.name!r}: dtype {shape.dtype!r}; use bfloat16 (accelerators) or float32.")
    config = shape.encoder_config()
    device = jax.devices()[0]
    batches = list(itertools.islice(padded_batches(config, shape.batch_size, shape.seq_len, seed=0), 2))
    project = project_trainer(config, HeadSpec("classification", NUM_CLASSES))
    calls = {"project": lambda i: project.step(batches[i % 2])}
    torch_device = "cuda" if device.platform == "gpu" and torch.cuda.is_available() else None
    if device.platform == "cpu":
        torch_device = "cpu"
    hf_note = None
    if torch_device is not None:
        hf = hf_trainer(config, NUM_CLASSES, torch_device, shape.dtype)
        torch_batches = [to_torch(b, config.pad_id, torch_device) for b in batches]
        calls["hf"] = lambda i: hf.step(torch_batches[i % 2])
    else:
        hf_note = f"torch {torch.__version__} sees no device of platform {device.platform!r}; HF not run"
    medians = interleaved_medians(calls, steps, warmup)
    flops = train_step_flops(config, shape.batch_size, shape.seq_len, head="classification").total
    peak = peak if peak is not None else peak_flops(device.device_kind)
    tokens = shape.batch_size * shape.seq_len
    sides = {
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
        "peak_flops": peak,
        "flops_per_step": flops,
        "steps": steps,
        **sides,
        "ratio": None if "step_s" not in sides.get("hf", {}) else sides["hf"]["step_s"] / sides["project"]["step_s"],
    }
