"""Packing: real (non-padding) tokens/s of the project's packed train step vs HF padded batches.

Example lengths follow a stated XNLI-like distribution (no XNLI sample ships in
tasks/data): an XLM-R sentence pair `<s> premise </s></s> hypothesis </s>` (4 special
tokens) whose premise and hypothesis lengths in subword tokens are log-normal with
medians `premise_median` and `hypothesis_median` and log-space spread `sigma`, cut to the
row length. The defaults (24 and 12 subwords, sigma 0.5; mean about 45 tokens) are this
benchmark's assumption of MNLI/XNLI-sized pairs, not a fit to data; bind other values with
gin (`xnli_like_lengths.premise_median = ...`).

Both sides see the same examples in the same order and run the same number of rows per
step: the project packs them with `PackedEncoderFeatureConverter` (at most `max_segments`
per row); HF pads each example to the row length (as XTREME's classification scripts
do), and, reported beside it, to the longest example of its batch (dynamic padding).
The project's own padded step on the same padded batches is reported too, to separate
the gain of packing from the speed of the step.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import gin
import numpy as np

from bench.common import (
    NUM_CLASSES,
    Batch,
    BenchShape,
    hf_trainer,
    interleaved_medians,
    project_trainer,
    random_ids,
    real_tokens,
    to_torch,
)
from xstilts_jax.data.label_kinds import IGNORE_LABEL
from xstilts_jax.models import HeadSpec
from xstilts_jax.models.config import EncoderConfig

SPECIAL_TOKENS = 4  # <s> premise </s></s> hypothesis </s>


@gin.configurable
def xnli_like_lengths(
    n: int,
    max_length: int,
    seed: int = 0,
    premise_median: float = 24.0,
    hypothesis_median: float = 12.0,
    sigma: float = 0.5,
) -> np.ndarray:
    """`n` sentence-pair lengths in tokens (specials included), at most `max_length` (see module docstring)."""
    rng = np.random.default_rng(seed)
    premise = np.rint(rng.lognormal(np.log(premise_median), sigma, n))
    hypothesis = np.rint(rng.lognormal(np.log(hypothesis_median), sigma, n))
    lengths = np.maximum(premise, 1) + np.maximum(hypothesis, 1) + SPECIAL_TOKENS
    return np.minimum(lengths, max_length).astype(np.int64)


def examples(config: EncoderConfig, lengths: np.ndarray, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """One classification example per length: XLM-R-style ids and a label."""
    rng = np.random.default_rng(seed)
    out = []
    for n in lengths:
        ids = random_ids(rng, config, np.array([n]), int(n))[0]
        out.append({"inputs": ids, "targets": np.int32(rng.integers(0, NUM_CLASSES))})
    return out


def packed_rows(config: EncoderConfig, exs: list[dict[str, np.ndarray]], seq_len: int, max_segments: int) -> list[Batch]:
    """The examples packed into rows by the project's feature converter, in order."""
    import tensorflow as tf  # here, not at import: the GPU benchmark imports this module without TensorFlow

    from xstilts_jax.data.feature_converters import PackedEncoderFeatureConverter

    ds = tf.data.Dataset.from_generator(
        lambda: iter(exs),
        output_signature={"inputs": tf.TensorSpec([None], tf.int32), "targets": tf.TensorSpec([], tf.int32)},
    )
    converter = PackedEncoderFeatureConverter(
        pad_id=config.pad_id, label_kind="class", max_segments=max_segments, position_offset=config.position_offset
    )
    return list(converter(ds, {"inputs": seq_len}).as_numpy_iterator())


def next_fit_rows(config: EncoderConfig, exs: list[dict[str, np.ndarray]], seq_len: int, max_segments: int) -> list[Batch]:
    """The rows `packed_rows` builds (seqio's next-fit, in order), in NumPy: the GPU machine has no
    TensorFlow. Every example must fit in a row (`xnli_like_lengths` cuts them to the row length)."""
    rows: list[list[dict[str, np.ndarray]]] = [[]]
    used = 0
    for ex in exs:
        n = len(ex["inputs"])
        if n > seq_len:
            raise ValueError(f"next_fit_rows: an example of {n} tokens does not fit a row of {seq_len}.")
        if used + n > seq_len or len(rows[-1]) == max_segments:
            rows.append([])
            used = 0
        rows[-1].append(ex)
        used += n
    out = []
    for row in rows:
        ids = np.full(seq_len, config.pad_id, np.int32)
        segments = np.zeros(seq_len, np.int32)
        positions = np.full(seq_len, config.position_offset - 1, np.int32)
        labels = np.full(max_segments, IGNORE_LABEL, np.int32)
        cls = np.zeros(max_segments, np.int32)
        start = 0
        for i, ex in enumerate(row):
            n = len(ex["inputs"])
            ids[start : start + n], segments[start : start + n] = ex["inputs"], i + 1
            positions[start : start + n] = np.arange(n) + config.position_offset
            labels[i], cls[i] = ex["targets"], start
            start += n
        out.append({"input_ids": ids, "labels": labels, "segment_ids": segments, "positions": positions, "cls_positions": cls})
    return out


def padded_rows(config: EncoderConfig, exs: list[dict[str, np.ndarray]], width: int) -> Batch:
    """Examples padded to `width` tokens, one per row."""
    ids = np.full((len(exs), width), config.pad_id, np.int32)
    for i, ex in enumerate(exs):
        ids[i, : len(ex["inputs"])] = ex["inputs"]
    return {"input_ids": ids, "labels": np.array([ex["targets"] for ex in exs], np.int32)}


def batched(rows: list[Batch], batch_size: int) -> Iterator[Batch]:
    """Full batches of `batch_size` rows (a last partial batch is dropped)."""
    for start in range(0, len(rows) - batch_size + 1, batch_size):
        chunk = rows[start : start + batch_size]
        yield {k: np.stack([r[k] for r in chunk]) for k in chunk[0]}


Packer = Callable[[EncoderConfig, list[dict[str, np.ndarray]], int, int], list[Batch]]


def packing_benchmark(
    shape: BenchShape,
    steps: int,
    max_segments: int = 8,
    warmup: int = 1,
    device: str = "cpu",
    pack: Packer = packed_rows,
) -> dict[str, Any]:
    """Real tokens/s: project packed vs HF padded to the row length (`ratio`), plus HF dynamic
    padding and the project's padded step on the same padded batches. HF runs on torch `device`
    in the shape's dtype; `pack` builds the project's rows (`next_fit_rows` where TensorFlow is missing)."""
    config = shape.encoder_config()
    b, L = shape.batch_size, shape.seq_len
    exs = examples(config, xnli_like_lengths(b * (steps + warmup) * max_segments, L))
    packed = list(batched(pack(config, exs, L, max_segments), b))[: steps + warmup]
    used = sum(int(np.sum(p["segment_ids"] > 0)) for p in packed)
    # HF sees the same examples: as many as the packed batches hold, b per padded batch.
    n_packed = sum(int(np.sum(p["labels"] >= 0)) for p in packed)
    padded_exs = [exs[i : i + b] for i in range(0, n_packed - b + 1, b)]
    fixed = [padded_rows(config, chunk, L) for chunk in padded_exs]
    dynamic = [padded_rows(config, chunk, max(len(e["inputs"]) for e in chunk)) for chunk in padded_exs]
    fixed_t = [to_torch(x, config.pad_id, device) for x in fixed]
    dynamic_t = [to_torch(x, config.pad_id, device) for x in dynamic]

    head = HeadSpec("classification", NUM_CLASSES)
    project_packed, project_padded = project_trainer(config, head), project_trainer(config, head)
    hf = hf_trainer(config, NUM_CLASSES, device, shape.dtype)
    medians = interleaved_medians(
        {
            "project_packed": lambda i: project_packed.step(packed[i % len(packed)]),
            "project_padded": lambda i: project_padded.step(fixed[i % len(fixed)]),
            "hf_padded": lambda i: hf.step(fixed_t[i % len(fixed_t)]),
            "hf_dynamic": lambda i: hf.step(dynamic_t[i % len(dynamic_t)]),
        },
        steps,
        warmup,
    )
    real_per_batch = {
        "project_packed": used / len(packed),
        "project_padded": sum(real_tokens(x, config.pad_id) for x in fixed) / len(fixed),
        "hf_padded": sum(real_tokens(x, config.pad_id) for x in fixed) / len(fixed),
        "hf_dynamic": sum(real_tokens(x, config.pad_id) for x in dynamic) / len(dynamic),
    }
    sides = {
        name: {"step_s": s, "real_tokens_per_batch": real_per_batch[name], "real_tokens_per_s": real_per_batch[name] / s}
        for name, s in medians.items()
    }
    lengths = np.array([len(e["inputs"]) for e in exs])
    rate = {name: entry["real_tokens_per_s"] for name, entry in sides.items()}
    return {
        "shape": shape.name,
        "batch": [b, L],
        "dtype": shape.dtype,
        "hf_device": device,
        "steps": steps,
        "max_segments": max_segments,
        "lengths": {"mean": float(lengths.mean()), "median": float(np.median(lengths)), "max": int(lengths.max())},
        "packed_fill": used / (len(packed) * b * L),
        "padded_fill": real_per_batch["hf_padded"] / (b * L),
        **sides,
        "ratio": rate["project_packed"] / rate["hf_padded"],
        "ratio_vs_hf_dynamic": rate["project_packed"] / rate["hf_dynamic"],
        "project_packed_vs_padded": rate["project_packed"] / rate["project_padded"],
    }
