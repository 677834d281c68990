"""Encoder vocabularies as seqio `Vocabulary` subclasses.

`XlmrSentencePieceVocabulary` (XLM-R: SentencePiece with fairseq id offsets) and
`WordPieceVocabulary` (BERT / mBERT) give the same ids as Hugging Face's
`XLMRobertaTokenizer` and `BertTokenizer`, in Python and in TensorFlow (no py_function).

What seqio (0.0.20) assumes, and what it means for these classes:
- `Vocabulary.pad_id` defaults to 0. It is overridden here (XLM-R `<pad>` is 1), and
  `Vocabulary.decode_tf` reads `self.pad_id`, so decoding is right.
- `utils.trim_and_pad_dataset` / `trim_and_pack_dataset` pad with a literal 0 (`tf.pad`),
  and `feature_converters.non_padding_position` tests `!= 0`. For XLM-R, 0 is `<s>`: a row
  padded by seqio carries `<s>` in its padding, and a mask built with `!= 0` hides the
  real `<s>`. Feature converters for these vocabularies must build attention masks from
  lengths or segment ids, and should write `pad_id` into padding.
- `seqio.Feature(add_eos=True)` (the default) appends `eos_id`. Encoder inputs get their
  special tokens from `encode_for_model` (or `encode_for_model_tf` inside tf.data, on ids
  from `encode_tf`), so register such features with `add_eos=False`.
- `Vocabulary.decode` cuts after the first `eos_id`: decoding an encoded pair stops at
  the first `</s>` / `[SEP]`.
- `extra_ids` (T5 sentinels) are not supported; both classes have `extra_ids == 0`.
- Mixtures compare vocabularies with `==`; equality here is by file content and options.
"""

from __future__ import annotations

import abc
import functools
import hashlib
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence

import gin
import seqio
import sentencepiece
import tensorflow as tf
import tensorflow_text as tf_text

from xstilts_jax.errors import CheckpointError, InputError

SPM_FILE = "sentencepiece.bpe.model"
WORDPIECE_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
VOCABULARY_FILES = (SPM_FILE, WORDPIECE_FILE, TOKENIZER_CONFIG_FILE)

PathLike = str | os.PathLike


def _read_bytes(path: PathLike, what: str) -> bytes:
    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise CheckpointError(f"{what} file {path!r} does not exist; check the path (local or gs://).")
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def _longest_first(first: list[int], second: list[int] | None, budget: int) -> tuple[list[int], list[int] | None]:
    """Truncates so that len(first) + len(second) <= budget, as HF's "longest_first".

    Hugging Face (tokenizers) keeps the shorter segment whole when it fits in half the
    budget and gives the rest to the longer one; otherwise each gets half, the odd token
    going to the longer one (to the second segment on a tie). Tokens are cut from the end.
    """
    if second is None:
        return first[:budget], None
    if len(first) + len(second) <= budget:
        return first, second
    first_is_short = len(first) <= len(second)
    short = min(len(first), len(second))
    if 2 * short <= budget:
        keep_short, keep_long = short, budget - short
    else:
        keep_short, keep_long = budget // 2, budget - budget // 2
    if first_is_short:
        return first[:keep_short], second[:keep_long]
    return first[:keep_long], second[:keep_short]


def _longest_first_tf(
    first: tf.RaggedTensor, second: tf.RaggedTensor | None, budget: int
) -> tuple[tf.RaggedTensor, tf.RaggedTensor | None]:
    """`_longest_first` on each row of a batch of id rows ([batch, None] RaggedTensors)."""
    if second is None:
        return first[:, :budget], None
    n1, n2 = first.row_lengths(), second.row_lengths()
    short = tf.minimum(n1, n2)
    keep_short = tf.where(2 * short <= budget, short, budget // 2)
    keep_long = budget - keep_short
    fits = n1 + n2 <= budget
    first_is_short = n1 <= n2
    keep1 = tf.where(fits, n1, tf.where(first_is_short, keep_short, keep_long))
    keep2 = tf.where(fits, n2, tf.where(first_is_short, keep_long, keep_short))

    def head(rows: tf.RaggedTensor, keep: tf.Tensor) -> tf.RaggedTensor:
        return tf.ragged.boolean_mask(rows, tf.ragged.range(rows.row_lengths()) < keep[:, None])

    return head(first, keep1), head(second, keep2)


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


class EncoderVocabulary(seqio.Vocabulary):
    """A seqio Vocabulary that also knows its encoder's special tokens and input layout."""

    # `<s> A </s></s> B </s>` (XLM-R) repeats the separator; `[CLS] A [SEP] B [SEP]` (BERT) does not.
    _DOUBLE_SEPARATOR: bool = False
    _SECOND_SEGMENT_TYPE: int = 0

    def __init__(self) -> None:
        super().__init__(extra_ids=0)

    @property
    @abc.abstractmethod
    def bos_id(self) -> int:
        """Id put before the first segment (`<s>` / `[CLS]`)."""
        raise NotImplementedError

    @property
    @abc.abstractmethod
    def eos_id(self) -> int:
        """Id put after each segment (`</s>` / `[SEP]`)."""
        raise NotImplementedError

    @property
    @abc.abstractmethod
    def pad_id(self) -> int:
        """Padding id."""
        raise NotImplementedError

    @property
    @abc.abstractmethod
    def unk_id(self) -> int:
        """Unknown-token id."""
        raise NotImplementedError

    @property
    @abc.abstractmethod
    def mask_id(self) -> int:
        """MLM mask id (`<mask>` / `[MASK]`)."""
        raise NotImplementedError

    @abc.abstractmethod
    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """`encode(text)` ids and, per id, the (start, end) character span of `text` it came from.

        Spans index Python characters of the original `text` (not bytes, not normalized text) and
        exclude whitespace, so `text[start:end]` is the surface of a token. A token that covers no
        character of its own (e.g. a bare `▁`) gets an empty span at the next character.
        """
        raise NotImplementedError

    def encode_for_model(
        self, text: str, pair: str | None = None, max_length: int | None = None
    ) -> tuple[list[int], list[int]]:
        """Returns (input_ids with special tokens, token_type_ids) for one text or a pair.

        `max_length` truncates the longest segment first, as Hugging Face's default.
        """
        first = list(self.encode(text))
        second = None if pair is None else list(self.encode(pair))
        if max_length is not None:
            budget = max_length - self._num_special_tokens(pair is not None, max_length)
            first, second = _longest_first(first, second, budget)
        return self.join_for_model(first, second)

    def join_for_model(self, first: Sequence[int], second: Sequence[int] | None = None) -> tuple[list[int], list[int]]:
        """(input_ids, token_type_ids) of already tokenized segments with the special tokens added, no
        truncation; the second segment's ids are the last `len(second) + 1` ids (its final separator)."""
        ids = [self.bos_id, *first, self.eos_id]
        type_ids = [0] * len(ids)
        if second is not None:
            tail = [self.eos_id] * int(self._DOUBLE_SEPARATOR) + list(second) + [self.eos_id]
            ids += tail
            type_ids += [self._SECOND_SEGMENT_TYPE] * len(tail)
        return ids, type_ids

    def _num_special_tokens(self, is_pair: bool, max_length: int | None = None) -> int:
        """Special tokens in one input; raises when `max_length` cannot hold them."""
        n_special = 3 + int(self._DOUBLE_SEPARATOR) if is_pair else 2
        if max_length is not None and max_length < n_special:
            raise InputError(
                f"max_length={max_length} cannot hold the {n_special} special tokens of "
                f"{'a pair' if is_pair else 'one segment'} for {self}; use max_length >= {n_special}."
            )
        return n_special

    def encode_for_model_tf(
        self,
        first: tf.Tensor | tf.RaggedTensor,
        second: tf.Tensor | tf.RaggedTensor | None = None,
        max_length: int | None = None,
    ) -> tuple[tf.Tensor | tf.RaggedTensor, tf.Tensor | tf.RaggedTensor]:
        """`encode_for_model` in TensorFlow, on ids already tokenized by `encode_tf`.

        `first` (and `second`, for a pair) are 1-D int ids, or [batch, None] RaggedTensors
        of id rows; returns (input_ids, token_type_ids) of the same kind, int32, with the
        special tokens added and the same longest-first truncation to `max_length`.
        """
        batched = isinstance(first, tf.RaggedTensor)

        def rows(ids: tf.Tensor | tf.RaggedTensor) -> tf.RaggedTensor:
            if isinstance(ids, tf.RaggedTensor):
                return tf.cast(ids, tf.int32)
            return tf.RaggedTensor.from_tensor(tf.cast(ids, tf.int32)[tf.newaxis])

        a = rows(first)
        b = None if second is None else rows(second)
        if max_length is not None:
            budget = max_length - self._num_special_tokens(b is not None, max_length)
            a, b = _longest_first_tf(a, b, budget)

        def column(token: int, count: int = 1) -> tf.Tensor:
            return tf.fill([a.nrows(), count], tf.constant(token, tf.int32))

        ids = tf.concat([column(self.bos_id), a, column(self.eos_id)], axis=1)
        type_ids = tf.zeros_like(ids)
        if b is not None:
            seps = int(self._DOUBLE_SEPARATOR)
            tail = tf.concat([column(self.eos_id, seps), b, column(self.eos_id)], axis=1)
            ids = tf.concat([ids, tail], axis=1)
            type_ids = tf.concat([type_ids, tf.ones_like(tail) * self._SECOND_SEGMENT_TYPE], axis=1)
        if batched:
            return ids, type_ids
        return ids[0], type_ids[0]


@gin.configurable
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
        self._model = _read_bytes(self._path, "SentencePiece model")
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


# --- BERT normalization, as Hugging Face's BertNormalizer + BertPreTokenizer define it ---

# Unicode White_Space, less \x0b, \x0c and \x85: those are controls, removed before this applies.
_WHITESPACE = frozenset("\t\n\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B))))
# CJK ideographs that BERT splits into one token each. Hugging Face's tokenizers starts the
# sixth range at 0x2B920 where Google's BERT has 0x2B820; we follow Hugging Face.
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip
_MAX_WORD_CHARS = 100
# Assigned characters live in planes 0-3 and 14; 4-13 are unassigned, 15-16 private use.
_SCANNED_CODEPOINTS = (range(0, 0x40000), range(0xE0000, 0xF0000))
_PRIVATE_USE_PLANES = ((0xF0000, sys.maxunicode),)


def _is_control(c: str) -> bool:
    # Removed before splitting: Cc, Cf, Co (private use) and U+FFFD. Unassigned code points
    # (Cn) stay, as in Hugging Face's tokenizers; tab, newline and CR are whitespace.
    return (c not in "\t\n\r" and unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs")) or c == "\ufffd"


def _is_cjk(c: str) -> bool:
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _is_punctuation(c: str) -> bool:
    return (c.isascii() and not c.isalnum() and c.isprintable() and c != " ") or unicodedata.category(c)[0] == "P"


def _fold_char(c: str, lowercase: bool, strip_accents: bool) -> str:
    if strip_accents:
        c = "".join(x for x in unicodedata.normalize("NFD", c) if unicodedata.category(x) != "Mn")
    # Character by character, as Hugging Face does (str.lower() on a word makes a final Σ a ς).
    return "".join(x.lower() for x in c) if lowercase else c


@functools.cache
def _fold_table(lowercase: bool, strip_accents: bool) -> dict[str, str]:
    """Characters that lowercasing / accent stripping change, with their replacement."""
    table = {}
    for codepoints in _SCANNED_CODEPOINTS:
        for cp in codepoints:
            if 0xD800 <= cp <= 0xDFFF:
                continue
            c = chr(cp)
            if c.lower() == c and unicodedata.is_normalized("NFD", c) and unicodedata.category(c) != "Mn":
                continue
            folded = _fold_char(c, lowercase, strip_accents)
            if folded != c:
                table[c] = folded
    return table


def _regex_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "[" + "".join(f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in ranges) + "]"


def _ranges(predicate: Callable[[str], bool]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for codepoints in _SCANNED_CODEPOINTS:
        for cp in codepoints:
            if 0xD800 <= cp <= 0xDFFF or not predicate(chr(cp)):
                continue
            if out and out[-1][1] == cp - 1:
                out[-1] = (out[-1][0], cp)
            else:
                out.append((cp, cp))
    return out


@functools.cache
def _tf_patterns() -> dict[str, str]:
    """RE2 character classes built from the same predicates as the Python path."""
    return {
        "control": _regex_class([*_ranges(_is_control), *_PRIVATE_USE_PLANES]),
        "whitespace": _regex_class((ord(c), ord(c)) for c in sorted(_WHITESPACE)),
        "cjk": _regex_class(_CJK_RANGES),
        "punctuation": _regex_class(_ranges(_is_punctuation)),
    }


@gin.configurable
class WordPieceVocabulary(EncoderVocabulary):
    """BERT / mBERT WordPiece (`vocab.txt`), equal to HF `BertTokenizer`.

    Basic tokenization removes control characters, splits on whitespace and punctuation,
    isolates CJK ideographs, optionally strips accents and lowercases; then each word is
    split greedily, longest match first, into pieces (`##` marks a continuation). A word
    longer than 100 characters, or one with no split, becomes `[UNK]`. mBERT cased is
    `lowercase=False`; `strip_accents=None` follows `lowercase`, as in BERT. Character
    classes come from Python's Unicode tables; Hugging Face's are older, so punctuation and
    marks added to Unicode in recent years can split differently. Text is tokenized
    literally: `[MASK]` written in the text is not the mask token.
    """

    _SECOND_SEGMENT_TYPE = 1
    _SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

    def __init__(self, vocab_file: PathLike, lowercase: bool = True, strip_accents: bool | None = None) -> None:
        """Loads `vocab_file` (one token a line; local path or gs://)."""
        self._path = os.fspath(vocab_file)
        data = _read_bytes(self._path, "WordPiece vocabulary")
        self._tokens = [line.rstrip() for line in data.decode("utf-8").split("\n")]
        if self._tokens and not self._tokens[-1]:
            self._tokens.pop()  # the file's final newline
        self._token_to_id = {token: i for i, token in enumerate(self._tokens)}  # a repeated token keeps its last id
        missing = [t for t in self._SPECIAL_TOKENS if t not in self._token_to_id]
        if missing:
            raise CheckpointError(f"WordPiece vocabulary {self._path!r} lacks {missing}; is it a BERT vocab.txt?")
        self._special = {t: self._token_to_id[t] for t in self._SPECIAL_TOKENS}
        self.lowercase = lowercase
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self._digest = hashlib.sha256(data).hexdigest()
        self._tf_table: tf.lookup.StaticHashTable | None = None
        self._tf_fold: tf.lookup.StaticHashTable | None = None
        super().__init__()

    @property
    def bos_id(self) -> int:
        """`[CLS]`."""
        return self._special["[CLS]"]

    @property
    def eos_id(self) -> int:
        """`[SEP]`."""
        return self._special["[SEP]"]

    @property
    def pad_id(self) -> int:
        """`[PAD]`."""
        return self._special["[PAD]"]

    @property
    def unk_id(self) -> int:
        """`[UNK]`."""
        return self._special["[UNK]"]

    @property
    def mask_id(self) -> int:
        """`[MASK]`."""
        return self._special["[MASK]"]

    @property
    def _base_vocab_size(self) -> int:
        return len(self._tokens)

    # -- Python path --

    def _fold(self) -> dict[str, str]:
        return _fold_table(self.lowercase, self.strip_accents) if self.lowercase or self.strip_accents else {}

    def basic_tokenize(self, text: str) -> list[str]:
        """Normalizes `text` and splits it into words, before WordPiece."""
        return ["".join(c for c, _ in word) for word in self._basic_words(text)]

    def _basic_words(self, text: str) -> list[list[tuple[str, int]]]:
        """`basic_tokenize` with each normalized character paired with the index of the character of
        `text` it comes from (folding may turn one character into several)."""
        fold = self._fold()
        stream: list[tuple[str, int]] = []
        for i, c in enumerate(text):
            if _is_control(c):
                continue
            if c in _WHITESPACE:
                stream.append((" ", i))
                continue
            folded = [(x, i) for x in fold.get(c, c)]
            stream.extend([(" ", i), *folded, (" ", i)] if _is_cjk(c) else folded)
        words: list[list[tuple[str, int]]] = []
        current: list[tuple[str, int]] = []
        for c, i in [*stream, (" ", len(text))]:
            if c == " " or _is_punctuation(c):
                if current:
                    words.append(current)
                current = []
                if c != " ":
                    words.append([(c, i)])
            else:
                current.append((c, i))
        return words

    def _wordpiece_spans(self, word: str) -> list[tuple[int, int, int]]:
        """(id, start, end) of each piece of `word`, positions in `word`; [UNK] spans the word."""
        if len(word) > _MAX_WORD_CHARS:
            return [(self.unk_id, 0, len(word))]
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self._token_to_id:
                    pieces.append((self._token_to_id[piece], start, end))
                    start = end
                    break
            else:
                return [(self.unk_id, 0, len(word))]
        return pieces

    def _wordpiece(self, word: str) -> list[int]:
        return [i for i, _, _ in self._wordpiece_spans(word)]

    def _encode(self, s: str) -> Sequence[int]:
        return [i for word in self.basic_tokenize(s) for i in self._wordpiece(word)]

    def encode_with_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """See `EncoderVocabulary.encode_with_offsets`."""
        ids, spans = [], []
        for word in self._basic_words(text):
            for i, start, end in self._wordpiece_spans("".join(c for c, _ in word)):
                ids.append(i)
                spans.append((word[start][1], word[end - 1][1] + 1))
        return ids, spans

    def _decode(self, ids: Iterable[int]) -> str:
        skip = {self.pad_id, self.bos_id, self.eos_id, self.mask_id}
        return " ".join(self._tokens[i] for i in ids if i not in skip).replace(" ##", "")

    # -- TensorFlow path: the same steps with regex classes and tables built from the Python predicates --

    def _tf_tables(self) -> tuple[tf.lookup.StaticHashTable, tf.lookup.StaticHashTable | None]:
        if self._tf_table is None:
            with tf.init_scope():  # Created once, eagerly, even when first called inside a tf.data map.
                self._tf_table = tf.lookup.StaticHashTable(
                    tf.lookup.KeyValueTensorInitializer(
                        list(self._token_to_id), list(self._token_to_id.values()), tf.string, tf.int64
                    ),
                    default_value=-1,
                )
                fold = self._fold()
                if fold:
                    self._tf_fold = tf.lookup.StaticHashTable(
                        tf.lookup.KeyValueTensorInitializer(list(fold), list(fold.values()), tf.string, tf.string),
                        default_value="\0",  # no folded value is NUL, and NUL was removed as a control
                    )
        return self._tf_table, self._tf_fold

    def _encode_tf(self, s: tf.Tensor) -> tf.Tensor | tf.RaggedTensor:
        """Encodes a string scalar (→ 1-D ids) or a 1-D batch of strings (→ ragged ids)."""
        table, fold = self._tf_tables()
        patterns = _tf_patterns()
        s = tf.convert_to_tensor(s, tf.string)
        scalar = s.shape.rank == 0
        text = s[tf.newaxis] if scalar else s
        text = tf.strings.regex_replace(text, patterns["control"], "")
        text = tf.strings.regex_replace(text, patterns["whitespace"], " ")
        text = tf.strings.regex_replace(text, patterns["cjk"], r" \0 ")
        if fold is not None:

            def fold_chars(chars: tf.Tensor) -> tf.Tensor:
                folded = fold.lookup(chars)
                return tf.where(tf.equal(folded, "\0"), chars, folded)

            chars = tf.ragged.map_flat_values(fold_chars, tf.strings.unicode_split(text, "UTF-8"))
            text = tf.strings.reduce_join(chars, axis=-1)
        punctuation = patterns["punctuation"]
        words = tf_text.regex_split(text, f" +|{punctuation}", punctuation)

        def cap_length(w: tf.Tensor) -> tf.Tensor:
            return tf.where(tf.strings.length(w, unit="UTF8_CHAR") > _MAX_WORD_CHARS, "[UNK]", w)

        words = tf.ragged.map_flat_values(cap_length, words)
        # Word length is capped in characters above, so the byte limit here never binds.
        tokenizer = tf_text.WordpieceTokenizer(
            table, max_bytes_per_word=4 * _MAX_WORD_CHARS + 4, token_out_type=tf.int64, unknown_token="[UNK]"
        )
        ids = tf.cast(tokenizer.tokenize(words).merge_dims(1, 2), tf.int32)
        return ids[0] if scalar else ids

    def _decode_tf(self, ids: tf.Tensor) -> tf.Tensor:
        tokens = tf.gather(tf.constant(self._tokens), ids)
        keep = tf.reduce_all(tf.not_equal(ids[..., None], [self.pad_id, self.bos_id, self.eos_id, self.mask_id]), -1)
        text = tf.strings.reduce_join(tf.ragged.boolean_mask(tokens, keep), axis=-1, separator=" ")
        return tf.strings.regex_replace(text, " ##", "")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WordPieceVocabulary)
            and self._digest == other._digest
            and (self.lowercase, self.strip_accents) == (other.lowercase, other.strip_accents)
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._digest, self.lowercase, self.strip_accents))

    def __str__(self) -> str:
        return (
            f"WordPieceVocabulary({self._path!r}, lowercase={self.lowercase}, "
            f"strip_accents={self.strip_accents}, size={self.vocab_size})"
        )

    __repr__ = __str__


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
                config = json.loads(_read_bytes(config_path, "tokenizer config"))
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
