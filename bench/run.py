"""`make bench`: the project side by side with Hugging Face `transformers` XLM-R (PyTorch, SDPA).

One process, one run, the same machine, shapes and batches on both sides (configured by
gin; default `bench/gin/cpu.gin`):

1. padded train step, fp32, every shape in `run_benchmarks.shapes` (bench/hf_compare.py);
2. packing: real tokens/s of the packed project step vs HF padded batches (bench/packing.py);
3. evaluation: zero-shot pass of one target over its languages (bench/eval_throughput.py);
4. a profile of the headline shape's train step (bench/profile.py);
5. the pretraining input pipeline: real tokens/s per host and fill, against what a pod needs (bench/input_pipeline.py);
5b. restart cost: time to the first batch after a resume at step N, data replay vs iterator restore (bench/resume.py);
6. with `bench/gin/gpu.gin`: the bf16 accelerator benchmark with MFU (bench/gpu.py).

Prints every ratio (project / HF) and writes bench/results/<UTC timestamp>.json with
`padded_ratio` (headline shape), `packed_ratio`, `eval_ratio`, `input_ratio`, `resume_ratio` (replay / restore at
the largest step), the raw figures, machine and date.

    python -m bench.run [--threads=1] [--malloc=keep] [--gin_file=bench/gin/cpu.gin] [--gin.run_benchmarks.train_steps=4] [--out DIR]
"""

from __future__ import annotations

import os
import sys

from bench.malloc import keep_freed_memory

# Before anything starts a thread: `--malloc=keep` (the default) keeps freed heap memory (bench/malloc.py).
# Only as the program (`python -m bench.run`): importing this module changes nothing.
if __name__ != "__main__" or "--malloc=default" in sys.argv[1:]:
    MALLOC = "default"
else:
    MALLOC = "keep" if keep_freed_memory() else "default (not glibc)"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # on a GPU, HF shares the device with JAX

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Sequence  # noqa: E402

import gin  # noqa: E402

from bench.common import machine_info, utc_now  # noqa: E402
from bench.suite import run_benchmarks  # noqa: E402
from xstilts_jax.errors import ConfigError  # noqa: E402
from xstilts_jax.gin_utils import add_gin_flags, parse_gin, split_gin_overrides  # noqa: E402

DEFAULT_GIN = ["bench/gin/cpu.gin"]
RESULTS_DIR = Path(__file__).parent / "results"


def set_threads(threads: int) -> None:
    """Give XLA's CPU backend and torch the same number of threads (before JAX starts its backend).

    On a CPU shared with other processes, multi-threaded runs mostly measure the load:
    torch's OpenMP regions wait at every barrier for a descheduled thread. One thread per
    side compares the implementations; 0 measures each library as it comes.
    """
    if threads < 0:
        raise ConfigError(f"--threads must be >= 0, got {threads}.")
    if threads == 0:
        return
    import torch

    eigen = "true" if threads > 1 else "false"
    flags = f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={threads}"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    torch.set_num_threads(threads)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse gin, run, print the ratios, write the JSON."""
    raw = list(sys.argv[1:] if argv is None else argv)
    argv, bindings = split_gin_overrides(raw)
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_gin_flags(parser)
    parser.add_argument("--out", default=str(RESULTS_DIR), help="directory for the results JSON")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads of each side (XLA and torch): 1 (default) or N; 0 keeps each library's default (all cores)",
    )
    parser.add_argument(
        "--malloc",
        choices=("keep", "default"),
        default="keep",
        help="keep: glibc keeps freed memory for reuse (one arena, no mmap, no trim; bench/malloc.py); "
        "default: glibc's defaults. Applied at import, so only the command line sets it",
    )
    args = parser.parse_args(argv)
    set_threads(args.threads)
    gin.clear_config()
    parse_gin(args.gin_file or DEFAULT_GIN, bindings, args.gin_search_path)
    import jax

    started, machine = utc_now(), machine_info()
    if machine["load_average_1m"] > (machine["cpus"] or 1):
        print(f"note: load average {machine['load_average_1m']:.1f} on {machine['cpus']} CPUs; other processes skew the timings")
    devices = f"{jax.device_count()} x {jax.devices()[0].device_kind}"
    threads = args.threads or "library default"
    print(
        f"bench started {started} on {devices} (JAX), {threads} thread(s) per side, malloc {MALLOC}, "
        f"gin {args.gin_file or DEFAULT_GIN}"
    )
    results = run_benchmarks()
    out = {
        "date": started,
        "finished": utc_now(),
        "machine": machine,
        "load_average_1m_at_end": os.getloadavg()[0],
        "command": " ".join(["python -m bench.run", *raw]),
        "threads_per_side": args.threads or "library defaults",
        "malloc": MALLOC,
        "gin": gin.config_str(),
        **results,
    }
    print("\n== ratios (project / HF; input: delivered / needed; resume: replay / restore) ==")
    for key in ("padded_ratio", "packed_ratio", "eval_ratio", "input_ratio", "resume_ratio"):
        value = out[key]
        print(f"{key:<14}{'not run' if value is None else f'{value:.2f}x'}")
    directory = Path(args.out)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{dt.datetime.now(dt.timezone.utc):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
