"""Encoder vocabularies as seqio `Vocabulary` subclasses.

`XlmrSentencePieceVocabulary` (XLM-R: SentencePiece with fairseq id offsets) and
`WordPieceVocabulary` (BERT / mBERT) give the same ids as Hugging Face's
`XLMRobertaTokenizer` and `BertTokenizer`, in Python and in TensorFlow (no py_function).

Modules: `base` (`EncoderVocabulary`, what seqio assumes), `xlmr`, `wordpiece`, and `load`
(`load_vocabulary` of a checkpoint directory).
"""

from __future__ import annotations

from xstilts_jax.data.vocabularies.base import EncoderVocabulary, PathLike
from xstilts_jax.data.vocabularies.load import (
    SPM_FILE,
    TOKENIZER_CONFIG_FILE,
    VOCABULARY_FILES,
    WORDPIECE_FILE,
    load_vocabulary,
)
from xstilts_jax.data.vocabularies.wordpiece import WordPieceVocabulary
from xstilts_jax.data.vocabularies.xlmr import XlmrSentencePieceVocabulary

__all__ = [
    "SPM_FILE",
    "TOKENIZER_CONFIG_FILE",
    "VOCABULARY_FILES",
    "WORDPIECE_FILE",
    "EncoderVocabulary",
    "PathLike",
    "WordPieceVocabulary",
    "XlmrSentencePieceVocabulary",
    "load_vocabulary",
]
