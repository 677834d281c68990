"""The pretrained-checkpoint directory shared by `convert`, `embed` and the training phases.

Layout of DIR:
- `config.json`: {"format": "xstilts-jax", "format_version": 1, "encoder": EncoderConfig.to_dict()}
- `model.gin`: the same config as gin bindings, to compose runs (`--gin_file=DIR/model.gin`)
- `params/`: an orbax checkpoint of the pure-dict parameter tree
  (`{"encoder": ..., "heads": {name: ...}}`, as `nnx.state(model, nnx.Param).to_pure_dict()`)
- the vocabulary files (`xstilts_jax.data.vocabularies.VOCABULARY_FILES`), when known.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from typing import Any, Mapping

import orbax.checkpoint as ocp
from flax import nnx

from xstilts_jax.checkpoints.params import flat, restore_selected_params, shape_problems
from xstilts_jax.errors import CheckpointError
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.heads import HeadSpec
from xstilts_jax.models.model import Model

FORMAT = "xstilts-jax"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
GIN_FILE = "model.gin"
PARAMS_DIR = "params"


def _encoder_shapes(config: EncoderConfig) -> dict[str, tuple[int, ...]]:
    abstract = nnx.eval_shape(lambda: Model(config, {}, rngs=nnx.Rngs(params=0)))
    return {k: tuple(v.shape) for k, v in flat(nnx.state(abstract, nnx.Param).to_pure_dict()).items()}


def _vocabulary_files() -> tuple[str, ...]:
    from xstilts_jax.data.vocabularies import VOCABULARY_FILES  # local: the data package pulls in seqio

    return tuple(VOCABULARY_FILES)


def save_pretrained(
    directory: str,
    config: EncoderConfig,
    params: Mapping[str, Any],
    vocab_dir: str | None,
    *,
    overwrite: bool = False,
) -> None:
    """Write a checkpoint directory: config, gin file, orbax params and vocabulary files from `vocab_dir`.

    Everything is written into a temporary directory beside `directory` and renamed at
    the end, so an interrupted write never leaves a half checkpoint. An existing
    non-empty `directory` is refused unless `overwrite`; it is replaced only after the
    new checkpoint is complete.
    """
    directory = os.path.abspath(directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise CheckpointError(f"{directory} exists and is not a directory; choose another output path.")
    if os.path.isdir(directory) and os.listdir(directory) and not overwrite:
        raise CheckpointError(
            f"{directory} exists and is not empty; pass --overwrite (overwrite=True) to replace it, or pick another path."
        )
    encoder = params.get("encoder")
    if not isinstance(encoder, Mapping):
        raise CheckpointError(f"params for {directory} have no 'encoder' subtree; got keys {sorted(params)}.")
    found = {f"encoder/{k}": tuple(v.shape) for k, v in flat(encoder).items()}
    problems = shape_problems(found, _encoder_shapes(config), "params", "config")
    if problems:
        raise CheckpointError(
            f"encoder parameters do not match config {config.name!r}; nothing written to {directory}:\n  "
            + "\n  ".join(problems)
        )
    vocab_files = []
    if vocab_dir is not None:
        vocab_files = [f for f in _vocabulary_files() if os.path.isfile(os.path.join(vocab_dir, f))]
        if not vocab_files:
            warnings.warn(
                f"{vocab_dir} has none of the vocabulary files {list(_vocabulary_files())}; "
                f"copy them into {directory} before running `xstilts-jax embed` or training.",
                stacklevel=2,
            )

    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = _sibling(directory, "tmp")
    os.mkdir(tmp)  # not tempfile.mkdtemp: its 0700 mode would stick to the finished checkpoint
    try:
        with open(os.path.join(tmp, CONFIG_FILE), "w", encoding="utf-8") as f:
            json.dump({"format": FORMAT, "format_version": FORMAT_VERSION, "encoder": config.to_dict()}, f, indent=2)
            f.write("\n")
        with open(os.path.join(tmp, GIN_FILE), "w", encoding="utf-8") as f:
            f.write(config.to_gin())
        for name in vocab_files:
            shutil.copy2(os.path.join(vocab_dir, name), os.path.join(tmp, name))  # type: ignore[arg-type]
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(os.path.join(tmp, PARAMS_DIR), dict(params))
        _swap_into_place(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sibling(directory: str, tag: str) -> str:
    """An unused hidden path beside `directory`."""
    return os.path.join(os.path.dirname(directory), f".{os.path.basename(directory)}.{tag}-{uuid.uuid4().hex[:12]}")


def _swap_into_place(tmp: str, directory: str) -> None:
    """Rename `tmp` to `directory`; an existing `directory` is removed only after the rename succeeded."""
    if not os.path.exists(directory):
        os.rename(tmp, directory)
        return
    old = _sibling(directory, "old")
    os.rename(directory, old)
    try:
        os.rename(tmp, directory)
    except BaseException:
        os.rename(old, directory)
        raise
    shutil.rmtree(old, ignore_errors=True)


def load_config(directory: str) -> EncoderConfig:
    """The EncoderConfig stored in checkpoint `directory`."""
    if not os.path.isdir(directory):
        raise CheckpointError(f"checkpoint directory {directory} does not exist.")
    path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(path):
        raise CheckpointError(
            f"{directory} has no {CONFIG_FILE}, so it is not an xstilts-jax checkpoint; create one with "
            f"`xstilts-jax convert --hf_dir HF_DIR --out {directory}`."
        )
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if data.get("format") != FORMAT or "encoder" not in data:
        raise CheckpointError(
            f"{path} is not an xstilts-jax checkpoint config (a Hugging Face directory? convert it first with "
            "`xstilts-jax convert`)."
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format_version {data.get('format_version')!r}; this xstilts-jax reads version "
            f"{FORMAT_VERSION}. Convert the checkpoint again with this version."
        )
    return EncoderConfig.from_dict(data["encoder"], source=path)


def restore_params(model: Model, directory: str, *, require_heads: bool = False) -> Model:
    """Load checkpoint `directory` into `model` in place (and return it).

    The encoder is always restored; a head of `model` is restored when the checkpoint has
    a head of that name, otherwise it keeps its current values; checkpoint heads the
    model lacks are ignored. Restored arrays take the shardings of `model`'s arrays, so a
    model created on a mesh is loaded sharded. Any shape mismatch is a CheckpointError
    listing every mismatched parameter; with `require_heads`, so is a model head the checkpoint lacks.
    """
    params_dir = os.path.join(os.path.abspath(directory), PARAMS_DIR)
    if not os.path.isdir(params_dir):
        raise CheckpointError(
            f"{directory} has no {PARAMS_DIR}/ directory with the weights; the checkpoint is incomplete "
            "(convert it again with `xstilts-jax convert`)."
        )
    with ocp.StandardCheckpointer() as checkpointer:
        stored = {k: tuple(v.shape) for k, v in flat(checkpointer.metadata(params_dir).item_metadata.tree).items()}

    return restore_selected_params(model, params_dir, stored, source=directory, require_heads=require_heads)



def load_pretrained(directory: str, heads: Mapping[str, HeadSpec], seed: int = 0) -> Model:
    """A model with `heads` whose encoder (and same-named heads) come from checkpoint `directory`.

    Heads absent from the checkpoint keep their fresh initialization from `seed`.
    """
    config = load_config(directory)
    return restore_params(Model(config, heads, rngs=nnx.Rngs(params=seed)), directory)
