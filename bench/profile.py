"""Where the time of a jitted step goes: a `jax.profiler` trace, grouped by model part.

The trace (Perfetto JSON, written by `jax.profiler.trace(..., create_perfetto_trace=True)`)
has one event per executed XLA op (`args.hlo_op`). Each op is looked up in the step's
compiled HLO text and grouped by its `op_name` metadata: forward or backward
(`transpose(jvp(...))`), inside the scanned transformer blocks (`while`, or `closed_call` when
the scan is unrolled) or not, the
embedding gradient (the scatter-add into the word table), the optimizer (ops outside
the differentiated function), buffer initialisation (broadcasts of constants). Ops run on
several threads at once, so shares are of the summed op time, not of wall time.

`bench.run` profiles the headline shape's padded train step with `profile_train_step` and
prints `format_profile`'s table (`run_benchmarks.profile = False` leaves it out).
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import re
import tempfile
from typing import Any, Callable, Mapping

import jax

_INSTRUCTION = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+?)(?:\{[^}]*\})? ([\w\-]+)\((.*)$")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_CONTAINERS = ("while", "conditional", "call")

PARTS = (
    "forward blocks: matmuls (projections, MLP, attention)",
    "forward blocks: elementwise (GELU, LayerNorm, softmax)",
    "backward blocks: matmuls",
    "backward blocks: elementwise",
    "scan bookkeeping (slicing stacked params / saved activations)",
    "forward: embeddings, head, loss",
    "backward: head, loss, embeddings (excl. word-table gradient)",
    "word-embedding gradient (scatter-add into the vocab table)",
    "optimizer: clipping + AdamW + update",
    "buffer initialisation (broadcast constants)",
    "other (copies)",
)


def hlo_instructions(hlo_text: str) -> dict[str, dict[str, str]]:
    """Instruction name → {shape, opcode, op_name} for every instruction in compiled HLO text."""
    out = {}
    for line in hlo_text.splitlines():
        m = _INSTRUCTION.match(line)
        if m:
            name, shape, opcode, rest = m.groups()
            op = _OP_NAME.search(rest)
            out[name] = {"shape": shape, "opcode": opcode, "op_name": op.group(1) if op else ""}
    return out


def classify(instruction: Mapping[str, str], vocab_rows: int) -> str:
    """The model part (one of `PARTS`) an executed op belongs to."""
    op_name, shape, opcode = instruction["op_name"], instruction["shape"], instruction["opcode"]
    backward = "transpose(jvp" in op_name
    if backward and re.match(rf"f32\[{vocab_rows},\d+\]", shape) and ("scatter" in op_name or "_take" in op_name):
        return PARTS[7]
    # scanned blocks run in a `while` loop; an unrolled scan (`EncoderConfig.scan_unroll`) inlines
    # its body as a `closed_call`
    in_blocks = "/while" in op_name or "/closed_call" in op_name
    if in_blocks and "jvp" in op_name:
        if "dynamic_slice" in op_name or "dynamic_update_slice" in op_name or "index_in_dim" in op_name:
            return PARTS[4]
        matmul = opcode == "dot" or "dot_general" in op_name
        return PARTS[(2 if backward else 0) + (0 if matmul else 1)]
    if backward:
        return PARTS[6]
    if "jvp(" in op_name:
        return PARTS[5]
    if not op_name and opcode == "fusion" and "broadcast" in instruction.get("name", ""):
        return PARTS[9]
    if op_name.startswith("jit(") or op_name in ("reduce_sum", "reduce_window_max"):
        return PARTS[8]
    return PARTS[10]


def trace_op_times(trace_dir: str) -> dict[str, float]:
    """Summed duration (µs) of every executed HLO op in the Perfetto trace under `trace_dir`."""
    files = glob.glob(f"{trace_dir}/**/perfetto_trace.json.gz", recursive=True)
    if not files:
        raise FileNotFoundError(f"No perfetto_trace.json.gz under {trace_dir}; was the trace written?")
    with gzip.open(files[0]) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    totals: dict[str, float] = collections.defaultdict(float)
    for e in events:
        op = (e.get("args") or {}).get("hlo_op")
        if e.get("ph") == "X" and op and not op.split(".")[0] in _CONTAINERS:
            totals[op] += float(e.get("dur", 0.0))
    return dict(totals)


def profile_parts(op_times: Mapping[str, float], hlo_text: str, vocab_rows: int) -> dict[str, Any]:
    """Group op times by model part: ms per step is filled by the caller; here µs and shares."""
    instructions = hlo_instructions(hlo_text)
    parts: dict[str, float] = collections.defaultdict(float)
    top: list[tuple[float, str, str]] = []
    for op, us in op_times.items():
        info = dict(instructions.get(op, {"shape": "", "opcode": "", "op_name": ""}), name=op)
        part = classify(info, vocab_rows)
        parts[part] += us
        top.append((us, op, part))
    total = sum(parts.values()) or 1.0
    return {
        "total_op_us": total,
        "parts": {p: {"us": parts[p], "share": parts[p] / total} for p in PARTS if parts.get(p)},
        "top_ops": [{"op": op, "part": part, "us": us} for us, op, part in sorted(top, reverse=True)[:10]],
    }


def profile_call(call: Callable[[], Any], hlo_text: str, vocab_rows: int, steps: int = 3) -> dict[str, Any]:
    """Trace `steps` runs of `call` (already compiled) and group the op time by model part, per step."""
    with tempfile.TemporaryDirectory() as tmp:
        with jax.profiler.trace(tmp, create_perfetto_trace=True):
            for _ in range(steps):
                call()
        times = trace_op_times(tmp)
    result = profile_parts(times, hlo_text, vocab_rows)
    result["steps"] = steps
    for entry in list(result["parts"].values()) + result["top_ops"]:
        entry["ms_per_step"] = entry.pop("us") / steps / 1e3
    result["total_op_ms_per_step"] = result.pop("total_op_us") / steps / 1e3
    return result


def profile_train_step(trainer: Any, batch: Mapping[str, Any], steps: int = 3) -> dict[str, Any]:
    """Profile a `bench.common.ProjectTrainer`'s step on `batch` (compiled first)."""
    trainer.step(batch)
    hlo_text = trainer.step_fn.lower(trainer.state, batch).compile().as_text()
    return profile_call(lambda: trainer.step(batch), hlo_text, trainer.config.vocab_size, steps)


def format_profile(profile: Mapping[str, Any], wall_ms: float | None = None) -> str:
    """A plain-text table: part, ms per step, share of op time."""
    lines = [f"{'part':<62}{'ms/step':>9}{'share':>8}"]
    for part, entry in profile["parts"].items():
        lines.append(f"{part:<62}{entry['ms_per_step']:>9.1f}{100 * entry['share']:>7.1f}%")
    total = f"{'sum of op time (ops overlap on threads)':<62}{profile['total_op_ms_per_step']:>9.1f}"
    lines.append(total + (f"   wall {wall_ms:.1f} ms/step" if wall_ms else ""))
    return "\n".join(lines)
