"""The evaluation forward pass: a task's batches → jitted model outputs → this host's rows, as numpy.

Every output decoder (argmax, tag alignment, span decoding, pooled embeddings) reads model
outputs through `forward_batches`, so sharding, padding of the last batch and multi-host
bookkeeping live in one place. Each host sees the rows of its own data shard;
`gather_objects` collects per-host results on every host.

The forward is one `jax.jit` whose static arguments are the model graph, the head, the output
selection and the partitioner, so jit's own cache holds one compiled program per (graph, head,
selection, padded batch shape): the languages of a task, later tasks with the same head and
shape, and every dev evaluation of a training run reuse it. A `Select` must therefore be
hashable and compare equal across calls (a module-level function or a frozen dataclass, not a
fresh closure).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any, Callable, Iterator, Mapping

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils

from xstilts_jax.data.batches import BatchSpec, default_length, host_batches
from xstilts_jax.data.label_kinds import InputLengths
from xstilts_jax.errors import InputError
from xstilts_jax.evaluation.span_decoding import SpanDecoding
from xstilts_jax.models.heads import EmbeddingRepresentation
from xstilts_jax.models.model import Model
from xstilts_jax.partitioning import Partitioner

# Model outputs of one head → the arrays to bring back to the host (e.g. the argmax of the logits).
Select = Callable[[Mapping[str, jax.Array]], Mapping[str, jax.Array]]
HostRows = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """How to run evaluation: global batch size, input length (None: the task's default, from
    `input_lengths` unless the task has its own), the partitioner, how spans are decoded and the
    representation of `embedding` heads (which the model builder applies, see `model_for`).

    The gin-bound fields are built with the settings, where a run is configured."""

    batch_size: int
    length: int | None
    partitioner: Partitioner
    input_lengths: InputLengths = dataclasses.field(default_factory=InputLengths)  # gin `default_max_length.*`
    spans: SpanDecoding = dataclasses.field(default_factory=SpanDecoding)  # gin `span_decoding.*`
    # gin `embedding_representation.*`
    representation: EmbeddingRepresentation = dataclasses.field(default_factory=EmbeddingRepresentation)


def _pad_rows(batch: dict[str, np.ndarray], size: int) -> tuple[dict[str, np.ndarray], int]:
    """Pad a short last batch to `size` rows by repeating its first row; returns the real row count."""
    rows = len(next(iter(batch.values())))
    if rows == size:
        return batch, rows
    return {k: np.concatenate([v, np.repeat(v[:1], size - rows, axis=0)]) for k, v in batch.items()}, rows


@functools.partial(jax.jit, static_argnames=("graphdef", "head", "select", "partitioner"))
def _forward(
    params: Any, batch: Mapping[str, jax.Array], *, graphdef: nnx.GraphDef, head: str, select: Select, partitioner: Partitioner
) -> Mapping[str, jax.Array]:
    with partitioner.activation_rules():
        return select(nnx.merge(graphdef, params)(batch, head))


def placed_params(model: Model, partitioner: Partitioner) -> tuple[nnx.GraphDef, Any]:
    """The model's graph and parameters on the partitioner's shardings; parameters already placed so stay as they are."""
    graphdef, state = nnx.split(model, nnx.Param)

    def place(value: Any, sharding: jax.sharding.NamedSharding) -> Any:
        if isinstance(value, jax.Array) and value.sharding.is_equivalent_to(sharding, value.ndim):
            return value
        return jax.device_put(value, sharding)

    return graphdef, jax.tree.map(place, nnx.to_pure_dict(state), partitioner.module_shardings(model))


def forward_batches(
    model: Model, task: str, split: str, head: str, settings: EvalSettings, select: Select
) -> Iterator[tuple[HostRows, HostRows]]:
    """Yield (this host's batch rows, selected outputs for those rows) over one pass of `task`/`split`."""
    length = settings.length or default_length(task, settings.input_lengths)
    spec = BatchSpec(task, split, length, settings.batch_size, shuffle=False, repeat=False)
    partitioner = settings.partitioner
    graphdef, params = placed_params(model, partitioner)
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
        outputs = _forward(
            params, partitioner.to_global(local), graphdef=graphdef, head=head, select=select, partitioner=partitioner
        )
        host = {k: partitioner.to_host_local(v)[:rows] for k, v in outputs.items()}
        yield {k: v[:rows] for k, v in local.items()}, host


def _any_host(flag: bool) -> bool:
    """Whether `flag` is true on any host (each host's own value when there is one host)."""
    if jax.process_count() == 1:
        return flag
    return bool(np.any(multihost_utils.process_allgather(np.array([flag]))))


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
