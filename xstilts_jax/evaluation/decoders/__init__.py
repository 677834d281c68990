"""Output decoders, one module per output format: a task's examples → (gold, predicted) values for its metric fns.

A decoder runs the forward pass (`evaluation.forward.forward_batches`), decodes the head's
outputs and returns gold and predicted values in example (`idx`) order or keyed by example id,
gathered from every host, and optionally a third value, `aux_values` (seqio's name): what metric
fns with an `aux_values` argument need besides the predictions (span QA: each question's
no-answer score). `decode` returns the three as one `Decoded`. `DECODERS` maps decoder names to
decoders; the label-kind table (`data/label_kinds.py`) names each kind's decoder, so a new output
format is a new module and entry here, not a branch in the evaluator.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple

from xstilts_jax.data.label_kinds import LABEL_KINDS, get_label_kind
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.decoders.labels import decode_labels
from xstilts_jax.evaluation.decoders.retrieval import decode_mining, decode_nearest, decode_ranking
from xstilts_jax.evaluation.decoders.spans import decode_spans
from xstilts_jax.evaluation.decoders.tags import decode_tags
from xstilts_jax.evaluation.decoders.tokens import decode_tokens
from xstilts_jax.evaluation.forward import EvalSettings
from xstilts_jax.models.model import Model

# (model, task, split, settings) -> (gold values, predicted values[, aux values]).
Decoder = Callable[[Model, str, str, EvalSettings], tuple[Any, ...]]


class Decoded(NamedTuple):
    """A task's decoded examples: gold and predicted values for its metric fns, and the auxiliary
    values its `aux_values` metric fns read (empty for most decoders)."""

    targets: Any
    predictions: Any
    aux_values: Mapping[str, Any] = MappingProxyType({})

DECODERS: dict[str, Decoder] = {
    "labels": decode_labels,
    "tags": decode_tags,
    "tokens": decode_tokens,
    "spans": decode_spans,
    "nearest": decode_nearest,
    "ranking": decode_ranking,
    "mining": decode_mining,
}


def decode(model: Model, task: str, split: str, settings: EvalSettings) -> Decoded:
    """Gold, predicted and auxiliary values of every example of `task`/`split`, decoded by its label kind's decoder."""
    kind = get_task_record(task).label_kind
    decoder = get_label_kind(kind).decoder
    if decoder not in DECODERS:
        scored = sorted(k for k, row in LABEL_KINDS.items() if row.decoder in DECODERS)
        raise ConfigError(f"Task {task!r} has label kind {kind!r}, which no evaluation decoder decodes; scored kinds: {scored}.")
    return Decoded(*DECODERS[decoder](model, task, split, settings))
