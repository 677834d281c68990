"""The evaluation forward pass: a task's batches → jitted model outputs → this host's rows, as numpy.

Every output decoder (argmax, tag alignment, span decoding, pooled embeddings) reads model
outputs through `forward_batches`, so sharding, padding of the last batch and multi-host
bookkeeping live in one place. Each host sees the rows of its own data shard;
`gather_objects` collects per-host results on every host.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Iterator, Mapping

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh, PartitionSpec

from xstilts_jax.data.batches import BatchSpec, host_batches, to_global
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import InputError
from xstilts_jax.models.model import Model
from xstilts_jax.partitioning import Rules, axis_rules, batch_sharding
from xstilts_jax.training.train_state import param_shardings

# Model outputs of one head → the arrays to bring back to the host (e.g. the argmax of the logits).
Select = Callable[[Mapping[str, jax.Array]], Mapping[str, jax.Array]]
HostRows = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """How to run evaluation: global batch size, input length (None: the task's default), mesh and rules."""

    batch_size: int
    length: int | None
    mesh: Mesh
    rules: Rules


def _pad_rows(batch: dict[str, np.ndarray], size: int) -> tuple[dict[str, np.ndarray], int]:
    """Pad a short last batch to `size` rows by repeating its first row; returns the real row count."""
    rows = len(next(iter(batch.values())))
    if rows == size:
        return batch, rows
    return {k: np.concatenate([v, np.repeat(v[:1], size - rows, axis=0)]) for k, v in batch.items()}, rows


def forward_batches(
    model: Model, task: str, split: str, head: str, settings: EvalSettings, select: Select
) -> Iterator[tuple[HostRows, HostRows]]:
    """Yield (this host's batch rows, selected outputs for those rows) over one pass of `task`/`split`."""
    info = get_task_record(task)
    spec = BatchSpec(task, split, settings.length or info.max_length or 256, settings.batch_size, shuffle=False, repeat=False)
    mesh, rules = settings.mesh, settings.rules
    graphdef, state = nnx.split(model, nnx.Param)
    params = jax.device_put(nnx.to_pure_dict(state), param_shardings(model, mesh, rules))

    @jax.jit
    def run(params: Any, batch: Mapping[str, jax.Array]) -> Mapping[str, jax.Array]:
        with axis_rules(mesh, rules):
            return select(nnx.merge(graphdef, params)(batch, head))

    local_rows = settings.batch_size // jax.process_count()
    batches = host_batches(spec, model.config.pad_id, model.config.position_offset)
    filler: dict[str, np.ndarray] | None = None
    while True:
        local = next(batches, None)
        # every host must run every step (the forward is one program over all hosts' devices): a host
        # whose shard ran out steps on with a filler batch and keeps no rows, until all have run out
        if not _any_host(local is not None):
            return
        if local is None:
            if filler is None:
                raise InputError(
                    f"{task}/{split}: host {jax.process_index()} got no examples of its data shard; "
                    f"evaluate this split on fewer hosts than it has examples."
                )
            local, rows = filler, 0
        else:
            local, rows = _pad_rows(local, local_rows)
            filler = local
        outputs = run(params, to_global(local, mesh, rules))
        host = {k: _host_local(v, mesh, rules)[:rows] for k, v in outputs.items()}
        yield {k: v[:rows] for k, v in local.items()}, host


def _any_host(flag: bool) -> bool:
    """Whether `flag` is true on any host (each host's own value when there is one host)."""
    if jax.process_count() == 1:
        return flag
    return bool(np.any(multihost_utils.process_allgather(np.array([flag]))))


def _host_local(value: jax.Array, mesh: Mesh, rules: Rules) -> np.ndarray:
    """This host's rows of a batch-sharded global output (the inverse of `to_global`)."""
    if jax.process_count() == 1:
        return np.asarray(value)
    spec: PartitionSpec = batch_sharding(mesh, rules, value.ndim).spec
    return np.asarray(multihost_utils.global_array_to_host_local_array(value, mesh, spec))


def gather_objects(obj: Any) -> list[Any]:
    """Every host's JSON-serializable `obj`, in process order, on every host (one element on one host)."""
    if jax.process_count() == 1:
        return [obj]
    data = np.frombuffer(json.dumps(obj).encode("utf-8"), dtype=np.uint8)
    sizes = multihost_utils.process_allgather(np.array([data.size], dtype=np.int64))
    padded = np.zeros(int(sizes.max()), dtype=np.uint8)
    padded[: data.size] = data
    gathered = multihost_utils.process_allgather(padded)
    return [json.loads(bytes(row[: int(n)]).decode("utf-8")) for row, n in zip(gathered, sizes.reshape(-1))]


def gather_in_order(local: Mapping[int, Any]) -> list[Any]:
    """Every host's {idx: value} as one list in idx order (the order of the data), on every host.

    Evaluation batches number examples over the full split (`data/batches.host_batches`), so
    each idx lives on exactly one host.
    """
    merged: dict[int, Any] = {}
    for part in gather_objects(sorted(local.items())):
        for idx, value in part:
            if idx in merged:
                raise InputError(f"example idx {idx} was evaluated on two hosts; the task's idx must be unique per split.")
            merged[idx] = value
    return [merged[i] for i in sorted(merged)]
