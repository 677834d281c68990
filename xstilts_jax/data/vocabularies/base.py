"""`EncoderVocabulary`: the seqio `Vocabulary` base of the encoder vocabularies (special tokens, input layout).

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
import os
from collections.abc import Sequence

import seqio
import tensorflow as tf

from xstilts_jax.errors import CheckpointError, InputError

PathLike = str | os.PathLike


def read_bytes(path: PathLike, what: str) -> bytes:
    """The bytes of a vocabulary file (local or gs://); a missing file is a CheckpointError naming `what`."""
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
