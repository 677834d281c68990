"""BERT / mBERT WordPiece vocabulary with BERT's basic tokenization, equal to Hugging Face's `BertTokenizer`."""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence

import tensorflow as tf
import tensorflow_text as tf_text

from xstilts_jax.data.vocabularies.base import EncoderVocabulary, PathLike, read_bytes
from xstilts_jax.errors import CheckpointError

# --- BERT normalization, as Hugging Face's BertNormalizer + BertPreTokenizer define it ---

# Unicode White_Space, less \x0b, \x0c and \x85: those are controls, removed before this applies.
_WHITESPACE = frozenset("\t\n\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B))))
# CJK ideographs that BERT splits into one token each. Hugging Face's tokenizers starts the
# sixth range at 0x2B920 where Google's BERT has 0x2B820; we follow Hugging Face.
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
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
        data = read_bytes(self._path, "WordPiece vocabulary")
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
