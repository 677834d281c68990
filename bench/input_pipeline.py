"""Input pipeline: real tokens/s one host's pretraining batches deliver, and their fill.

The corpus: CC-100's release layout (`<lang>.txt.xz`, documents separated by blank lines) written
into a temporary folder from the shipped multilingual sample (`tasks/data/multilingual.txt`), with
different document counts per language; the vocabulary: a SentencePiece model trained on the
sample with `xstilts-jax vocab`'s trainer (900 pieces; SentencePiece's encoding speed depends on
the text far more than on the vocabulary size). The pipeline is the real one: the α-sampled
mixture (`alpha:0.3`) of `cc100.<lang>` tasks → their TFRecord document shards (prepared from the
xz files before the first batch) → tokenize → document-stream rows →
masking → padded feature converter → numpy batches (`host_batches`), on every CPU tf.data finds.
The first batch (pipeline start-up) is not timed.

Beside it, the fill the `mlm` task's line-per-segment packing reached on the same text (at most
`max_segments` lines per row): the issue's 61% at length 512.

What a pod needs: tokens/s per host for a model at `mfu` on a TPU topology, from the analytic
FLOPs per token (`planning/flops.py`, 6·N + attention at this length) and the chip's peak.
"""

from __future__ import annotations

import lzma
import tempfile
import time
from pathlib import Path
from typing import Any

import gin
import numpy as np
import seqio

from xstilts_jax.data.batches import BatchSpec, host_batches
from xstilts_jax.data.packing import FillMeter
from xstilts_jax.errors import ConfigError
from xstilts_jax.gin_utils import REPO_ROOT
from xstilts_jax.models.ladder import model_config
from xstilts_jax.planning.flops import train_step_flops
from xstilts_jax.planning.topology import parse_topology

SAMPLE = REPO_ROOT / "tasks" / "data" / "multilingual.txt"
CHIPS_PER_HOST = 4  # a v4 / v5p TPU VM host drives 4 chips
MIXTURE = "bench.cc100"


def required_tokens_per_s_per_host(model: str, topology: str, mfu: float, seq_len: int) -> dict[str, Any]:
    """Tokens/s each host must deliver for `model` to train at `mfu` on `topology` (MLM head, rows of `seq_len`)."""
    topo = parse_topology(topology)
    per_token = train_step_flops(model_config(model), 1, seq_len, head="mlm").total / seq_len
    total = topo.chips * topo.generation.peak_flops * mfu / per_token
    hosts = max(topo.chips // CHIPS_PER_HOST, 1)
    return {"model": model, "topology": topo.user_name, "mfu": mfu, "hosts": hosts, "flops_per_token": per_token,
            "tokens_per_s": total, "tokens_per_s_per_host": total / hosts}


def write_corpus(directory: Path, documents: dict[str, int]) -> None:
    """`<lang>.txt.xz` for each language: `documents[lang]` documents of 1-4 sample lines each."""
    lines = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for lang, n in documents.items():
        with lzma.open(directory / f"{lang}.txt.xz", "wt", encoding="utf-8") as f:
            for _ in range(n):
                start, size = int(rng.integers(len(lines))), int(rng.integers(1, 5))
                f.write("\n".join(lines[(start + j) % len(lines)] for j in range(size)) + "\n\n")


def _timed(spec: BatchSpec, pad_id: int, position_offset: int, batches: int) -> dict[str, float]:
    meter = FillMeter(pad_id)
    it = meter.watch(host_batches(spec, pad_id, position_offset))
    next(it)  # start-up: file reads, tf.data graph, shuffle buffers
    meter.take()
    start = time.perf_counter()
    real = sum(int((next(it)["input_ids"] != pad_id).sum()) for _ in range(batches))
    elapsed = time.perf_counter() - start
    return {"batches": batches, "seconds": elapsed, "real_tokens_per_s": real / elapsed, "fill": meter.take()}


def _bound(name: str) -> bool:
    try:
        gin.query_parameter(name)
    except ValueError:
        return False
    return True


@gin.configurable
def input_pipeline_benchmark(
    length: int = 512,
    batch_size: int = 32,
    batches: int = 60,
    documents: dict[str, int] | None = None,
    max_segments: int = 8,
    model: str = "encoder_30b",
    topology: str = "v5p-256",
    mfu: float = 0.4,
) -> dict[str, Any]:
    """Time one host's pretraining batches (see the module docstring); returns the figures and the pod's need."""
    import tasks  # noqa: F401  (registers the catalog: corpus tasks, mlm)
    from tasks import vocabulary
    from xstilts_jax.experiments.mixtures import register_mixtures
    from xstilts_jax.tools.vocab import train_sentencepiece

    documents = documents or {"en": 4000, "de": 1500, "ar": 600, "sw": 150, "qu": 40}
    if batches < 1:
        raise ConfigError(f"input_pipeline_benchmark.batches must be >= 1, got {batches}.")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_corpus(root / "cc100", documents)
        train_sentencepiece(SAMPLE.read_text(encoding="utf-8").splitlines(), root / "vocab", vocab_size=900)
        (root / "lines.txt").write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
        previous_vocabulary = gin.query_parameter("vocabulary_dir.path") if _bound("vocabulary_dir.path") else None
        with gin.unlock_config():
            gin.bind_parameter("vocabulary_dir.path", str(root / "vocab"))
            gin.bind_parameter("cc100.directory", str(root / "cc100"))
            gin.bind_parameter("mlm_corpus.files", [str(root / "lines.txt")])
        vocabulary.reset()
        try:
            register_mixtures(mixtures={MIXTURE: [f"cc100.{lang}" for lang in documents]}, rates={MIXTURE: "alpha:0.3"})
            v = vocabulary.MODEL_VOCABULARY
            stream = _timed(BatchSpec(MIXTURE, "train", length=length, batch_size=batch_size, seed=0), v.pad_id, v.pad_id + 1, batches)
            lines_spec = BatchSpec("mlm", "train", length=length, batch_size=batch_size, pack=True, max_segments=max_segments)
            lines = _timed(lines_spec, v.pad_id, v.pad_id + 1, max(2, batches // 4))
        finally:
            seqio.MixtureRegistry.remove(MIXTURE)
            with gin.unlock_config():  # later sections read the catalog with their own vocabulary, not this deleted one
                gin.bind_parameter("vocabulary_dir.path", previous_vocabulary)
            vocabulary.reset()
    need = required_tokens_per_s_per_host(model, topology, mfu, length)
    return {
        "batch": [batch_size, length],
        "documents": documents,
        "stream": stream,
        "mlm_lines_packed": {**lines, "max_segments": max_segments},
        "need": need,
        "ratio": stream["real_tokens_per_s"] / need["tokens_per_s_per_host"],
    }
