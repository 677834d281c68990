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
import math
from typing import Any, Callable, Iterator, Mapping

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils

from xstilts_jax.data.batches import BatchSpec, default_length, host_batches
from xstilts_jax.data.length_buckets import bucket_of, tokens_used, trim_length
from xstilts_jax.data.label_kinds import InputLengths
from xstilts_jax.errors import ConfigError, InputError
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

    `per_device_batch_size` (when set) sizes the global batch to the mesh instead: that many rows
    per batch shard. Either way the global batch is rounded up to a multiple of the batch shards
    (`global_batch_size`). `bucket_lengths` pads each batch to the shortest of a few lengths that
    holds its longest example (`data.length_buckets`) instead of to the full input length.
    Retrieval keeps its embeddings on the mesh in `embedding_dtype`. `embedding_cache` holds
    candidate embeddings across the tasks of one evaluation (set by the evaluator for the length
    of one evaluation of one set of parameters, never by a run's config).

    The gin-bound fields are built with the settings, where a run is configured."""

    batch_size: int
    length: int | None
    partitioner: Partitioner
    input_lengths: InputLengths = dataclasses.field(default_factory=InputLengths)  # gin `default_max_length.*`
    spans: SpanDecoding = dataclasses.field(default_factory=SpanDecoding)  # gin `span_decoding.*`
    # gin `embedding_representation.*`
    representation: EmbeddingRepresentation = dataclasses.field(default_factory=EmbeddingRepresentation)
    per_device_batch_size: int | None = None
    bucket_lengths: bool = True
    embedding_dtype: str = "bfloat16"
    embedding_cache: Any = dataclasses.field(default=None, compare=False, repr=False)

    def global_batch_size(self) -> int:
        """The global eval batch: `per_device_batch_size` × the batch shards when set, else `batch_size`,
        rounded up to a multiple of the batch shards and of the hosts (padding rows are dropped)."""
        shards = self.partitioner.batch_shards
        wanted = self.per_device_batch_size * shards if self.per_device_batch_size else self.batch_size
        if wanted < 1:
            raise ConfigError(f"eval batch size must be positive, got {wanted}; set EvalSettings.batch_size or per_device_batch_size.")
        step = math.lcm(shards, jax.process_count())
        return -(-wanted // step) * step


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


def eval_spec(task: str, split: str, settings: EvalSettings, *, length: int | None = None, idx_range: tuple[int, int] | None = None) -> BatchSpec:
    """One unshuffled pass of `task`/`split` at `length` (default: the settings', else the task's), in
    batches sized to the mesh, bucketed by length when the settings say so."""
    length = length or settings.length or default_length(task, settings.input_lengths)
    return BatchSpec(
        task, split, length, settings.global_batch_size(), shuffle=False, repeat=False,
        bucket_lengths=settings.bucket_lengths, idx_range=idx_range,
    )


def forward_steps(
    model: Model, spec: BatchSpec, head: str, settings: EvalSettings, select: Select
) -> Iterator[tuple[HostRows, int, Mapping[str, jax.Array]]]:
    """Yield (this host's batch, padded to the local batch size; how many of its rows are real; the
    selected outputs as global arrays sharded like the batch) over one pass of `spec`."""
    partitioner = settings.partitioner
    graphdef, params = placed_params(model, partitioner)
    local_rows = spec.batch_size // jax.process_count()
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
                    f"{spec.task}/{spec.split}: host {jax.process_index()} got no examples of its data shard; "
                    f"evaluate this split on fewer hosts than it has examples."
                )
            local, rows = filler, 0
        else:
            local, rows = _pad_rows(local, local_rows)
            filler = local
        if spec.bucket_lengths:
            # cut the padding to the bucket of the longest example on any host (every host runs one shape)
            local = trim_length(local, spec.length, bucket_of(_max_host(tokens_used(local)), spec.length))
        outputs = _forward(
            params, partitioner.to_global(local), graphdef=graphdef, head=head, select=select, partitioner=partitioner
        )
        yield local, rows, outputs


def forward_batches(
    model: Model, task: str, split: str, head: str, settings: EvalSettings, select: Select
) -> Iterator[tuple[HostRows, HostRows]]:
    """Yield (this host's batch rows, selected outputs for those rows) over one pass of `task`/`split`."""
    partitioner = settings.partitioner
    for local, rows, outputs in forward_steps(model, eval_spec(task, split, settings), head, settings, select):
        host = {k: partitioner.to_host_local(v)[:rows] for k, v in outputs.items()}
        yield {k: v[:rows] for k, v in local.items()}, host


def _max_host(value: int) -> int:
    """The largest of every host's `value` (this host's on one host)."""
    if jax.process_count() == 1:
        return value
    return int(np.max(multihost_utils.process_allgather(np.array([value], np.int64))))


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
