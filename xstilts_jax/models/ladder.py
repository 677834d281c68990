"""The model size ladder: names → gin files in gin/models/, and published parameter counts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import gin
from gin import config_parser

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
    """Parse gin files/bindings (on top of the current gin config) and build the EncoderConfig they bind."""
    parse_gin(files, bindings)
    try:
        return EncoderConfig()
    except (TypeError, ValueError) as e:
        raise ConfigError(f"EncoderConfig from {list(files)} + {list(bindings)}: {e}") from e


def _rung_placement(statement: config_parser.BindingStatement) -> bool:
    """Whether a model gin's binding places its rung (mesh, slice, gradient accumulation) rather than shapes it."""
    if statement.selector == "MeshConfig":
        return not statement.scope
    return statement.selector == "TrainConfig" and statement.arg_name == "accumulate_steps"


def model_config(name: str, **overrides: object) -> EncoderConfig:
    """The EncoderConfig of ladder model `name`, with optional field overrides.

    Reads the model's gin file without touching the global gin config: every field is passed
    explicitly (the file's value, else the field default), so no other binding applies."""
    path = model_gin_file(name)
    values = {f.name: f.default for f in dataclasses.fields(EncoderConfig) if f.default is not dataclasses.MISSING}
    with path.open(encoding="utf-8") as f:
        for statement in config_parser.ConfigParser(f, gin.config.ParserDelegate(skip_unknown=True)):
            if isinstance(statement, config_parser.ImportStatement):
                continue
            binding = isinstance(statement, config_parser.BindingStatement)
            if binding and _rung_placement(statement):
                continue
            if not binding or statement.selector != "EncoderConfig" or statement.scope:
                raise ConfigError(
                    f"{path}: a model gin file binds only EncoderConfig fields and its rung's placement "
                    f"(MeshConfig.*, TrainConfig.accumulate_steps), got {statement}."
                )
            values[statement.arg_name] = statement.value
    try:
        return EncoderConfig(**{**values, **overrides})
    except (TypeError, ValueError) as e:
        raise ConfigError(f"EncoderConfig of {name!r} ({path}): {e}") from e
