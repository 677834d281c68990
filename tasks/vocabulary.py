"""The model's vocabulary as the task catalog sees it.

Tasks are registered once, at import, before any model is chosen, yet their features
need a vocabulary. `MODEL_VOCABULARY` stands in for it: a `seqio.Vocabulary` that loads
the real one (`load_vocabulary(vocabulary_dir())`) on first use and delegates to it.
`vocabulary_dir` is set by gin (`vocabulary_dir.path = "/path/to/hf_checkpoint"`) or by
the `XSTILTS_VOCAB_DIR` environment variable. The loaded vocabulary is kept for the
process; `reset()` forgets it (tests that switch vocabularies).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import gin
import seqio
import tensorflow as tf

from xstilts_jax.data.vocabularies import EncoderVocabulary, load_vocabulary
from xstilts_jax.errors import ConfigError

ENV_VAR = "XSTILTS_VOCAB_DIR"

_lock = threading.Lock()
_loaded: EncoderVocabulary | None = None


@gin.configurable("vocabulary_dir")
def _configured_vocabulary_dir(path: str | None = None) -> str | None:
    return path


def vocabulary_dir() -> str:
    """The directory holding the model's vocabulary files: gin's `vocabulary_dir.path`, else `$XSTILTS_VOCAB_DIR`."""
    # The check lives outside the gin configurable so its message is not wrapped by gin.
    path = _configured_vocabulary_dir() or os.environ.get(ENV_VAR)
    if path:
        return path
    raise ConfigError(
        "The task catalog does not know the model's vocabulary. Bind it in gin "
        "(`vocabulary_dir.path = '/path/to/hf_checkpoint'`, usually in the model's gin file) or set the "
        f"environment variable {ENV_VAR}=/path/to/hf_checkpoint; the directory needs sentencepiece.bpe.model "
        "(XLM-R) or vocab.txt (BERT/mBERT)."
    )


def reset() -> None:
    """Forget the loaded vocabulary; the next use loads it again from `vocabulary_dir()`."""
    global _loaded
    with _lock:
        _loaded = None


class ModelVocabulary(seqio.Vocabulary):
    """A lazy stand-in for the model's `EncoderVocabulary` (see the module docstring).

    Every attribute is the loaded vocabulary's. All instances are equal, so seqio
    Mixtures of catalog tasks see one vocabulary.
    """

    def __init__(self) -> None:
        super().__init__(extra_ids=0)

    @property
    def vocabulary(self) -> EncoderVocabulary:
        """The model's vocabulary, loaded on first use."""
        global _loaded
        with _lock:
            if _loaded is None:
                _loaded = load_vocabulary(vocabulary_dir())
            return _loaded

    @property
    def bos_id(self) -> int:
        """`<s>` / `[CLS]`."""
        return self.vocabulary.bos_id

    @property
    def eos_id(self) -> int:
        """`</s>` / `[SEP]`."""
        return self.vocabulary.eos_id

    @property
    def pad_id(self) -> int:
        """Padding id (XLM-R 1, BERT 0)."""
        return self.vocabulary.pad_id

    @property
    def unk_id(self) -> int:
        """Unknown-token id."""
        return self.vocabulary.unk_id

    @property
    def mask_id(self) -> int:
        """MLM mask id."""
        return self.vocabulary.mask_id

    @property
    def vocab_size(self) -> int:
        """Number of ids."""
        return self.vocabulary.vocab_size

    @property
    def _base_vocab_size(self) -> int:
        return self.vocabulary.vocab_size

    def encode(self, s: str) -> Sequence[int]:
        """Token ids of `s`, without special tokens."""
        return self.vocabulary.encode(s)

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`, up to the first `eos_id`."""
        return self.vocabulary.decode(ids)

    def encode_tf(self, s: tf.Tensor) -> tf.Tensor | tf.RaggedTensor:
        """`encode` in TensorFlow: a string scalar → 1-D ids, a 1-D batch → ragged ids."""
        return self.vocabulary.encode_tf(s)

    def decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
        """`decode` in TensorFlow."""
        return self.vocabulary.decode_tf(ids)

    def encode_for_model(
        self, text: str, pair: str | None = None, max_length: int | None = None
    ) -> tuple[list[int], list[int]]:
        """See `EncoderVocabulary.encode_for_model`."""
        return self.vocabulary.encode_for_model(text, pair, max_length)

    def encode_for_model_tf(
        self,
        first: tf.Tensor | tf.RaggedTensor,
        second: tf.Tensor | tf.RaggedTensor | None = None,
        max_length: int | None = None,
    ) -> tuple[tf.Tensor | tf.RaggedTensor, tf.Tensor | tf.RaggedTensor]:
        """See `EncoderVocabulary.encode_for_model_tf`."""
        return self.vocabulary.encode_for_model_tf(first, second, max_length)

    # seqio's abstract hooks; the public methods above bypass them.
    def _encode(self, s: str) -> Sequence[int]:
        return self.vocabulary.encode(s)

    def _decode(self, ids: Iterable[int]) -> str:
        return self.vocabulary.decode(ids)

    def _encode_tf(self, s: tf.Tensor) -> tf.Tensor | tf.RaggedTensor:
        return self.vocabulary.encode_tf(s)

    def _decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
        return self.vocabulary.decode_tf(ids)

    def __getattr__(self, name: str) -> Any:
        # Only called for names not found above, e.g. `basic_tokenize` or `lowercase`.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.vocabulary, name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelVocabulary)

    def __hash__(self) -> int:
        return hash(ModelVocabulary)

    def __repr__(self) -> str:
        loaded = _loaded
        return f"ModelVocabulary({loaded if loaded is not None else 'not loaded yet'})"

    __str__ = __repr__


MODEL_VOCABULARY = ModelVocabulary()
