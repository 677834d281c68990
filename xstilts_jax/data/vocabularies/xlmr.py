"""XLM-R's SentencePiece vocabulary with fairseq id offsets, equal to Hugging Face's `XLMRobertaTokenizer`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence

import sentencepiece
import tensorflow as tf
import tensorflow_text as tf_text

from xstilts_jax.data.vocabularies.base import EncoderVocabulary, PathLike, read_bytes
from xstilts_jax.errors import CheckpointError


def _char_index_of_bytes(text: str) -> list[int]:
    """For every UTF-8 byte offset of `text` (0..len in bytes), the index of the character it starts
    or falls in; the final offset maps to len(text)."""
    out: list[int] = []
    for i, c in enumerate(text):
        out.extend([i] * len(c.encode("utf-8")))
    out.append(len(text))
    return out


def _trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """(start, end) without leading/trailing whitespace; an all-whitespace span becomes empty at `end`."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else (end, end)


class XlmrSentencePieceVocabulary(EncoderVocabulary):
    """XLM-R's SentencePiece model with fairseq ids, equal to HF `XLMRobertaTokenizer`.

    fairseq puts `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3 first, shifts every other
    SentencePiece piece by one, and appends `<mask>`. Text is tokenized literally: a
    `<mask>` written in the text is not the mask token (Hugging Face would match it).
    """

    _DOUBLE_SEPARATOR = True
    # fairseq ids of SentencePiece's own unk=0, <s>=1, </s>=2.
    _SPM_CONTROL_TO_FAIRSEQ = (3, 0, 2)
    _FAIRSEQ_OFFSET = 1

    def __init__(self, sentencepiece_model_file: PathLike) -> None:
        """Loads `sentencepiece_model_file` (local path or gs://)."""
        self._path = os.fspath(sentencepiece_model_file)
        self._model = read_bytes(self._path, "SentencePiece model")
        try:
            self._sp = sentencepiece.SentencePieceProcessor(model_proto=self._model)
        except RuntimeError as e:
            raise CheckpointError(f"{self._path!r} is not a SentencePiece model ({e}).") from e
        if (self._sp.unk_id(), self._sp.bos_id(), self._sp.eos_id()) != (0, 1, 2):
            raise CheckpointError(
                f"{self._path!r} has unk/bos/eos ids {self._sp.unk_id()}/{self._sp.bos_id()}/{self._sp.eos_id()};"
                " XLM-R's fairseq id mapping needs 0/1/2. Use the model's original sentencepiece.bpe.model."
            )
        self._digest = hashlib.sha256(self._model).hexdigest()
        self._tf_tokenizer: tf_text.SentencepieceTokenizer | None = None
        super().__init__()

    @property
    def bos_id(self) -> int:
        """`<s>`, also the classification token."""
        return 0

    @property
    def pad_id(self) -> int:
        """`<pad>`."""
        return 1

    @property
    def eos_id(self) -> int:
        """`</s>`, also the separator."""
        return 2

    @property
    def unk_id(self) -> int:
        """`<unk>`."""
        return 3

    @property
    def mask_id(self) -> int:
        """`<mask>`, the last id."""
        return self._sp.get_piece_size() + self._FAIRSEQ_OFFSET

    @property
    def _base_vocab_size(self) -> int:
        return self.mask_id + 1

    def _encode(self, s: str) -> Sequence[int]:
        return [self._to_fairseq(i) for i in self._sp.encode(s)]

    def _to_fairseq(self, i: int) -> int:
        return self._SPM_CONTROL_TO_FAIRSEQ[i] if i < 3 else i + self._FAIRSEQ_OFFSET

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """See `EncoderVocabulary.encode_with_offsets`; SentencePiece reports UTF-8 byte spans of the
        original text (its normalization included), converted here to character spans."""
        pieces = self._sp.encode(text, out_type="proto").pieces
        char_of_byte = _char_index_of_bytes(text)
        ids, spans = [], []
        for piece in pieces:
            ids.append(self._to_fairseq(piece.id))
            spans.append(_trim_span(text, char_of_byte[piece.begin], char_of_byte[piece.end]))
        return ids, spans

    def _to_spm_id(self, i: int) -> int | None:
        if i in (self.pad_id, self.mask_id):
            return None
        return self._SPM_CONTROL_TO_FAIRSEQ.index(i) if i <= 3 else i - self._FAIRSEQ_OFFSET

    def _decode(self, ids: Iterable[int]) -> str:
        spm_ids = [j for j in map(self._to_spm_id, ids) if j is not None]
        return self._sp.decode(spm_ids)

    def _tf_sp(self) -> tf_text.SentencepieceTokenizer:
        if self._tf_tokenizer is None:
            with tf.init_scope():  # Created once, eagerly, even when first called inside a tf.data map.
                self._tf_tokenizer = tf_text.SentencepieceTokenizer(model=self._model, out_type=tf.int32)
        return self._tf_tokenizer

    def _encode_tf(self, s: tf.Tensor) -> tf.Tensor | tf.RaggedTensor:
        def to_fairseq(ids: tf.Tensor) -> tf.Tensor:
            control = tf.gather(tf.constant(self._SPM_CONTROL_TO_FAIRSEQ, tf.int32), tf.minimum(ids, 2))
            return tf.where(ids < 3, control, ids + self._FAIRSEQ_OFFSET)

        ids = self._tf_sp().tokenize(s)
        if isinstance(ids, tf.RaggedTensor):
            return tf.ragged.map_flat_values(to_fairseq, ids)
        return to_fairseq(ids)

    def _decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
        ids = tf.cast(ids, tf.int32)
        # <pad> and <mask> become SentencePiece's <s>, a control piece that detokenizes to nothing.
        small = tf.gather(tf.constant([1, 1, 2, 0], tf.int32), tf.clip_by_value(ids, 0, 3))
        spm_ids = tf.where(ids <= 3, small, ids - self._FAIRSEQ_OFFSET)
        spm_ids = tf.where(tf.equal(ids, self.mask_id), 1, spm_ids)
        return self._tf_sp().detokenize(spm_ids)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, XlmrSentencePieceVocabulary) and self._digest == other._digest

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._digest))

    def __str__(self) -> str:
        return f"XlmrSentencePieceVocabulary({self._path!r}, size={self.vocab_size})"

    __repr__ = __str__
