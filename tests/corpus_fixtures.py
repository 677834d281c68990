"""A small multilingual corpus in CC-100's release layout, written by tests from the shipped sample text."""

from __future__ import annotations

import lzma
from pathlib import Path

import gin

SAMPLE = (Path(__file__).parents[1] / "tasks" / "data" / "multilingual.txt").read_text(encoding="utf-8").splitlines()


def write_cc100(directory: Path, docs: dict[str, list[str]]) -> Path:
    """CC-100's release layout: `<lang>.txt.xz`, one line per paragraph, a blank line after each document."""
    directory.mkdir(parents=True, exist_ok=True)
    for lang, documents in docs.items():
        with lzma.open(directory / f"{lang}.txt.xz", "wt", encoding="utf-8") as f:
            for doc in documents:
                f.write(doc + "\n\n")
    gin.bind_parameter("cc100.directory", str(directory))
    return directory


def sample_documents(n: int, start: int = 0) -> list[str]:
    """`n` documents of 1-3 lines of the shipped multilingual sample (lines in order, wrapping)."""
    docs, i = [], start
    for k in range(n):
        size = 1 + k % 3
        docs.append("\n".join(SAMPLE[(i + j) % len(SAMPLE)] for j in range(size)))
        i += size
    return docs
