"""`xstilts-jax demo`: the whole X-STILTs recipe on a ladder of toy sizes, offline, on the 8-device CPU mesh.

Trains a small SentencePiece vocabulary on the shipped multilingual sample text (once), then
runs the grid of `gin/experiments/demo.gin`: for three toy encoder sizes and two seeds, MLM on
the sample text → baseline / SocialIQA intermediate training → UD-POS target training →
zero-shot evaluation in four languages of the samples, all on the data in `tasks/data/`,
recording the scores in `runs/demo/results.sqlite`. It prints the per-language tables and an
XTREME-R-style mean, then analyzes the results into `runs/demo/report/` and prints the answer:
the gain's trend with model size and its verdict. Rerunning skips the finished phases.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Sequence

import gin
import jax
import sentencepiece

from xstilts_jax.gin_utils import REPO_ROOT, add_gin_flags, split_gin_overrides
from xstilts_jax.analysis.cli import verdict_summary
from xstilts_jax.analysis.report import warnings
from xstilts_jax.analysis.run import analyze_into
from xstilts_jax.experiments.results.store import results_db
from xstilts_jax.experiments.tables import format_grid, format_languages
from xstilts_jax.tools.grid_cli import configure, load_cells, run_grid

DEFAULT_GIN = ["gin/experiments/demo.gin"]
REPORT_DIR = "report"
DEMO_ROOT = "runs/demo"
TOY_WARNING = (
    "These are toy numbers: encoders of 46K to 560K parameters trained for seconds on a few dozen sample "
    "sentences. They show that the machinery works end to end; they are not research results."
)
SAMPLE_TEXT = REPO_ROOT / "tasks" / "data" / "multilingual.txt"
SPM_FILE = "sentencepiece.bpe.model"


def ensure_demo_vocabulary(directory: Path, vocab_size: int) -> None:
    """Train an XLM-R style SentencePiece model on the sample text into `directory` unless present."""
    if (directory / SPM_FILE).is_file():
        return
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        sentencepiece.SentencePieceTrainer.train(
            input=str(SAMPLE_TEXT), model_prefix=f"{tmp}/spm", vocab_size=vocab_size, model_type="unigram",
            num_threads=1, minloglevel=2,
        )
        Path(f"{tmp}/spm.model").replace(directory / SPM_FILE)
    print(f"trained the demo vocabulary ({vocab_size} pieces) into {directory}")


def enable_compilation_cache(directory: Path) -> None:
    """Keep compiled XLA programs on disk: the grid's cells share most of their programs (the same
    target step under each intermediate, the same eval step for every language), and reruns start warm.
    An explicit JAX_COMPILATION_CACHE_DIR wins."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def main(argv: Sequence[str]) -> int:
    """Run the demo grid (gin files and overrides may replace the defaults), then analyze it."""
    argv, bindings = split_gin_overrides(argv)
    parser = argparse.ArgumentParser(prog="xstilts-jax demo", description=__doc__)
    add_gin_flags(parser)
    args = parser.parse_args(argv)
    gin_files = args.gin_file or DEFAULT_GIN
    enable_compilation_cache(Path(DEMO_ROOT) / "jax_cache")
    cells = load_cells(gin_files, bindings)
    configure(cells[0])
    vocab_dir = Path(gin.query_parameter("vocabulary_dir.path"))
    model_vocab = gin.query_parameter("EncoderConfig.vocab_size")
    # <s>, <pad>, </s>, <unk> are added around the pieces and <mask> after them.
    ensure_demo_vocabulary(vocab_dir, vocab_size=min(900, model_vocab - 2))
    rows = run_grid(cells)
    print("\nzero-shot scores per language (dev):")
    for target in dict.fromkeys(cell.target for cell in cells):
        print(format_languages(rows, target))
    print("\nXTREME-R-style score: the mean of the target headlines above")
    print(format_grid(rows, list(dict.fromkeys(cell.target for cell in cells))))
    db = Path(results_db())
    report, analysis = analyze_into(db, db.parent / REPORT_DIR)
    print("\ndoes the gain shrink with model size? (gain = score with the intermediate task - baseline score; plots in the report)")
    print(verdict_summary(analysis.trends))
    for line in warnings(analysis):
        print(f"note: {line}")
    print(f"\nresults: {db}\nreport:  {report}")
    print(f"\n{TOY_WARNING}")
    return 0
