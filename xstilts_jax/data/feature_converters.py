"""seqio feature converters for encoder tasks: task features → the model's batch features.

- `PaddedEncoderFeatureConverter`: one example per row, padded to a fixed length; every
  label kind of the label-kind table (`xstilts_jax/data/label_kinds.py`).
- `PackedEncoderFeatureConverter`: several short examples per row, with segment ids and
  positions; the table's packable kinds ("class", "tags", "tokens"). Its `pack=False` gives
  padded rows, so t5x-style code that calls `feature_converter_cls(pack=...)` selects either path.

The converters read the features, ranks, labels and truncation of a label kind from the
table. Task features (all int32; `task_feature_lengths` needs only `{"inputs": length}`):

  kind    inputs                    targets          other
  class   [len] ids incl. specials  [] class         -
  choice  [num_choices, len], a     [] choice index  -
          RaggedTensor when the
          choices differ in length
  tags    [len]                     [len] tag ids,   -
                                    -1 on non-first
                                    subwords
  tokens  [len]                     [len] per-token  -
                                    labels, -1 =
                                    ignore (MLM)
  span    [len]                     -                start_positions, end_positions []
  pairs   [2, len] query and        [] 0 (-1 =       -
          candidate (dual encoder)  ignore)
  nearest [len] one text (query or  -                -  (retrieval evaluation: which
  ranking  candidate)                                    examples are queries comes
  mining                                                 from the task's retrieval split)
  any     optional `token_type_ids` shaped as `inputs`; optional scalar `extra_features`

Model features (see `xstilts_jax.models.heads`): `input_ids` (padding = `pad_id`),
`segment_ids` (0 = padding), optional `token_type_ids` (padding 0), and `labels`
([] class/choice index, [length] tags or tokens with -1 = ignore) or `start_positions` /
`end_positions`; extra features pass through as scalars. Packed rows add `positions`
(restarting at the model's position offset in every segment) and carry per-segment
features on a [max_segments] axis with -1 in empty slots: class `labels`, extra
features, and `cls_positions` (each example's first token; 0 in empty slots).

Over-long examples: kinds the table marks `truncate` ("class", "choice", "pairs" and the
retrieval texts) drop tokens from the end but keep the final token (`</s>` / `[SEP]`);
"tags", "tokens" and "span" raise, since they must be split upstream (XTREME-style). Call
`seqio.get_dataset(..., trim_output_features=False)`: seqio's own trimming would cut the
final special token and silently truncate tagging examples.

seqio pads and packs with literal zeros and finds where a packed sequence ends by
counting non-zeros (`utils.trim_and_pad_dataset`, `utils.trim_and_pack_dataset`), but 0
is a real token id (XLM-R `<s>`) and a real label. Features therefore pass through those
utilities in a zero-free encoding (v >= 0 becomes v + 1, negatives stay) and are decoded
afterwards, seqio's zeros becoming each feature's padding value.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import jax
import seqio
import tensorflow as tf
from seqio import utils

from xstilts_jax.data.label_kinds import IGNORE_LABEL, LABEL_KINDS
from xstilts_jax.errors import ConfigError

FeatureSpec = seqio.FeatureConverter.FeatureSpec
Lengths = Mapping[str, int | None]
Features = dict[str, tf.Tensor]

PACKABLE_LABEL_KINDS = tuple(name for name, kind in LABEL_KINDS.items() if kind.packable)
# Internal per-example marker packed on a [max_segments] axis: seqio's packer starts a
# new row when any feature is full, which caps the examples per row.
_SLOT = "segment_slot"
_RESERVED = frozenset(
    {"token_type_ids", *(name for kind in LABEL_KINDS.values() for name in kind.ranks)}
    | {"input_ids", "segment_ids", "positions", "labels", "cls_positions", _SLOT}
)
_AUTOTUNE = tf.data.AUTOTUNE


def _zero_free(t: tf.Tensor) -> tf.Tensor:
    return tf.where(t >= 0, t + 1, t)


def _decode(t: tf.Tensor, fill: int) -> tf.Tensor:
    """Inverse of `_zero_free`; seqio's zeros become `fill`."""
    return tf.where(t > 0, t - 1, tf.where(t < 0, t, fill))


def _map_values(fn: Callable[[tf.Tensor], tf.Tensor], t: tf.Tensor | tf.RaggedTensor) -> tf.Tensor | tf.RaggedTensor:
    return tf.ragged.map_flat_values(fn, t) if isinstance(t, tf.RaggedTensor) else fn(t)


def _last_axis_length(t: tf.Tensor | tf.RaggedTensor) -> tf.Tensor:
    """Length of the last axis (the longest row for a RaggedTensor), int64."""
    if isinstance(t, tf.RaggedTensor):
        return t.bounding_shape()[-1]
    return tf.shape(t, out_type=tf.int64)[-1]


def _num_rows(t: tf.Tensor | tf.RaggedTensor) -> tf.Tensor:
    return t.nrows() if isinstance(t, tf.RaggedTensor) else tf.shape(t, out_type=tf.int64)[0]


def _model_name(task_feature: str) -> str:
    """The model feature of a task feature: seqio's "targets" become "labels", others keep their name."""
    return "labels" if task_feature == "targets" else task_feature


def _truncate_keep_last(t: tf.Tensor | tf.RaggedTensor, length: int) -> tf.Tensor | tf.RaggedTensor:
    """Keep the first `length - 1` tokens and the final one of each row of the last axis.

    `<s> a b c d </s>` with length 4 becomes `<s> a b </s>`; rows that fit are unchanged.
    """
    if isinstance(t, tf.RaggedTensor):
        idx = tf.ragged.range(t.row_lengths())
        last = t.row_lengths()[:, None] - 1
        return tf.ragged.boolean_mask(t, (idx < length - 1) | (idx == last))
    n = tf.shape(t)[-1]
    idx = tf.range(n)
    return tf.boolean_mask(t, (idx < length - 1) | (idx == n - 1), axis=t.shape.rank - 1)


class PaddedEncoderFeatureConverter(seqio.FeatureConverter):
    """One example per row, padded to `task_feature_lengths["inputs"]` (see the module docstring).

    pad_id: the vocabulary's padding id (XLM-R 1, BERT 0). label_kind: a row of `LABEL_KINDS`.
    num_choices: choices per example, required for "choice" (rank-2 inputs without fixed
    rows) and only for it. token_type_ids: whether the task provides `token_type_ids`.
    extra_features: names of int32 scalar task features to pass through (e.g. "idx").
    pack: seqio's flag; this class never packs. apply_length_check: seqio's assertions on
    output lengths.
    """

    PACKING_FEATURE_DTYPES: Mapping[str, tf.DType] | None = None

    def __init__(
        self,
        pad_id: int,
        label_kind: str,
        *,
        num_choices: int | None = None,
        token_type_ids: bool = False,
        extra_features: Sequence[str] = (),
        pack: bool = False,
        apply_length_check: bool = True,
    ):
        name = type(self).__name__
        if label_kind not in LABEL_KINDS:
            raise ConfigError(f"{name}: unknown label_kind {label_kind!r}; choose one of {tuple(LABEL_KINDS)}.")
        kind = LABEL_KINDS[label_kind]
        if pack and self.PACKING_FEATURE_DTYPES is None:
            raise ConfigError(f"{name} does not pack; use PackedEncoderFeatureConverter for packed rows.")
        if pad_id < 0:
            raise ConfigError(f"{name}: pad_id must be >= 0, got {pad_id}.")
        per_choice = [k.name for k in LABEL_KINDS.values() if k.row_per_label]
        if (label_kind in per_choice) != (num_choices is not None) or (num_choices is not None and num_choices < 1):
            raise ConfigError(
                f"{name}: num_choices (>= 1) is required for label kinds {per_choice} and only for them; "
                f"got label_kind={label_kind!r}, num_choices={num_choices!r}."
            )
        clashes = sorted(_RESERVED.intersection(extra_features))
        if clashes or len(set(extra_features)) != len(extra_features):
            raise ConfigError(
                f"{name}: extra_features {list(extra_features)} repeat a name or reuse one of the converter's "
                f"feature names {clashes}; rename them in the task."
            )
        self.pad_id = pad_id
        self.label_kind = label_kind
        self.kind = kind
        self.num_choices = kind.rows or num_choices
        self.token_type_ids = token_type_ids
        self.extra_features = tuple(extra_features)
        self.TASK_FEATURES = self._task_features()
        self.MODEL_FEATURES = self._model_features(pack)
        super().__init__(pack=pack, apply_length_check=apply_length_check)

    def _task_features(self) -> dict[str, FeatureSpec]:
        multi_row = self.kind.inputs_rank == 2
        seq = FeatureSpec(tf.int32, rank=2, sequence_dim=1) if multi_row else FeatureSpec(tf.int32)
        scalar = FeatureSpec(tf.int32, rank=0)
        features = {"inputs": seq}
        if self.token_type_ids:
            features["token_type_ids"] = seq
        features.update({name: seq for name in self.kind.token_labels})
        features.update({name: scalar for name in (*self.kind.example_labels, *self.extra_features)})
        return features

    def _model_features(self, pack: bool) -> dict[str, FeatureSpec]:
        task = self.TASK_FEATURES
        features = {"input_ids": task["inputs"], "segment_ids": task["inputs"]}
        features.update({_model_name(k): v for k, v in task.items() if k != "inputs"})
        return features

    def _token_fills(self) -> dict[str, int]:
        """Model features aligned with the tokens, and their padding values."""
        fills = {"input_ids": self.pad_id}
        if self.token_type_ids:
            fills["token_type_ids"] = 0
        fills.update({_model_name(k): IGNORE_LABEL for k in self.kind.token_labels})
        return fills

    def __call__(self, ds: tf.data.Dataset, task_feature_lengths: Lengths) -> tf.data.Dataset:
        """seqio's conversion and checks; only `task_feature_lengths["inputs"]` is required,
        the other task features take their length from it (scalars have none)."""
        if not isinstance(task_feature_lengths.get("inputs"), int):
            raise ConfigError(
                f"{type(self).__name__}: task_feature_lengths needs an int 'inputs' length, got {task_feature_lengths}."
            )
        length = task_feature_lengths["inputs"]
        implied = {k: None if spec.rank == 0 else length for k, spec in self.TASK_FEATURES.items()}
        return super().__call__(ds, {**implied, **task_feature_lengths})

    def _validate_dataset(
        self,
        ds: tf.data.Dataset,
        expected_features: Mapping[str, FeatureSpec],
        expected_lengths: Lengths,
        strict: bool,
        error_label: str,
    ) -> tf.data.Dataset:
        # seqio's non-strict (input) length check would reject over-long examples with a
        # generic message; `_fit` truncates them or refuses them naming the fix instead.
        lengths = expected_lengths if strict else {}
        return super()._validate_dataset(ds, expected_features, lengths, strict, error_label)

    def _fit(self, ex: Mapping[str, tf.Tensor], length: int) -> Features:
        """Model-named features of one example: token features checked, cut to `length`
        where the label kind allows, and zero-free encoded; scalars as they are."""
        kind, name = self.kind, type(self).__name__
        tokens = {"input_ids": ex["inputs"]}
        if self.token_type_ids:
            tokens["token_type_ids"] = ex["token_type_ids"]
        tokens.update({_model_name(k): ex[k] for k in kind.token_labels})
        n = _last_axis_length(ex["inputs"])
        for key, t in tokens.items():
            if key != "input_ids":
                tf.debugging.assert_equal(
                    _last_axis_length(t), n, message=f"{name}: task feature for {key!r} is not aligned with 'inputs'."
                )
        if kind.inputs_rank == 2:
            tf.debugging.assert_equal(
                _num_rows(ex["inputs"]),
                tf.constant(self.num_choices, tf.int64),
                message=f"{name}: an example does not have num_choices={self.num_choices} choices.",
            )
        if kind.truncate:
            tokens = {k: _truncate_keep_last(t, length) for k, t in tokens.items()}
        else:
            tf.debugging.assert_less_equal(
                n,
                tf.constant(length, tf.int64),
                message=(
                    f"{name}(label_kind={kind.name!r}): an example is longer than the {length} tokens of "
                    "task_feature_lengths['inputs'] and cannot be truncated; split long examples upstream "
                    "(XTREME-style: long sentences into pieces, QA contexts with a doc stride) or raise the length."
                ),
            )
        out = {k: _map_values(_zero_free, t) for k, t in tokens.items()}
        out.update({_model_name(k): ex[k] for k in (*kind.example_labels, *self.extra_features)})
        return out

    def _convert_features(self, ds: tf.data.Dataset, task_feature_lengths: Lengths) -> tf.data.Dataset:
        length = task_feature_lengths["inputs"]
        shape = (self.num_choices, length) if self.kind.inputs_rank == 2 else length
        fills = self._token_fills()
        ds = ds.map(lambda ex: self._fit(ex, length), num_parallel_calls=_AUTOTUNE)
        ds = utils.trim_and_pad_dataset(ds, {k: shape for k in fills})

        def decode(ex: Features) -> Features:
            out = dict(ex, segment_ids=tf.cast(ex["input_ids"] != 0, tf.int32))
            out.update({k: _decode(ex[k], fill) for k, fill in fills.items()})
            return out

        return ds.map(decode, num_parallel_calls=_AUTOTUNE)

    def get_model_feature_lengths(self, task_feature_lengths: Lengths) -> dict[str, int | None]:
        """`inputs` length for token features (the last axis for "choice"); None for scalars."""
        length = task_feature_lengths["inputs"]
        return {k: None if spec.rank == 0 else length for k, spec in self.MODEL_FEATURES.items()}


class PackedEncoderFeatureConverter(PaddedEncoderFeatureConverter):
    """Packs whole examples into rows of `task_feature_lengths["inputs"]` tokens, at most
    `max_segments` per row, with seqio's `utils.trim_and_pack_dataset` (next-fit, in order).

    label_kind: a packable row of `LABEL_KINDS` ("class", "tags", "tokens"). position_offset:
    the model's first position id (`EncoderConfig.position_offset`); None takes the
    RoBERTa/XLM-R convention `pad_id + 1` when pad_id > 0, else 0 (BERT). pack=False gives
    `PaddedEncoderFeatureConverter` rows.
    Other arguments as for `PaddedEncoderFeatureConverter`.
    """

    PACKING_FEATURE_DTYPES = {"segment_ids": tf.int32, "positions": tf.int32}

    def __init__(
        self,
        pad_id: int,
        label_kind: str,
        max_segments: int,
        *,
        position_offset: int | None = None,
        token_type_ids: bool = False,
        extra_features: Sequence[str] = (),
        pack: bool = True,
        apply_length_check: bool = True,
    ):
        if label_kind not in PACKABLE_LABEL_KINDS:
            raise ConfigError(
                f"PackedEncoderFeatureConverter packs label kinds {PACKABLE_LABEL_KINDS}, not {label_kind!r}; "
                "use PaddedEncoderFeatureConverter."
            )
        if max_segments < 1:
            raise ConfigError(f"PackedEncoderFeatureConverter: max_segments must be >= 1, got {max_segments}.")
        self.max_segments = max_segments
        self.position_offset = (pad_id + 1 if pad_id > 0 else 0) if position_offset is None else position_offset
        super().__init__(
            pad_id,
            label_kind,
            token_type_ids=token_type_ids,
            extra_features=extra_features,
            pack=pack,
            apply_length_check=apply_length_check,
        )

    def _segment_features(self) -> tuple[str, ...]:
        """Packed model features with one entry per example, on the [max_segments] axis: per-example
        labels with each example's first token (where its head pools), and the extra features."""
        labels = tuple(_model_name(k) for k in self.kind.example_labels)
        return labels + (("cls_positions",) if labels else ()) + self.extra_features

    def _model_features(self, pack: bool) -> dict[str, FeatureSpec]:
        features = super()._model_features(pack)
        if not pack:
            return features
        # seqio adds `segment_ids` and `positions` from PACKING_FEATURE_DTYPES.
        del features["segment_ids"]
        features.update({k: FeatureSpec(tf.int32) for k in self._segment_features()})
        return features

    def _convert_features(self, ds: tf.data.Dataset, task_feature_lengths: Lengths) -> tf.data.Dataset:
        if not self.pack:
            return super()._convert_features(ds, task_feature_lengths)
        length, slots = task_feature_lengths["inputs"], self.max_segments
        fills = self._token_fills()
        carried = [k for k in self._segment_features() if k != "cls_positions"]

        def packable(ex: Mapping[str, tf.Tensor]) -> Features:
            out = self._fit(ex, length)
            out.update({k: _zero_free(out[k])[None] for k in carried})
            out[_SLOT] = tf.ones([1], tf.int32)
            return out

        ds = ds.map(packable, num_parallel_calls=_AUTOTUNE)
        ds = utils.trim_and_pack_dataset(ds, {**{k: length for k in fills}, **{k: slots for k in (*carried, _SLOT)}})
        offset = self.position_offset
        pad_position = offset - 1 if offset > 0 else 0

        def decode(row: Features) -> Features:
            seg, pos = row["input_ids_segment_ids"], row["input_ids_positions"]
            out = {k: _decode(row[k], fill) for k, fill in fills.items()}
            out.update({k: _decode(row[k], IGNORE_LABEL) for k in carried})
            out["segment_ids"] = seg
            out["positions"] = tf.where(seg > 0, pos + offset, pad_position)
            if "cls_positions" in self._segment_features():
                starts = tf.cast(tf.where((seg > 0) & (pos == 0))[:, 0], tf.int32)
                out["cls_positions"] = tf.ensure_shape(tf.pad(starts, [[0, slots - tf.size(starts)]]), [slots])
            return out

        return ds.map(decode, num_parallel_calls=_AUTOTUNE)

    def get_model_feature_lengths(self, task_feature_lengths: Lengths) -> dict[str, int | None]:
        """`inputs` length for token features, `max_segments` for per-example features."""
        lengths = super().get_model_feature_lengths(task_feature_lengths)
        if self.pack:
            lengths.update({k: self.max_segments for k in self._segment_features()})
            lengths.update({k: task_feature_lengths["inputs"] for k in self.PACKING_FEATURE_DTYPES})
        return lengths


def abstract_batch(
    label_kind: str,
    batch_size: int,
    length: int,
    *,
    pack: bool = False,
    max_segments: int = 8,
    num_choices: int | None = None,
    token_type_ids: bool = False,
    extra_features: Sequence[str] = (),
) -> dict[str, jax.ShapeDtypeStruct]:
    """Shapes and dtypes of one batch of `batch_size` rows at input `length`, as the padded (or,
    with `pack`, packed) converter for `label_kind` emits them, without reading any data
    (MaxText's `get_shaped_inputs`): what the planner compiles the train step for."""
    if pack:
        converter: PaddedEncoderFeatureConverter = PackedEncoderFeatureConverter(
            0, label_kind, max_segments, token_type_ids=token_type_ids, extra_features=extra_features
        )
    else:
        converter = PaddedEncoderFeatureConverter(
            0, label_kind, num_choices=num_choices, token_type_ids=token_type_ids, extra_features=extra_features
        )
    # seqio adds the packing features (segment_ids, positions: [length]) to the declared model features
    packing = {k: FeatureSpec(dtype) for k, dtype in (converter.PACKING_FEATURE_DTYPES or {}).items()}
    specs = {**packing, **converter.MODEL_FEATURES}
    out = {}
    for name, size in converter.get_model_feature_lengths({"inputs": length}).items():
        spec = specs[name]
        rows = (converter.num_choices,) if spec.rank == 2 else ()
        shape = (batch_size, *rows, *(() if size is None else (size,)))
        out[name] = jax.ShapeDtypeStruct(shape, spec.dtype.as_numpy_dtype)
    return out
