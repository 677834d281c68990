"""A finished phase's params-only export: what the next phase and the evaluation load.

The export is a converted-checkpoint directory (`pretrained.py`'s layout), so everything that loads a
converted model loads it too (`load_encoder_from`, `eval`, `embed`, `grow`):
- `params/`: orbax arrays of the parameter tree `{"encoder": ..., "heads": {name: ...}}`, sharded as the
  model was (each host writes its shards) and restorable onto any mesh, in the model's parameter dtype
  (`EncoderConfig.param_dtype`, stated in `config.json`); no optimizer state, step or RNG;
- `model.gin`: the encoder config as gin bindings;
- `config.json`, written last: the completeness marker, with `exported_from`, the train-state step
  directory the parameters came from. A directory without it (an interrupted export) is never loaded
  and is written anew.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp
from flax import nnx

from xstilts_jax.checkpoints.pretrained import GIN_FILE, PARAMS_DIR, write_config_file
from xstilts_jax.models.model import Model
from xstilts_jax.storage import PathLike, as_path, is_remote

EXPORTED_FROM = "exported_from"


def export_params(directory: PathLike, model: Model, *, source: str) -> None:
    """Write `model`'s parameters to `directory` as a params-only export of the checkpoint `source`
    (every host calls it: each writes its own shards). Whatever `directory` held (an interrupted or an
    earlier export) is removed first, and `config.json` is written last."""
    target = as_path(directory)
    if jax.process_index() == 0:
        if target.exists():
            target.rmtree()
        target.mkdir(parents=True, exist_ok=True)
        (target / GIN_FILE).write_text(model.config.to_gin())
    _sync(f"export {target} cleared")
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(target / PARAMS_DIR, nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    _sync(f"export {target} params written")
    if jax.process_index() == 0:
        write_config_file(target, model.config, **{EXPORTED_FROM: source})
    _sync(f"export {target} complete")


def stored_bytes(directory: PathLike) -> int:
    """Total size of the files under `directory` (local or on a bucket); 0 when it does not exist."""
    target = as_path(directory)
    if not target.exists():
        return 0
    if is_remote(target):
        import fsspec  # local: only bucket paths need it

        return int(fsspec.filesystem(str(target).split("://", 1)[0]).du(str(target)))
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(target) for name in names)


def _sync(name: str) -> None:
    """Wait for every host (multi-host jobs), so no host reads or writes ahead of process 0's step."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
