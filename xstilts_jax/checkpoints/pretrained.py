"""The pretrained-checkpoint directory shared by `convert`, `embed` and the training phases.

Layout of DIR (a local directory or `gs://`; `config.json` is written last and marks it complete):
- `config.json`: {"format": "xstilts-jax", "format_version": 1, "encoder": EncoderConfig.to_dict()}
- `model.gin`: the same config as gin bindings, to compose runs (`--gin_file=DIR/model.gin`)
- `params/`: an orbax checkpoint of the pure-dict parameter tree
  (`{"encoder": ..., "heads": {name: ...}}`, as `nnx.state(model, nnx.Param).to_pure_dict()`)
- the vocabulary files (`xstilts_jax.data.vocabularies.VOCABULARY_FILES`), when known.
"""

from __future__ import annotations

import json
import shutil
import uuid
import warnings
from typing import Any, Mapping

import orbax.checkpoint as ocp
from etils import epath
from flax import nnx

from xstilts_jax.checkpoints.params import flat, restore_selected_params, shape_problems
from xstilts_jax.errors import CheckpointError
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.heads import HeadSpec
from xstilts_jax.models.model import Model
from xstilts_jax.storage import as_path, is_remote

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
    """Write a checkpoint directory (local or `gs://`): config, gin file, orbax params and vocabulary
    files from `vocab_dir`.

    `config.json` is written last: a directory without it is never loaded, so an interrupted write
    never passes for a checkpoint. On a local disk everything is written into a sibling directory
    and renamed at the end, and an existing checkpoint is replaced only after the new one is
    complete; a bucket has no atomic rename, so there an old checkpoint is deleted first. An
    existing non-empty `directory` is refused unless `overwrite`.
    """
    target = as_path(directory)
    directory = str(target)
    if target.exists() and not target.is_dir():
        raise CheckpointError(f"{directory} exists and is not a directory; choose another output path.")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
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
        vocab_files = [f for f in _vocabulary_files() if (as_path(vocab_dir) / f).is_file()]
        if not vocab_files:
            warnings.warn(
                f"{vocab_dir} has none of the vocabulary files {list(_vocabulary_files())}; "
                f"copy them into {directory} before running `xstilts-jax embed` or training.",
                stacklevel=2,
            )

    target.parent.mkdir(parents=True, exist_ok=True)
    if is_remote(target):
        if target.exists():
            target.rmtree()
        _write_checkpoint(target, config, params, vocab_dir, vocab_files)
        return
    tmp = _sibling(target, "tmp")
    tmp.mkdir()  # not tempfile.mkdtemp: its 0700 mode would stick to the finished checkpoint
    try:
        _write_checkpoint(tmp, config, params, vocab_dir, vocab_files)
        _swap_into_place(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write_checkpoint(
    directory: epath.Path, config: EncoderConfig, params: Mapping[str, Any], vocab_dir: str | None, vocab_files: list[str]
) -> None:
    """The files of a checkpoint, `config.json` (the completeness marker) last."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / GIN_FILE).write_text(config.to_gin())
    for name in vocab_files:
        (as_path(vocab_dir) / name).copy(directory / name, overwrite=True)  # type: ignore[arg-type]
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(directory / PARAMS_DIR, dict(params))
    write_config_file(directory, config)


def write_config_file(directory: epath.Path, config: EncoderConfig, **extra: Any) -> None:
    """Write `config.json`, the marker of a complete checkpoint directory: call it after everything else.
    `extra` adds JSON fields that loaders ignore (e.g. where an export came from)."""
    info = {"format": FORMAT, "format_version": FORMAT_VERSION, "encoder": config.to_dict(), **extra}
    (directory / CONFIG_FILE).write_text(json.dumps(info, indent=2) + "\n")


def _sibling(directory: epath.Path, tag: str) -> epath.Path:
    """An unused hidden path beside `directory`."""
    return directory.parent / f".{directory.name}.{tag}-{uuid.uuid4().hex[:12]}"


def _swap_into_place(tmp: epath.Path, directory: epath.Path) -> None:
    """Rename `tmp` to `directory` (local disk); an existing `directory` is removed only after the rename succeeded."""
    if not directory.exists():
        tmp.rename(directory)
        return
    old = _sibling(directory, "old")
    directory.rename(old)
    try:
        tmp.rename(directory)
    except BaseException:
        old.rename(directory)
        raise
    shutil.rmtree(old, ignore_errors=True)


def load_config(directory: str) -> EncoderConfig:
    """The EncoderConfig stored in checkpoint `directory`."""
    if not as_path(directory).is_dir():
        raise CheckpointError(f"checkpoint directory {directory} does not exist.")
    path = as_path(directory) / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{directory} has no {CONFIG_FILE}, so it is not an xstilts-jax checkpoint; create one with "
            f"`xstilts-jax convert --hf_dir HF_DIR --out {directory}`."
        )
    data = json.loads(path.read_text())
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
    return EncoderConfig.from_dict(data["encoder"], source=str(path))


def restore_params(model: Model, directory: str, *, require_heads: bool = False) -> Model:
    """Load checkpoint `directory` into `model` in place (and return it).

    The encoder is always restored; a head of `model` is restored when the checkpoint has
    a head of that name, otherwise it keeps its current values; checkpoint heads the
    model lacks are ignored. Restored arrays take the shardings of `model`'s arrays, so a
    model created on a mesh is loaded sharded. Any shape mismatch is a CheckpointError
    listing every mismatched parameter; with `require_heads`, so is a model head the checkpoint lacks.
    """
    params_dir = as_path(directory) / PARAMS_DIR
    if not params_dir.is_dir():
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
