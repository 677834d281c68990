"""The label-kind table: one row per kind of task features, read by the feature converters,
batches, layouts, the evaluation predictors and the task catalog.

A label kind says what a task's examples look like and how the engine handles them: the
int32 features an example carries and their ranks, which of them the batch takes as labels,
what else passes through to the batch, what happens to over-long inputs, whether rows can be
packed, whether preprocessing turns one source example into several, which evaluation
decoder reads the outputs, and which `InputLengths` field gives the default input length.
A new label kind is one row here.

Ranks are per example: "inputs" is [len] (rank 1) or [rows, len] (rank 2: the choices of a
choice task, the query and candidate of a dual-encoder pair). A label feature of the same
rank as "inputs" has one value per token (aligned with the inputs' last axis); a rank-0
label has one value per example. Label values equal to `IGNORE_LABEL` give no training
signal. The task feature "targets" becomes the model feature "labels".
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import gin

from xstilts_jax.errors import ConfigError

IGNORE_LABEL = -1  # a label that gives no training signal: non-first subwords, unmasked MLM tokens, bad QA windows


@dataclasses.dataclass(frozen=True)
class LabelKind:
    """One label kind: its features, how batches are made of it, and how it is decoded.

    ranks: the task's int32 features and their ranks per example ("inputs", seqio's label
    feature "targets" when the kind has one, and any other label features).
    labels: the features of `ranks` that a batch carries as labels.
    passthrough: further task features passed to the model batch (bookkeeping for decoding).
    truncate: over-long inputs are cut keeping their final token (True), or refused, since
    they must be split upstream (False).
    packable: several short examples may share a row (`PackedEncoderFeatureConverter`).
    expanding: preprocessing may turn one source example into several model examples.
    decoder: the evaluation decoder that reads the outputs, None when the kind is never scored.
    length_knob: the `InputLengths` field holding the kind's default input length.
    rows: the fixed number of rows of a rank-2 "inputs" (None: one per label name, e.g. choices).
    """

    name: str
    ranks: Mapping[str, int]
    labels: tuple[str, ...]
    passthrough: tuple[str, ...]
    truncate: bool
    packable: bool
    expanding: bool
    decoder: str | None
    length_knob: str
    rows: int | None = None

    @property
    def inputs_rank(self) -> int:
        """1 for [len] inputs, 2 for [rows, len]."""
        return self.ranks["inputs"]

    @property
    def row_per_label(self) -> bool:
        """Whether "inputs" has one row per label name (the choices of a choice task)."""
        return self.inputs_rank == 2 and self.rows is None

    @property
    def token_labels(self) -> tuple[str, ...]:
        """Label features with one value per token."""
        return tuple(k for k in self.labels if self.ranks[k] == self.inputs_rank)

    @property
    def example_labels(self) -> tuple[str, ...]:
        """Label features with one value per example."""
        return tuple(k for k in self.labels if self.ranks[k] == 0)


_IDS = ("idx", "head_id")  # every catalog task's example number and head routing id


def _text(name: str) -> LabelKind:
    """A retrieval evaluation kind: single texts without labels (which are queries comes from
    the task's retrieval split), decoded by the retrieval decoder of the same name."""
    return LabelKind(
        name, ranks={"inputs": 1}, labels=(), passthrough=_IDS, truncate=True, packable=False, expanding=False,
        decoder=name, length_knob="retrieval",
    )


LABEL_KINDS: Mapping[str, LabelKind] = {
    kind.name: kind
    for kind in (
        LabelKind(
            "class", ranks={"inputs": 1, "targets": 0}, labels=("targets",), passthrough=_IDS,
            truncate=True, packable=True, expanding=False, decoder="labels", length_knob="classification",
        ),
        LabelKind(
            "choice", ranks={"inputs": 2, "targets": 0}, labels=("targets",), passthrough=_IDS,
            truncate=True, packable=False, expanding=False, decoder="labels", length_knob="multiple_choice",
        ),
        # a long sentence split into pieces carries its word numbering, for re-joining the pieces
        LabelKind(
            "tags", ranks={"inputs": 1, "targets": 1}, labels=("targets",), passthrough=_IDS + ("word_start", "num_words"),
            truncate=False, packable=True, expanding=True, decoder="tags", length_knob="tagging",
        ),
        # per-token labels without tagging bookkeeping (MLM: a long line becomes several chunks)
        LabelKind(
            "tokens", ranks={"inputs": 1, "targets": 1}, labels=("targets",), passthrough=_IDS,
            truncate=False, packable=True, expanding=True, decoder="tokens", length_knob="masked_lm",
        ),
        # QA windows: seqio's "targets" is [start, end]; batches carry the two positions, and which
        # window of its example a row is
        LabelKind(
            "span", ranks={"inputs": 1, "targets": 1, "start_positions": 0, "end_positions": 0},
            labels=("start_positions", "end_positions"), passthrough=_IDS + ("window",),
            truncate=False, packable=False, expanding=True, decoder="spans", length_knob="span",
        ),
        # dual-encoder training rows: query and candidate, target 0 (IGNORE_LABEL: a row to skip)
        LabelKind(
            "pairs", ranks={"inputs": 2, "targets": 0}, labels=("targets",), passthrough=_IDS,
            truncate=True, packable=False, expanding=False, decoder=None, length_knob="retrieval", rows=2,
        ),
        _text("nearest"),
        _text("ranking"),
        _text("mining"),
    )
}


def get_label_kind(name: str) -> LabelKind:
    """The row of label kind `name`; an unknown name is a ConfigError listing the known ones."""
    if name not in LABEL_KINDS:
        raise ConfigError(f"Unknown label kind {name!r}; known: {sorted(LABEL_KINDS)} (xstilts_jax/data/label_kinds.py).")
    return LABEL_KINDS[name]


@gin.configurable("default_max_length")
@dataclasses.dataclass(frozen=True)
class InputLengths:
    """Default input length per group of label kinds (DESIGN.md: 256 for classification and
    tagging, 384 for QA, 512 for retrieval), used where a run binds no length.

    gin name `default_max_length` (e.g. `default_max_length.span = 512`); bindings apply when a
    run's configuration (`TrainConfig`, `EvalSettings`) is built, which holds one of these.
    """

    classification: int = 256
    multiple_choice: int = 256
    tagging: int = 256
    masked_lm: int = 128
    span: int = 384
    retrieval: int = 512

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if getattr(self, field.name) < 1:
                raise ConfigError(f"default_max_length.{field.name} must be >= 1, got {getattr(self, field.name)}.")

    def of(self, kind: str) -> int:
        """The default input length of label kind `kind`."""
        return getattr(self, get_label_kind(kind).length_knob)
