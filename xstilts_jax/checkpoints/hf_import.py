"""A local Hugging Face encoder directory → an xstilts-jax pretrained checkpoint (`xstilts-jax convert`).

Supported `model_type`s: `xlm-roberta`, `roberta`, `bert` (post-LN) and `xlm-roberta-xl`
(pre-LN). Weights are read only from safetensors (`model.safetensors` or a sharded
`model.safetensors.index.json`); pickled `pytorch_model.bin` files are refused because
unpickling can execute code.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from typing import Any, Iterator, Mapping

import numpy as np
from safetensors import safe_open

from xstilts_jax.errors import CheckpointError, ConfigError
from xstilts_jax.models.config import EncoderConfig

# model_type -> norm style. All but BERT number positions from pad_token_id + 1.
SUPPORTED_MODEL_TYPES: dict[str, str] = {
    "xlm-roberta": "post",
    "roberta": "post",
    "bert": "post",
    "xlm-roberta-xl": "pre",
}
_SINGLE_FILE = "model.safetensors"
_INDEX_FILE = "model.safetensors.index.json"
_WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"

Params = dict[str, Any]


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path} is not valid JSON ({e}); restore it from the original model.") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} does not hold a JSON object; restore it from the original model.")
    return data


class SafetensorsReader:
    """Tensors of a single-file or sharded safetensors checkpoint, read one at a time as numpy."""

    def __init__(self, hf_dir: str):
        self.hf_dir = hf_dir
        index_path = os.path.join(hf_dir, _INDEX_FILE)
        if os.path.isfile(index_path):
            weight_map = _read_json(index_path).get("weight_map")
            if not isinstance(weight_map, dict):
                raise CheckpointError(f"{index_path} has no 'weight_map'; re-save the model with save_pretrained.")
            self.files = {name: os.path.join(hf_dir, shard) for name, shard in weight_map.items()}
            for shard in sorted(set(self.files.values())):
                if not os.path.isfile(shard):
                    raise CheckpointError(f"{index_path} lists shard {shard}, which does not exist; copy every shard.")
        else:
            path = os.path.join(hf_dir, _SINGLE_FILE)
            self.files = {name: path for name in self._open(path).keys()}
        self._handles: dict[str, Any] = {}

    @staticmethod
    def _open(path: str) -> Any:
        try:
            return safe_open(path, framework="np")
        except Exception as e:  # safetensors raises its own error types for bad headers and truncation
            raise CheckpointError(f"cannot read {path} ({e}); the file is corrupt or not safetensors.") from e

    def keys(self) -> list[str]:
        """Every tensor name in the checkpoint."""
        return list(self.files)

    def __contains__(self, name: str) -> bool:
        return name in self.files

    def get(self, name: str) -> np.ndarray:
        """Tensor `name` as float32 numpy (CheckpointError naming it when absent)."""
        if name not in self.files:
            raise CheckpointError(
                f"{self.hf_dir}: expected tensor {name!r} is missing from the weights; "
                "the checkpoint is incomplete or not of the model_type its config.json names."
            )
        path = self.files[name]
        if path not in self._handles:
            self._handles[path] = self._open(path)
        return np.asarray(self._handles[path].get_tensor(name), dtype=np.float32)


def read_hf_config(hf_dir: str) -> dict[str, Any]:
    """config.json of a Hugging Face directory, after checking the directory holds safetensors weights."""
    if not os.path.isdir(hf_dir):
        raise CheckpointError(f"Hugging Face directory {hf_dir} does not exist; pass the folder save_pretrained wrote.")
    config_path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(config_path):
        raise CheckpointError(
            f"{hf_dir} has no config.json; pass a directory written by a Hugging Face model's save_pretrained."
        )
    has_safetensors = any(os.path.isfile(os.path.join(hf_dir, f)) for f in (_SINGLE_FILE, _INDEX_FILE))
    if not has_safetensors:
        pickle_names = ("pytorch_model.bin", "pytorch_model.bin.index.json")
        pickles = [f for f in pickle_names if os.path.exists(os.path.join(hf_dir, f))]
        if pickles:
            raise CheckpointError(
                f"{hf_dir} has only {pickles[0]}, a pickle file, which can execute arbitrary code when loaded; "
                "xstilts-jax refuses to read it. Re-save the model as safetensors in a trusted environment with "
                "`model.save_pretrained(out_dir, safe_serialization=True)`, or convert the file with the "
                "safetensors package, then pass that directory."
            )
        raise CheckpointError(
            f"{hf_dir} has no weights: expected {_SINGLE_FILE} or {_INDEX_FILE} "
            "(save the model with save_pretrained(..., safe_serialization=True))."
        )
    return _read_json(config_path)


def encoder_config_from_hf(hf_config: Mapping[str, Any], hf_dir: str, pooler: bool) -> EncoderConfig:
    """The EncoderConfig equivalent to `hf_dir`'s config.json; its name is the directory's name."""
    name = os.path.basename(os.path.normpath(os.path.abspath(hf_dir)))
    model_type = hf_config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise CheckpointError(
            f"{hf_dir}: model_type {model_type!r} is not supported; supported types are "
            f"{', '.join(sorted(SUPPORTED_MODEL_TYPES))}. Convert a model of one of these types."
        )
    act = hf_config.get("hidden_act", "gelu")
    if act != "gelu":
        raise ConfigError(
            f"{hf_dir}: hidden_act={act!r} is not supported; xstilts-jax encoders use exact (erf) 'gelu'."
        )
    position_type = hf_config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ConfigError(f"{hf_dir}: position_embedding_type={position_type!r}; only 'absolute' is supported.")
    pad = hf_config.get("pad_token_id")
    pad_id = int(pad) if pad is not None else (0 if model_type == "bert" else 1)
    try:
        return EncoderConfig(
            name=name,
            vocab_size=int(hf_config["vocab_size"]),
            hidden_size=int(hf_config["hidden_size"]),
            num_layers=int(hf_config["num_hidden_layers"]),
            num_heads=int(hf_config["num_attention_heads"]),
            mlp_dim=int(hf_config["intermediate_size"]),
            max_positions=int(hf_config["max_position_embeddings"]),
            type_vocab_size=int(hf_config.get("type_vocab_size", 2 if model_type == "bert" else 1)),
            pad_id=pad_id,
            position_offset=0 if model_type == "bert" else pad_id + 1,
            norm_style=SUPPORTED_MODEL_TYPES[model_type],  # type: ignore[arg-type]
            layer_norm_eps=float(hf_config.get("layer_norm_eps", 1e-12)),
            pooler=pooler,
            dropout_rate=float(hf_config.get("hidden_dropout_prob", 0.1)),
            initializer_range=float(hf_config.get("initializer_range", 0.02)),
        )
    except KeyError as e:
        raise CheckpointError(f"{hf_dir}: config.json lacks {e.args[0]!r}; re-save it with save_pretrained.") from None


def _find_prefix(reader: SafetensorsReader) -> str:
    """The key prefix of the encoder ('roberta.', 'bert.' or '')."""
    for key in reader.keys():
        if key.endswith(_WORD_EMBEDDINGS):
            return key[: -len(_WORD_EMBEDDINGS)]
    raise CheckpointError(
        f"{reader.hf_dir}: expected tensor {_WORD_EMBEDDINGS!r} (with any prefix such as 'roberta.' or 'bert.') "
        "is missing from the weights; this does not look like a BERT/RoBERTa-family encoder."
    )


class _Mapper:
    """Reads HF tensors by name, checks their shapes, and lays them out as our parameters."""

    def __init__(self, reader: SafetensorsReader, config: EncoderConfig):
        self.reader = reader
        self.config = config

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        value = self.reader.get(name)
        if value.shape != shape:
            raise CheckpointError(
                f"{self.reader.hf_dir}: tensor {name!r} has shape {value.shape}, but config.json implies {shape}; "
                "the config and weights do not belong together."
            )
        return value

    def linear(self, name: str, d_in: int, d_out: int) -> tuple[np.ndarray, np.ndarray]:
        """(kernel [in, out], bias [out]) of an HF Linear (weight stored [out, in])."""
        return self.tensor(f"{name}.weight", (d_out, d_in)).T, self.tensor(f"{name}.bias", (d_out,))

    def norm(self, name: str) -> dict[str, np.ndarray]:
        d = self.config.hidden_size
        # Old TF-converted BERT checkpoints call LayerNorm parameters gamma/beta.
        scale, bias = ("gamma", "beta") if f"{name}.gamma" in self.reader else ("weight", "bias")
        return {"scale": self.tensor(f"{name}.{scale}", (d,)), "bias": self.tensor(f"{name}.{bias}", (d,))}

    def layer(self, base: str) -> dict[str, Any]:
        cfg = self.config
        d, n, h, f = cfg.hidden_size, cfg.num_heads, cfg.kv_dim, cfg.mlp_dim
        p: dict[str, Any] = {}
        for ours, theirs in (("query", "query"), ("key", "key"), ("value", "value")):
            kernel, bias = self.linear(f"{base}attention.self.{theirs}", d, n * h)
            p[ours], p[f"{ours}_bias"] = kernel.reshape(d, n, h), bias.reshape(n, h)
        kernel, p["out_bias"] = self.linear(f"{base}attention.output.dense", n * h, d)
        p["out"] = kernel.reshape(n, h, d)
        p["mlp_in"], p["mlp_in_bias"] = self.linear(f"{base}intermediate.dense", d, f)
        p["mlp_out"], p["mlp_out_bias"] = self.linear(f"{base}output.dense", f, d)
        if cfg.norm_style == "pre":
            p["attention_norm"] = self.norm(f"{base}attention.self_attn_layer_norm")
            p["mlp_norm"] = self.norm(f"{base}LayerNorm")
        else:
            p["attention_norm"] = self.norm(f"{base}attention.output.LayerNorm")
            p["mlp_norm"] = self.norm(f"{base}output.LayerNorm")
        return p

    def encoder(self, prefix: str) -> Params:
        cfg = self.config
        d = cfg.hidden_size
        emb = f"{prefix}embeddings."
        embeddings: dict[str, Any] = {
            "word": self.tensor(f"{emb}word_embeddings.weight", (cfg.vocab_size, d)),
            "position": self.tensor(f"{emb}position_embeddings.weight", (cfg.max_positions, d)),
            "token_type": self.tensor(f"{emb}token_type_embeddings.weight", (cfg.type_vocab_size, d)),
        }
        if cfg.norm_style == "post":
            embeddings["norm"] = self.norm(f"{emb}LayerNorm")
        layers = [self.layer(f"{prefix}encoder.layer.{i}.") for i in range(cfg.num_layers)]
        params: Params = {"embeddings": embeddings, "layers": _stack(layers)}
        if cfg.norm_style == "pre":
            params["final_norm"] = self.norm(f"{prefix}encoder.LayerNorm")
        if cfg.pooler:
            kernel, bias = self.linear(f"{prefix}pooler.dense", d, d)
            params["pooler"] = {"kernel": kernel, "bias": bias}
        return params

    def mlm_head(self, model_type: str, word_embeddings: np.ndarray) -> Params | None:
        """Our MLM head from `lm_head.*` / `cls.predictions.*`, or None when absent or untied."""
        d, v = self.config.hidden_size, self.config.vocab_size
        if model_type == "bert":
            base, dense, norm, bias = "cls.predictions.", "transform.dense", "transform.LayerNorm", "bias"
        else:
            base, dense, norm, bias = "lm_head.", "dense", "layer_norm", "bias"
        if f"{base}{dense}.weight" not in self.reader:
            return None
        decoder = f"{base}decoder.weight"
        if decoder in self.reader and not np.array_equal(self.tensor(decoder, (v, d)), word_embeddings):
            warnings.warn(
                f"{self.reader.hf_dir}: the MLM decoder is not tied to the word embeddings; xstilts-jax ties them, "
                "so the MLM head is not converted (the encoder is).",
                stacklevel=2,
            )
            return None
        if f"{base}{bias}" not in self.reader and f"{base}decoder.bias" in self.reader:
            bias = "decoder.bias"
        kernel, dense_bias = self.linear(f"{base}{dense}", d, d)
        return {
            "dense": {"kernel": kernel, "bias": dense_bias},
            "norm": self.norm(f"{base}{norm}"),
            "bias": self.tensor(f"{base}{bias}", (v,)),
        }


def _stack(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-layer dicts → one dict with a leading layers axis on every leaf."""
    stacked: dict[str, Any] = {}
    for k, value in layers[0].items():
        values = [layer[k] for layer in layers]
        stacked[k] = _stack(values) if isinstance(value, dict) else np.stack(values)
    return stacked


def load_hf_checkpoint(hf_dir: str) -> tuple[str, EncoderConfig, Params]:
    """(model_type, config, params) from a local HF directory; params is our pure-dict tree in float32.

    The MLM head (`heads/mlm`) is included when the checkpoint has one.
    """
    hf_config = read_hf_config(hf_dir)
    reader = SafetensorsReader(hf_dir)
    model_type = str(hf_config.get("model_type"))
    config = encoder_config_from_hf(hf_config, hf_dir, pooler=False)
    prefix = _find_prefix(reader)
    config = config.replace(pooler=f"{prefix}pooler.dense.weight" in reader)
    mapper = _Mapper(reader, config)
    params: Params = {"encoder": mapper.encoder(prefix)}
    mlm = mapper.mlm_head(model_type, params["encoder"]["embeddings"]["word"])
    if mlm is not None:
        params["heads"] = {"mlm": mlm}
    return model_type, config, params


def _leaves(tree: Mapping[str, Any]) -> Iterator[np.ndarray]:
    for value in tree.values():
        yield from _leaves(value) if isinstance(value, Mapping) else (value,)


def convert(hf_dir: str, out_dir: str, overwrite: bool = False) -> str:
    """Convert `hf_dir` into an xstilts-jax checkpoint at `out_dir`; returns a short summary."""
    from xstilts_jax.checkpoints.pretrained import save_pretrained  # local: keeps `--help` free of orbax
    from xstilts_jax.storage import as_path

    model_type, config, params = load_hf_checkpoint(hf_dir)
    save_pretrained(out_dir, config, params, vocab_dir=hf_dir, overwrite=overwrite)
    encoder_count = sum(math.prod(x.shape) for x in _leaves(params["encoder"]))
    heads = ", ".join(sorted(params.get("heads", {}))) or "none"
    return (
        f"converted {model_type} model {config.name!r}: {config.num_layers} layers, hidden {config.hidden_size}, "
        f"{config.num_heads} heads, mlp {config.mlp_dim}, vocab {config.vocab_size}, {config.norm_style}-LN, "
        f"pooler {'yes' if config.pooler else 'no'}\n"
        f"encoder parameters: {encoder_count:,}; heads: {heads}\n"
        f"wrote {as_path(out_dir)}"
    )

