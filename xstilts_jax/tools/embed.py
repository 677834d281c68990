"""`xstilts-jax embed`: sentence embeddings (one sentence per input line) from a checkpoint's hidden states."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Any, Sequence

import jax
import numpy as np
from flax import nnx
from tqdm import tqdm

from xstilts_jax.data.length_buckets import bucket_of
from xstilts_jax.errors import InputError
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.heads import pool_hidden
from xstilts_jax.models.model import Model
from xstilts_jax.checkpoints.pretrained import load_config, load_pretrained

POOLINGS = ("mean", "first")

@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _embed_batch(
    graphdef: nnx.GraphDef, state: nnx.State, input_ids: jax.Array, token_type_ids: jax.Array, layer: int, pool: str
) -> jax.Array:
    model = nnx.merge(graphdef, state)
    enc, _ = model.encode({"input_ids": input_ids, "token_type_ids": token_type_ids}, num_layers=layer)
    return pool_hidden(enc.last_hidden_state, enc.segment_ids, pool)


def check_layer(config: EncoderConfig, layer: int) -> None:
    """InputError unless `layer` indexes a hidden state of `config` (0..num_layers)."""
    n = config.num_layers
    if not 0 <= layer <= n:
        raise InputError(
            f"layer {layer} is outside 0..{n} for model {config.name!r} "
            f"(0 = embedding output, k = output of block k, {n} = last layer)."
        )


def embed_sentences(
    model: Model,
    vocab: Any,
    sentences: Sequence[str],
    layer: int,
    pool: str = "mean",
    batch_size: int = 32,
    max_length: int = 512,
    *,
    progress: bool = False,
) -> np.ndarray:
    """float32 [len(sentences), hidden]: hidden state `layer` pooled per sentence.

    Each sentence is encoded with `vocab.encode_for_model` (special tokens included,
    truncated to `max_length`, itself capped at the model's position table); `pool` is
    "mean" over every non-padding position (special tokens included) or "first" (the
    <s>/[CLS] token). Sentences are batched by length and padded to a few bucket
    lengths (`data.length_buckets`, as evaluation buckets) so few shapes are compiled.
    """
    check_layer(model.config, layer)
    if pool not in POOLINGS:
        raise InputError(f"pool must be one of {POOLINGS}, got {pool!r}.")
    if batch_size < 1:
        raise InputError(f"batch_size must be positive, got {batch_size}.")
    config = model.config
    if vocab.pad_id != config.pad_id or vocab.vocab_size > config.vocab_size:
        raise InputError(
            f"vocabulary {vocab} (pad id {vocab.pad_id}, {vocab.vocab_size} ids) does not fit model {config.name!r} "
            f"(pad_id {config.pad_id}, vocab_size {config.vocab_size}); use the checkpoint's own vocabulary."
        )
    max_length = min(max_length, config.max_length)
    encoded = [vocab.encode_for_model(s, max_length=max_length) for s in sentences]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    graphdef, state = nnx.split(model)
    out = np.zeros((len(sentences), config.hidden_size), np.float32)
    bar = tqdm(total=len(sentences), unit="sent", file=sys.stderr, disable=not progress, desc="embed")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = bucket_of(max(len(encoded[i][0]) for i in rows), max_length)
        # The last batch is padded with all-padding rows so every batch has the same shape.
        ids = np.full((batch_size, width), config.pad_id, np.int32)
        types = np.zeros((batch_size, width), np.int32)
        for r, i in enumerate(rows):
            tokens, token_types = encoded[i]
            ids[r, : len(tokens)] = tokens
            types[r, : len(token_types)] = token_types
        out[rows] = np.asarray(_embed_batch(graphdef, state, ids, types, layer, pool))[: len(rows)]
        bar.update(len(rows))
    bar.close()
    return out


def read_sentences(path: str) -> list[str]:
    """Lines of a UTF-8 file; an empty line is an InputError naming its line number."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise InputError(f"input file {path} does not exist.") from None
    except UnicodeDecodeError as e:
        raise InputError(f"input file {path} is not valid UTF-8 ({e}); re-encode it as UTF-8.") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise InputError(
                f"{path} line {number} is empty; embed expects one sentence per line (remove blank lines)."
            )
    if not lines:
        raise InputError(f"input file {path} has no sentences.")
    return lines


def main(argv: Sequence[str]) -> int:
    """CLI: `xstilts-jax embed --checkpoint DIR --input FILE --output OUT.npy [--layer K] [--pool mean|first]`."""
    parser = argparse.ArgumentParser(prog="xstilts-jax embed", description=__doc__.split(": ", 1)[1])
    parser.add_argument("--checkpoint", required=True, help="xstilts-jax checkpoint directory (see `convert`)")
    parser.add_argument("--input", required=True, help="UTF-8 text file, one sentence per line, no blank lines")
    parser.add_argument("--output", required=True, help="output .npy file: float32 [num_lines, hidden]")
    parser.add_argument(
        "--layer", type=int, default=None, help="hidden state: 0 = embeddings, k = block k (default: last layer)"
    )
    parser.add_argument("--pool", choices=POOLINGS, default="mean", help="mean over non-padding tokens, or first token")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument(
        "--max_length", type=int, default=512, help="truncate to this many tokens (capped at the model's positions)"
    )
    args = parser.parse_args(argv)

    from xstilts_jax.data.vocabularies import load_vocabulary  # local: pulls in seqio and tensorflow

    config = load_config(args.checkpoint)
    layer = config.num_layers if args.layer is None else args.layer
    check_layer(config, layer)
    sentences = read_sentences(args.input)
    vocab = load_vocabulary(args.checkpoint)
    model = load_pretrained(args.checkpoint, {})
    embeddings = embed_sentences(
        model, vocab, sentences, layer, args.pool, args.batch_size, args.max_length, progress=True
    )
    output = args.output if args.output.endswith(".npy") else args.output + ".npy"
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    np.save(output, embeddings)
    print(
        f"wrote {embeddings.shape[0]} embeddings of size {embeddings.shape[1]} "
        f"(layer {layer}, {args.pool} pooling) to {os.path.abspath(output)}"
    )
    return 0
