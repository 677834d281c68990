"""Task heads. Each head kind is a registry entry: a module with `__call__` (outputs) and `loss`.

Batch feature conventions (produced by the feature converters):
- `labels`: [batch] class / choice index, or [batch, length] tag / MLM targets; -1 = ignore.
- `cls_positions` (optional, packed rows): [batch, segments] index of each example's
  first token; `labels` is then [batch, segments].
- `start_positions`, `end_positions`: [batch] token indices (0 = the first token = no answer).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Mapping

import gin
import jax
import jax.numpy as jnp
import optax
from flax import nnx

from xstilts_jax.errors import ConfigError
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.encoder import EncoderOutput
from xstilts_jax.models.layers import Dense, LayerNorm, dropout, gelu, layer_norm, make_param

Batch = Mapping[str, jax.Array]
Outputs = dict[str, jax.Array]

# Target features, -1 = ignore (masked per head when a batch mixes tasks).
LABEL_FEATURES: tuple[str, ...] = ("labels", "start_positions", "end_positions")


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """What a named head is: its kind and its size.

    kind: one of `HEAD_KINDS`. num_labels: classes (classification) or tags (tagging).
    layer / pooling: for `embedding` and `dual_encoder` heads, which hidden state (0 =
    embeddings, None = last) and "mean" or "first". layer_fraction: instead of `layer`,
    hidden state round(fraction × num_layers), so one spec scales with depth (X-STILTs'
    layer 14 of 24 is 14/24).
    """

    kind: str
    num_labels: int = 0
    layer: int | None = None
    pooling: str = "mean"
    layer_fraction: float | None = None


@dataclasses.dataclass
class HeadInputs:
    """Everything a head may read: the encoder output, the batch, the leading input dims
    (e.g. (batch, choices)), a dropout key (None = deterministic) and the tied word embeddings."""

    enc: EncoderOutput
    batch: Batch
    lead: tuple[int, ...]
    rng: jax.Array | None
    word_embeddings: jax.Array


class Head(nnx.Module):
    """What every head is: `__call__(inputs) → outputs` and `loss(outputs, batch)`; training calls
    `training_loss`, which a head overrides when it can compute its loss more cheaply than its outputs."""

    def training_loss(self, inp: HeadInputs) -> tuple[jax.Array, jax.Array]:
        """Summed loss over valid targets and their count."""
        return self.loss(self(inp), inp.batch)  # type: ignore[operator, attr-defined]


def masked_cross_entropy(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Sum of token/example cross-entropies over labels >= 0, and their count."""
    valid = labels >= 0
    ce = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), jnp.where(valid, labels, 0))
    return jnp.sum(jnp.where(valid, ce, 0.0)), jnp.sum(valid)


def _first_tokens(enc: EncoderOutput, batch: Batch) -> jax.Array:
    """[batch, embed] first token, or [batch, segments, embed] for packed rows."""
    h = enc.last_hidden_state
    if "cls_positions" in batch:
        return jnp.take_along_axis(h, batch["cls_positions"][..., None], axis=1)
    return h[:, 0]


class ClassificationHead(Head):
    """RoBERTa-style: dense + tanh on the first token, dropout, linear to classes."""

    def __init__(self, spec: HeadSpec, config: EncoderConfig, rngs: nnx.Rngs):
        if spec.num_labels < 1:
            raise ConfigError(f"classification head needs num_labels >= 1, got {spec.num_labels}.")
        d = config.hidden_size
        self.rate = config.dropout_rate
        self.dense = Dense(rngs, config, (d,), (d,), ("embed",), (None,))
        self.out = Dense(rngs, config, (d,), (spec.num_labels,), ("embed",), (None,))

    def __call__(self, inp: HeadInputs) -> Outputs:
        k1, k2 = (None, None) if inp.rng is None else tuple(jax.random.split(inp.rng))
        x = dropout(_first_tokens(inp.enc, inp.batch), self.rate, k1)
        x = dropout(jnp.tanh(self.dense(x)), self.rate, k2)
        return {"logits": self.out(x).astype(jnp.float32)}

    def loss(self, outputs: Outputs, batch: Batch) -> tuple[jax.Array, jax.Array]:
        return masked_cross_entropy(outputs["logits"], batch["labels"])


class MultipleChoiceHead(Head):
    """All choices in one pass: input [batch, choices, length] → logits [batch, choices]."""

    def __init__(self, spec: HeadSpec, config: EncoderConfig, rngs: nnx.Rngs):
        d = config.hidden_size
        self.rate = config.dropout_rate
        self.dense = Dense(rngs, config, (d,), (d,), ("embed",), (None,))
        self.out = Dense(rngs, config, (d,), (1,), ("embed",), (None,))

    def __call__(self, inp: HeadInputs) -> Outputs:
        if len(inp.lead) != 2:
            raise ConfigError(
                f"multiple_choice head expects input_ids [batch, choices, length], got leading dims {inp.lead}."
            )
        k1, k2 = (None, None) if inp.rng is None else tuple(jax.random.split(inp.rng))
        x = dropout(inp.enc.last_hidden_state[:, 0], self.rate, k1)
        x = dropout(jnp.tanh(self.dense(x)), self.rate, k2)
        return {"logits": self.out(x)[..., 0].reshape(inp.lead).astype(jnp.float32)}

    def loss(self, outputs: Outputs, batch: Batch) -> tuple[jax.Array, jax.Array]:
        return masked_cross_entropy(outputs["logits"], batch["labels"])


class SpanHead(Head):
    """Start/end logits per token. The first token (<s>/[CLS]) stands for "no answer" (SQuAD 2.0)."""

    def __init__(self, spec: HeadSpec, config: EncoderConfig, rngs: nnx.Rngs):
        self.rate = config.dropout_rate
        self.out = Dense(rngs, config, (config.hidden_size,), (2,), ("embed",), (None,))

    def __call__(self, inp: HeadInputs) -> Outputs:
        x = dropout(inp.enc.last_hidden_state, self.rate, inp.rng)
        logits = self.out(x).astype(jnp.float32)
        pad = inp.enc.segment_ids == 0
        neg = jnp.finfo(jnp.float32).min
        start = jnp.where(pad, neg, logits[..., 0])
        end = jnp.where(pad, neg, logits[..., 1])
        return {"start_logits": start, "end_logits": end, "no_answer_score": start[:, 0] + end[:, 0]}

    def loss(self, outputs: Outputs, batch: Batch) -> tuple[jax.Array, jax.Array]:
        s, n = masked_cross_entropy(outputs["start_logits"], batch["start_positions"])
        e, _ = masked_cross_entropy(outputs["end_logits"], batch["end_positions"])
        return (s + e) / 2.0, n


class TaggingHead(Head):
    """Per-token labels (POS, NER, CCG); labels -1 on non-first subwords and padding."""

    def __init__(self, spec: HeadSpec, config: EncoderConfig, rngs: nnx.Rngs):
        if spec.num_labels < 1:
            raise ConfigError(f"tagging head needs num_labels >= 1, got {spec.num_labels}.")
        self.rate = config.dropout_rate
        self.out = Dense(rngs, config, (config.hidden_size,), (spec.num_labels,), ("embed",), (None,))

    def __call__(self, inp: HeadInputs) -> Outputs:
        return {"logits": self.out(dropout(inp.enc.last_hidden_state, self.rate, inp.rng)).astype(jnp.float32)}

    def loss(self, outputs: Outputs, batch: Batch) -> tuple[jax.Array, jax.Array]:
        return masked_cross_entropy(outputs["logits"], batch["labels"])


# The MLM loss projects masked positions in chunks of ceil(MLM_CHUNK_FRACTION x length) per row: with 15% of
# tokens masked, the first chunk holds every target of a row unless the row is 6+ standard deviations over
# (at length 512: 128 slots for about 77 targets); later chunks run only when some row overflows.
MLM_CHUNK_FRACTION = 0.25


class MlmHead(Head):
    """Masked-LM head: dense + GELU + LayerNorm, decoder tied to the input embeddings, own bias.

    `__call__` gives logits at every position (evaluation, predictions). Training (`training_loss`)
    gathers the masked positions first and projects only those, in the compute dtype: no
    [batch, length, vocab] logits are built. The loss equals `loss(__call__(...))`.
    """

    def __init__(self, spec: HeadSpec, config: EncoderConfig, rngs: nnx.Rngs):
        d = config.hidden_size
        self.eps = config.layer_norm_eps
        self.dense = Dense(rngs, config, (d,), (d,), ("embed",), (None,))
        self.norm = LayerNorm(config)
        self.bias = make_param(None, (config.vocab_size,), ("vocab",), config, "zeros")
        self.dtype = config.compute_dtype

    def _transform(self, hidden: jax.Array) -> jax.Array:
        x = gelu(self.dense(hidden))
        return layer_norm(x, self.norm.scale[...], self.norm.bias[...], self.eps).astype(self.dtype)

    def _project(self, x: jax.Array, word_embeddings: jax.Array) -> jax.Array:
        """[..., embed] → [..., vocab] logits in the compute dtype."""
        logits = jnp.einsum("...d,vd->...v", x, word_embeddings.astype(self.dtype))
        return logits + self.bias[...].astype(self.dtype)

    def __call__(self, inp: HeadInputs) -> Outputs:
        x = self._transform(inp.enc.last_hidden_state)
        return {"logits": self._project(x, inp.word_embeddings).astype(jnp.float32)}

    def loss(self, outputs: Outputs, batch: Batch) -> tuple[jax.Array, jax.Array]:
        return masked_cross_entropy(outputs["logits"], batch["labels"])

    def training_loss(self, inp: HeadInputs) -> tuple[jax.Array, jax.Array]:
        """Summed cross-entropy over masked positions (labels >= 0) and their count, projecting only
        those: each row's masked positions are sorted first, then taken `chunk` at a time."""
        hidden, labels = inp.enc.last_hidden_state, inp.batch["labels"]
        length = labels.shape[-1]
        chunk = min(length, max(1, math.ceil(length * MLM_CHUNK_FRACTION)))
        valid = labels >= 0
        order = jnp.argsort(~valid, axis=-1, stable=True)  # masked positions first, in order
        most = jnp.max(jnp.sum(valid, axis=-1))
        words = inp.word_embeddings

        def chunk_loss(start: int) -> tuple[jax.Array, jax.Array]:
            idx = order[:, start : start + chunk]
            x = self._transform(jnp.take_along_axis(hidden, idx[..., None], axis=1))
            return masked_cross_entropy(self._project(x, words), jnp.take_along_axis(labels, idx, axis=1))

        total, count = chunk_loss(0)
        for start in range(chunk, length, chunk):
            # recomputed in the backward pass, so a skipped chunk keeps no logits alive
            t, c = jax.lax.cond(
                most > start,
                jax.checkpoint(functools.partial(chunk_loss, start)),
                lambda: (jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)),
            )
            total, count = total + t, count + c
        return total, count


def pool_hidden(hidden: jax.Array, segment_ids: jax.Array, pooling: str) -> jax.Array:
    """[batch, length, embed] → [batch, embed]: mean over non-padding positions (special
    tokens included, as XTREME and jiant pool) or the first token."""
    if pooling == "first":
        return hidden[:, 0].astype(jnp.float32)
    if pooling != "mean":
        raise ConfigError(f"pooling must be 'mean' or 'first', got {pooling!r}.")
    mask = (segment_ids > 0)[..., None].astype(jnp.float32)
    total = jnp.sum(hidden.astype(jnp.float32) * mask, axis=1)
    return total / jnp.maximum(jnp.sum(mask, axis=1), 1.0)


@gin.configurable("embedding_representation")
@dataclasses.dataclass(frozen=True)
class EmbeddingRepresentation:
    """Overrides for every `embedding` head of a model (None: keep the head spec's value).

    gin name `embedding_representation` (e.g. `--gin.embedding_representation.layer=8` to mine
    BUCC from hidden state 8); bindings apply when a run's `EvalSettings` is built, and the model
    builder applies them to the specs (`with_representation`)."""

    layer: int | None = None
    layer_fraction: float | None = None
    pooling: str | None = None

    def apply(self, spec: HeadSpec) -> HeadSpec:
        """`spec` with these overrides when it is an `embedding` head, else unchanged."""
        if spec.kind != "embedding":
            return spec
        if self.layer is not None or self.layer_fraction is not None:
            spec = dataclasses.replace(spec, layer=self.layer, layer_fraction=self.layer_fraction)
        return dataclasses.replace(spec, pooling=self.pooling or spec.pooling)


def with_representation(specs: Mapping[str, HeadSpec], representation: EmbeddingRepresentation) -> dict[str, HeadSpec]:
    """Head name → spec, each `embedding` head overridden by `representation`."""
    return {name: representation.apply(spec) for name, spec in specs.items()}


def representation_layer(spec: HeadSpec, config: EncoderConfig) -> int:
    """The hidden-state index a pooled head reads: `layer`, else round(layer_fraction × depth), else the last."""
    if spec.layer is not None:
        layer = spec.layer
    elif spec.layer_fraction is not None:
        layer = round(spec.layer_fraction * config.num_layers)
    else:
        layer = config.num_layers
    if not 0 <= layer <= config.num_layers:
        raise ConfigError(
            f"{spec.kind} head: layer={spec.layer}, layer_fraction={spec.layer_fraction} gives hidden state {layer}, "
            f"outside 0..{config.num_layers}."
        )
    return layer


class EmbeddingHead(Head):
    """Pooled sentence embedding from hidden state `layer` (no parameters); the encoder
    runs only the blocks up to that layer."""

    def __init__(self, spec: HeadSpec, config: EncoderConfig, rngs: nnx.Rngs):
        self.encoder_layers = representation_layer(spec, config)
        self.pooling = spec.pooling
        pool_hidden(jnp.zeros((1, 1, 1)), jnp.ones((1, 1)), spec.pooling)  # validate early

    def __call__(self, inp: HeadInputs) -> Outputs:
        return {"embedding": pool_hidden(inp.enc.last_hidden_state, inp.enc.segment_ids, self.pooling)}

    def loss(self, outputs: Outputs, batch: Batch) -> tuple[jax.Array, jax.Array]:
        raise ConfigError("embedding heads have no training loss; use them for retrieval evaluation.")


# XTREME-R's dual encoder (xtreme third_party/run_retrieval_qa.py) scales cosine similarities by 100.
DUAL_ENCODER_LOGIT_SCALE = 100.0


def _l2_normalize(x: jax.Array) -> jax.Array:
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class DualEncoderHead(EmbeddingHead):
    """One shared encoder for both sides of a retrieval pair (LAReQA, Mewsli-X), trained with
    in-batch negatives: each query's candidate is the positive, every other candidate in the
    (global) batch a negative. No parameters beyond the encoder.

    Input [batch, 2, length] (query, candidate) → `logits` [batch, batch] = scale × cosine;
    input [batch, length] (retrieval evaluation) → the L2-normalized pooled `embedding`.
    `labels` [batch]: >= 0 marks a real pair, -1 a pair to ignore (masked rows of routed batches).
    """

    def __call__(self, inp: HeadInputs) -> Outputs:
        pooled = _l2_normalize(pool_hidden(inp.enc.last_hidden_state, inp.enc.segment_ids, self.pooling))
        if len(inp.lead) == 1:
            return {"embedding": pooled}
        if len(inp.lead) != 2 or inp.lead[1] != 2:
            raise ConfigError(f"dual_encoder head expects input_ids [batch, 2, length] or [batch, length], got leading dims {inp.lead}.")
        pairs = pooled.reshape(inp.lead + pooled.shape[-1:])
        logits = DUAL_ENCODER_LOGIT_SCALE * jnp.einsum("qd,cd->qc", pairs[:, 0], pairs[:, 1])
        return {"logits": logits, "embedding": pairs}

    def loss(self, outputs: Outputs, batch: Batch) -> tuple[jax.Array, jax.Array]:
        valid = batch["labels"] >= 0
        # Ignored pairs are neither queries nor negatives.
        logits = jnp.where(valid[None, :], outputs["logits"], jnp.finfo(jnp.float32).min)
        targets = jnp.where(valid, jnp.arange(valid.shape[0]), -1)
        return masked_cross_entropy(logits, targets)


HeadFactory = Callable[[HeadSpec, EncoderConfig, nnx.Rngs], Any]

HEAD_KINDS: dict[str, HeadFactory] = {
    "classification": ClassificationHead,
    "multiple_choice": MultipleChoiceHead,
    "span": SpanHead,
    "tagging": TaggingHead,
    "mlm": MlmHead,
    "embedding": EmbeddingHead,
    "dual_encoder": DualEncoderHead,
}


def make_head(spec: HeadSpec, config: EncoderConfig, rngs: nnx.Rngs) -> Any:
    """Build the head module for `spec`."""
    if spec.kind not in HEAD_KINDS:
        raise ConfigError(f"Unknown head kind {spec.kind!r}; choose one of {sorted(HEAD_KINDS)}.")
    return HEAD_KINDS[spec.kind](spec, config, rngs)
