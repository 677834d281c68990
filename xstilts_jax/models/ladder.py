"""The model size ladder: names → gin files in gin/models/, and published parameter counts."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import gin

from xstilts_jax.errors import ConfigError
from xstilts_jax.gin_utils import REPO_ROOT, parse_gin
from xstilts_jax.models.config import EncoderConfig

MODELS_DIR = REPO_ROOT / "gin" / "models"

# The ladder in order, smallest to largest (tiny and mbert_base sit outside it).
LADDER: tuple[str, ...] = ("xlmr_base", "xlmr_large", "xlmr_xl", "xlmr_xxl", "encoder_30b", "encoder_60b", "encoder_100b")

# Published parameter counts of released encoders (encoder + pooler, no task head).
# base/large/mBERT: exact counts of the released Hugging Face checkpoints
# (`XLMRobertaModel` / `BertModel` `.num_parameters()`); the XLM-R paper rounds them
# to 270M/550M. XL/XXL: Goyal et al. 2021, "Larger-Scale Transformers for
# Multilingual Masked Language Modeling", Table 1.
PUBLISHED_PARAMS: dict[str, int] = {
    "xlmr_base": 278_043_648,
    "xlmr_large": 559_890_432,
    "mbert_base": 177_853_440,
    "xlmr_xl": 3_500_000_000,
    "xlmr_xxl": 10_700_000_000,
}


def available_models() -> list[str]:
    """Names of the model gin files shipped in gin/models/."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.gin"))


def model_gin_file(name: str) -> Path:
    """The gin file of model `name`; a clear error listing the known names otherwise."""
    path = MODELS_DIR / f"{name}.gin"
    if not path.is_file():
        raise ConfigError(f"Unknown model name {name!r}; known models: {', '.join(available_models())}.")
    return path


def config_from_gin(files: Sequence[str], bindings: Sequence[str] = ()) -> EncoderConfig:
    """Parse gin files/bindings (clearing earlier gin state) and build the EncoderConfig they bind."""
    gin.clear_config()
    parse_gin(files, bindings)
    try:
        return EncoderConfig()
    except (TypeError, ValueError) as e:
        raise ConfigError(f"EncoderConfig from {list(files)} + {list(bindings)}: {e}") from e


def model_config(name: str, **overrides: object) -> EncoderConfig:
    """The EncoderConfig of ladder model `name`, with optional field overrides."""
    config = config_from_gin([str(model_gin_file(name))])
    gin.clear_config()
    return config.replace(**overrides) if overrides else config
