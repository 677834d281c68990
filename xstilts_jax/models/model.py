"""A model is one encoder plus named heads.

A later phase keeps the encoder and swaps the heads: build a new `Model` with the
new head specs and load the encoder's parameters from the earlier checkpoint.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
from flax import nnx

from xstilts_jax.errors import ConfigError, InputError
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.encoder import Encoder, EncoderOutput
from xstilts_jax.models.heads import LABEL_FEATURES, HeadInputs, HeadSpec, Outputs, make_head

Batch = Mapping[str, jax.Array]


class Model(nnx.Module):
    """Encoder + `heads` (name → head module). Call with a batch and a head name."""

    def __init__(self, config: EncoderConfig, heads: Mapping[str, HeadSpec], *, rngs: nnx.Rngs):
        self.config = config
        self.head_specs: tuple[tuple[str, HeadSpec], ...] = tuple(heads.items())  # static, hashable
        self.encoder = Encoder(config, rngs)
        self.heads = nnx.Dict({name: make_head(spec, config, rngs) for name, spec in heads.items()})

    def encode(
        self,
        batch: Batch,
        *,
        dropout_rng: jax.Array | None = None,
        output_hidden_states: bool = False,
        num_layers: int | None = None,
    ) -> tuple[EncoderOutput, tuple[int, ...]]:
        """Run the encoder on `batch["input_ids"]` of shape [..., length]; leading dims are flattened.

        Returns the encoder output (on the flattened rows) and the leading dims.
        """
        if "input_ids" not in batch:
            raise InputError(f"batch has no 'input_ids' feature; it has {sorted(batch)}.")
        ids = batch["input_ids"]
        lead, length = ids.shape[:-1], ids.shape[-1]

        def flat(name: str) -> jax.Array | None:
            x = batch.get(name)
            return None if x is None else jnp.reshape(x, (-1, length))

        enc = self.encoder(
            jnp.reshape(ids, (-1, length)),
            flat("segment_ids"),
            flat("positions"),
            flat("token_type_ids"),
            dropout_rng=dropout_rng,
            output_hidden_states=output_hidden_states,
            num_layers=num_layers,
        )
        return enc, tuple(lead)

    def _head_inputs(self, batch: Batch, head: str, dropout_rng: jax.Array | None) -> HeadInputs:
        """The encoder run (to the depth head `head` reads) on `batch`, as that head's inputs."""
        if head not in self.heads:
            raise ConfigError(f"Model has no head {head!r}; its heads are {sorted(self.heads)}.")
        module = self.heads[head]
        enc_rng = head_rng = None
        if dropout_rng is not None:
            enc_rng, head_rng = jax.random.split(dropout_rng)
        enc, lead = self.encode(batch, dropout_rng=enc_rng, num_layers=getattr(module, "encoder_layers", None))
        return HeadInputs(enc=enc, batch=batch, lead=lead, rng=head_rng, word_embeddings=self.encoder.embeddings.word[...])

    def __call__(self, batch: Batch, head: str, *, dropout_rng: jax.Array | None = None) -> Outputs:
        """Outputs of head `head` on `batch` (dropout on when `dropout_rng` is given)."""
        inputs = self._head_inputs(batch, head, dropout_rng)
        return self.heads[head](inputs)

    def loss(self, batch: Batch, head: str, *, dropout_rng: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        """Summed loss of head `head` over its valid targets, and the number of targets (the head's
        `training_loss`: the MLM head projects only masked positions)."""
        inputs = self._head_inputs(batch, head, dropout_rng)
        return self.heads[head].training_loss(inputs)

    def routed_loss(
        self, batch: Batch, head_ids: Mapping[str, int], *, dropout_rng: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """Summed loss over a batch mixing tasks: each example (its `head_id` feature) trains
        only its own head, on the encoder depth it reads (as `__call__` gives it); each head sees
        the batch with the targets of other heads' examples masked out."""
        missing = [h for h in head_ids if h not in self.heads]
        if missing:
            raise ConfigError(f"Model has no heads {missing}; its heads are {sorted(self.heads)}.")
        if "head_id" not in batch:
            raise InputError(f"routed_loss needs a 'head_id' feature; the batch has {sorted(batch)}.")
        enc_rng = None
        head_rngs: list[jax.Array | None] = [None] * len(head_ids)
        if dropout_rng is not None:
            enc_rng, *head_rngs = jax.random.split(dropout_rng, len(head_ids) + 1)
        # the encoder runs once per depth the heads read (one run unless a head reads an inner layer)
        depth = {name: getattr(self.heads[name], "encoder_layers", None) for name in head_ids}
        encoded = {n: self.encode(batch, dropout_rng=enc_rng, num_layers=n) for n in dict.fromkeys(depth.values())}
        words = self.encoder.embeddings.word[...]
        total, count = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        for (name, hid), rng in zip(head_ids.items(), head_rngs):
            enc, lead = encoded[depth[name]]
            mine = batch["head_id"] == hid
            masked = dict(batch)
            for key in LABEL_FEATURES:
                if key in batch:
                    keep = jnp.reshape(mine, mine.shape + (1,) * (batch[key].ndim - mine.ndim))
                    masked[key] = jnp.where(keep, batch[key], -1)
            inputs = HeadInputs(enc=enc, batch=masked, lead=lead, rng=rng, word_embeddings=words)
            head_total, head_count = self.heads[name].training_loss(inputs)
            total, count = total + head_total, count + head_count
        return total, count


def build_model(config: EncoderConfig, heads: Mapping[str, HeadSpec] | None = None, seed: int = 0) -> Model:
    """A freshly initialized model."""
    return Model(config, heads or {}, rngs=nnx.Rngs(params=seed))
