"""The encoder family and its heads."""

from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.encoder import Encoder, EncoderOutput
from xstilts_jax.models.heads import HEAD_KINDS, HeadSpec
from xstilts_jax.models.model import Model, build_model

__all__ = ["EncoderConfig", "Encoder", "EncoderOutput", "HEAD_KINDS", "HeadSpec", "Model", "build_model"]
