"""The vocabulary of a Hugging Face checkpoint directory, chosen by the files it holds."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from xstilts_jax.data.vocabularies.base import EncoderVocabulary, PathLike, read_bytes
from xstilts_jax.data.vocabularies.wordpiece import WordPieceVocabulary
from xstilts_jax.data.vocabularies.xlmr import XlmrSentencePieceVocabulary
from xstilts_jax.errors import CheckpointError

SPM_FILE = "sentencepiece.bpe.model"
WORDPIECE_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
VOCABULARY_FILES = (SPM_FILE, WORDPIECE_FILE, TOKENIZER_CONFIG_FILE)


def load_vocabulary(directory: PathLike) -> EncoderVocabulary:
    """Returns the vocabulary of a Hugging Face checkpoint directory (local or gs://).

    `sentencepiece.bpe.model` → XLM-R; `vocab.txt` → WordPiece, with `do_lower_case`
    (default True) and `strip_accents` from `tokenizer_config.json` when present.
    """
    directory = os.fspath(directory)
    spm_path = os.path.join(directory, SPM_FILE)
    if tf.io.gfile.exists(spm_path):
        return XlmrSentencePieceVocabulary(spm_path)
    vocab_path = os.path.join(directory, WORDPIECE_FILE)
    if tf.io.gfile.exists(vocab_path):
        config = {}
        config_path = os.path.join(directory, TOKENIZER_CONFIG_FILE)
        if tf.io.gfile.exists(config_path):
            try:
                config = json.loads(read_bytes(config_path, "tokenizer config"))
            except json.JSONDecodeError as e:
                raise CheckpointError(f"{config_path!r} is not valid JSON ({e}); fix or delete it.") from e
        return WordPieceVocabulary(
            vocab_path, lowercase=bool(config.get("do_lower_case", True)), strip_accents=config.get("strip_accents")
        )
    raise CheckpointError(
        f"No vocabulary in {directory!r}: looked for {SPM_FILE} (XLM-R SentencePiece) and {WORDPIECE_FILE}"
        f" (BERT/mBERT WordPiece, with optional {TOKENIZER_CONFIG_FILE}). Copy these files from the original"
        " Hugging Face checkpoint into this directory (a tokenizer.json alone is not enough)."
    )
