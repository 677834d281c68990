"""Length buckets: batches padded to the shortest of a few lengths that holds their longest example,
instead of to the full input length (evaluation passes, `xstilts-jax embed`). Numpy only.
"""

from __future__ import annotations

import numpy as np

from xstilts_jax.errors import InputError

MIN_BUCKET = 32


def length_buckets(length: int) -> tuple[int, ...]:
    """The padded lengths of bucketed eval batches: powers of two from `MIN_BUCKET` below `length`, then `length`."""
    buckets, bucket = [], MIN_BUCKET
    while bucket < length:
        buckets.append(bucket)
        bucket *= 2
    return (*buckets, length)


def bucket_of(tokens: int, length: int) -> int:
    """The shortest bucket of `length_buckets(length)` that holds `tokens` tokens."""
    if tokens > length:
        raise InputError(f"bucket_of: {tokens} tokens do not fit the input length {length}; truncate to it first.")
    return next(b for b in length_buckets(length) if b >= tokens)


def tokens_used(batch: dict[str, np.ndarray]) -> int:
    """The longest example of a padded batch, in tokens (the last non-padding position + 1, by `segment_ids`)."""
    used = np.nonzero(np.any(batch["segment_ids"].reshape(-1, batch["segment_ids"].shape[-1]) != 0, axis=0))[0]
    return int(used[-1]) + 1 if len(used) else 1


def trim_length(batch: dict[str, np.ndarray], full: int, length: int) -> dict[str, np.ndarray]:
    """A batch padded to `full` tokens cut to `length` (>= `tokens_used`): every axis of size `full` of a
    feature with a token axis (input ids, segment and token type ids, token labels, QA offsets)."""
    if length == full:
        return batch
    out = {}
    for key, value in batch.items():
        index = tuple(slice(0, length) if axis and size == full else slice(None) for axis, size in enumerate(value.shape))
        out[key] = value[index]
    return out
