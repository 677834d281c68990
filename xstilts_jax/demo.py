"""`xstilts-jax demo`: the whole X-STILTs recipe on the tiny model, offline, on the 8-device CPU mesh.

Trains a small SentencePiece vocabulary on the shipped multilingual sample text (once),
then runs `gin/experiments/demo.gin`: SocialIQA (intermediate) → English UD-POS (target)
→ zero-shot UD-POS in German, Arabic and Chinese, all on the sample data in `tasks/data/`,
recording the scores in the results store. Rerunning skips the finished phases.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Sequence

import gin
import sentencepiece

from xstilts_jax.gin_utils import REPO_ROOT, add_gin_flags, parse_gin, split_gin_overrides
from xstilts_jax.tools.run_cli import run_from_gin

DEFAULT_GIN = ["gin/experiments/demo.gin"]
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
        )  # fmt: skip
        Path(f"{tmp}/spm.model").replace(directory / SPM_FILE)
    print(f"trained the demo vocabulary ({vocab_size} pieces) into {directory}")


def main(argv: Sequence[str]) -> int:
    """Run the demo experiment (gin files and overrides may replace the defaults)."""
    argv, bindings = split_gin_overrides(argv)
    parser = argparse.ArgumentParser(prog="xstilts-jax demo", description=__doc__)
    add_gin_flags(parser)
    args = parser.parse_args(argv)
    gin.clear_config()
    parse_gin(args.gin_file or DEFAULT_GIN, bindings, args.gin_search_path)
    vocab_dir = Path(gin.query_parameter("vocabulary_dir.path"))
    model_vocab = gin.query_parameter("EncoderConfig.vocab_size")
    # <s>, <pad>, </s>, <unk> are added around the pieces and <mask> after them.
    ensure_demo_vocabulary(vocab_dir, vocab_size=min(900, model_vocab - 2))
    run_from_gin()
    return 0
