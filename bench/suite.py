"""The benchmark suite `bench.run` executes: each comparison in turn, its table printed.

`run_benchmarks` is bound by gin (bench/gin/cpu.gin, bench/gin/gpu.gin); see bench/run.py.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import gin

from bench.common import BenchShape
from xstilts_jax.errors import ConfigError


def _section(title: str) -> float:
    print(f"\n== {title} ==", flush=True)
    return time.perf_counter()


def _done(start: float) -> None:
    print(f"({time.perf_counter() - start:.0f} s)", flush=True)


def print_padded(results: Sequence[dict[str, Any]], header: bool = True) -> None:
    """Rows of the padded train-step comparison, HF's phases under each."""
    if header:
        print(f"{'shape':<12}{'batch':>9}{'project ms':>12}{'HF ms':>10}{'project tok/s':>15}{'HF tok/s':>11}{'ratio':>8}")
    for r in results:
        p, h = r["project"], r["hf"]
        batch = "x".join(map(str, r["batch"]))
        print(
            f"{r['shape']:<12}{batch:>9}{1e3 * p['step_s']:>12.1f}{1e3 * h['step_s']:>10.1f}"
            f"{p['tokens_per_s']:>15.0f}{h['tokens_per_s']:>11.0f}{r['ratio']:>7.2f}x"
        )
        ph = h.get("phases")
        if ph:
            print(
                f"{'':<12}HF step: forward {1e3 * ph['forward_s']:.1f} ms, backward {1e3 * ph['backward_s']:.1f} ms, "
                f"clip + AdamW {1e3 * ph['optimizer_s']:.1f} ms"
            )


def print_packing(r: dict[str, Any]) -> None:
    """Table of the packing comparison."""
    lengths = r["lengths"]
    print(
        f"shape {r['shape']}, {r['batch'][0]} rows x {r['batch'][1]}; XNLI-like lengths: mean {lengths['mean']:.1f}, "
        f"median {lengths['median']:.0f}, max {lengths['max']}; rows filled {100 * r['packed_fill']:.0f}% packed, "
        f"{100 * r['padded_fill']:.0f}% padded"
    )
    print(f"{'side':<16}{'step ms':>10}{'real tokens/step':>18}{'real tok/s':>12}")
    for name in ("project_packed", "project_padded", "hf_padded", "hf_dynamic"):
        s = r[name]
        print(f"{name:<16}{1e3 * s['step_s']:>10.1f}{s['real_tokens_per_batch']:>18.0f}{s['real_tokens_per_s']:>12.0f}")
    print(
        f"packed_ratio (project packed / HF padded) = {r['ratio']:.2f}x; vs HF dynamic padding "
        f"{r['ratio_vs_hf_dynamic']:.2f}x; project packed / project padded {r['project_packed_vs_padded']:.2f}x"
    )


def print_eval(r: dict[str, Any]) -> None:
    """Summary of the evaluation comparison."""
    print(
        f"{r['target']} zero-shot over {', '.join(r['languages'])}: {r['batches']} batches of "
        f"{r['batch'][0]}x{r['batch'][1]}, {r['real_tokens_per_pass']} real tokens per pass"
    )
    print(
        f"project {r['project']['tokens_per_s']:.0f} tok/s ({r['project']['pass_s']:.2f} s/pass), "
        f"HF {r['hf']['tokens_per_s']:.0f} tok/s ({r['hf']['pass_s']:.2f} s/pass); eval_ratio = {r['ratio']:.2f}x"
    )


def print_input_pipeline(r: dict[str, Any]) -> None:
    """Summary of the input pipeline benchmark."""
    stream, lines, need = r["stream"], r["mlm_lines_packed"], r["need"]
    print(f"{r['batch'][0]} rows x {r['batch'][1]} per host batch; documents per language {r['documents']}")
    print(
        f"document stream: {stream['real_tokens_per_s']:.0f} real tokens/s per host, fill {100 * stream['fill']:.1f}%; "
        f"mlm lines packed (<= {lines['max_segments']} per row): fill {100 * lines['fill']:.1f}%"
    )
    print(
        f"{need['model']} on {need['topology']} ({need['hosts']} hosts) at {100 * need['mfu']:.0f}% MFU needs "
        f"{need['tokens_per_s_per_host']:.0f} tokens/s per host; input_ratio (delivered / needed) = {r['ratio']:.1f}x"
    )


def print_accelerator(r: dict[str, Any]) -> None:
    """Summary of the accelerator benchmark."""
    print(f"{r['shape']} {r['dtype']} batch {r['batch'][0]}x{r['batch'][1]} on {r['device']}")
    for name in ("project", "hf"):
        s = r.get(name, {})
        if "skipped" in s:
            print(f"{name:<8} not run: {s['skipped']}")
        elif s:
            mfu = "n/a (no peak for this device)" if s["mfu"] is None else f"{100 * s['mfu']:.1f}%"
            print(
                f"{name:<8} {1e3 * s['step_s']:.1f} ms/step, {s['tokens_per_s']:.0f} tok/s, "
                f"{s['tflops_per_s']:.1f} TFLOP/s, MFU {mfu}"
            )


@gin.configurable
def run_benchmarks(
    shapes: Sequence[BenchShape] = (),
    headline_shape: str | None = None,
    packing_shape: BenchShape | None = None,
    eval_shape: BenchShape | None = None,
    eval_target: str = "udpos",
    eval_batches_per_language: int = 2,
    train_steps: int = 8,
    eval_passes: int = 5,
    profile: bool = True,
    accelerator_shape: BenchShape | None = None,
    accelerator_steps: int = 10,
    input_pipeline: bool = True,
    resume: bool = True,
    eval_buckets_shape: BenchShape | None = None,
    eval_buckets_passes: int = 3,
) -> dict[str, Any]:
    """Run the configured benchmarks, print each table and ratio, return everything for the JSON."""
    from bench.eval_throughput import eval_benchmark
    from bench.gpu import accelerator_benchmark
    from bench.hf_compare import padded_train_benchmark
    from bench.packing import packing_benchmark
    from bench.profile import format_profile, profile_train_step

    names = [s.name for s in shapes]
    if headline_shape is not None and headline_shape not in names:
        raise ConfigError(f"run_benchmarks.headline_shape={headline_shape!r} is not among the shapes {names}.")
    out: dict[str, Any] = {
        "padded_ratio": None, "packed_ratio": None, "eval_ratio": None, "input_ratio": None, "resume_ratio": None,
    }
    if shapes:
        start = _section("padded train step, project vs HF XLM-R (PyTorch, SDPA), tokens/s = all positions")
        padded = []
        for shape in shapes:
            padded.append(padded_train_benchmark(shape, train_steps))
            print_padded(padded[-1:], header=len(padded) == 1)
        out["padded"] = padded
        out["padded_ratios"] = {r["shape"]: r["ratio"] for r in padded}
        out["padded_ratio"] = out["padded_ratios"][headline_shape or names[-1]]
        out["headline_shape"] = headline_shape or names[-1]
        _done(start)
    if packing_shape is not None:
        start = _section("packing: real (non-pad) tokens/s, project packed vs HF padded")
        out["packing"] = packing_benchmark(packing_shape, train_steps)
        out["packed_ratio"] = out["packing"]["ratio"]
        print_packing(out["packing"])
        _done(start)
    if eval_shape is not None:
        start = _section("evaluation throughput: project jitted forward vs HF inference (torch.inference_mode)")
        out["eval"] = eval_benchmark(eval_shape, eval_passes, eval_target, eval_batches_per_language)
        out["eval_ratio"] = out["eval"]["ratio"]
        print_eval(out["eval"])
        _done(start)
    if eval_buckets_shape is not None:
        from bench.eval_buckets import bucketed_eval_benchmark

        start = _section("evaluation pass: batches bucketed by length vs padded to 512 (same scores)")
        out["eval_buckets"] = r = bucketed_eval_benchmark(eval_buckets_shape, eval_buckets_passes, eval_target)
        print(
            f"{r['target']} over {', '.join(r['tasks'])}, batch {r['batch']}, length {r['length']}: bucketed "
            f"{r['bucketed_pass_s']:.2f} s/pass, padded {r['padded_pass_s']:.2f} s/pass; bucket_ratio = {r['ratio']:.2f}x"
        )
        _done(start)
    if profile and shapes:
        from bench.common import NUM_CLASSES, padded_batches, project_trainer
        from xstilts_jax.models import HeadSpec

        shape = next(s for s in shapes if s.name == out["headline_shape"])
        start = _section(f"profile: the project's padded train step, {shape.name} (jax.profiler trace)")
        config = shape.encoder_config()
        trainer = project_trainer(config, HeadSpec("classification", NUM_CLASSES))
        prof = profile_train_step(trainer, next(padded_batches(config, shape.batch_size, shape.seq_len, 0)))
        out["profile"] = {"shape": shape.name, **prof}
        wall = next(r["project"]["step_s"] for r in out["padded"] if r["shape"] == shape.name)
        print(format_profile(prof, 1e3 * wall))
        _done(start)
    if input_pipeline:
        from bench.input_pipeline import input_pipeline_benchmark

        start = _section("input pipeline: one host's pretraining batches (CC-100 layout, alpha-sampled, stream rows)")
        out["input_pipeline"] = input_pipeline_benchmark()
        out["input_ratio"] = out["input_pipeline"]["ratio"]
        print_input_pipeline(out["input_pipeline"])
        _done(start)
    if resume:
        from bench.resume import resume_benchmark

        start = _section("resume: time to the first batch after a restart at step N, data replay vs iterator restore")
        out["resume"] = resume_benchmark()
        out["resume_ratio"] = out["resume"]["ratio"]
        _done(start)
    if accelerator_shape is not None:
        start = _section("accelerator: bf16 train step, MFU from analytic FLOPs")
        out["accelerator"] = accelerator_benchmark(accelerator_shape, accelerator_steps)
        print_accelerator(out["accelerator"])
        _done(start)
    return out
