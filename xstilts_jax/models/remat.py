"""Named rematerialization policies for the scanned transformer block."""

from __future__ import annotations

from typing import Callable, TypeVar

import jax

F = TypeVar("F", bound=Callable)

# name -> policy for jax.checkpoint; "none" means no checkpointing at all.
REMAT_POLICIES: dict[str, Callable | None] = {
    "none": None,
    # Recompute everything in the backward pass: least memory.
    "full": jax.checkpoint_policies.nothing_saveable,
    # Keep the weight matmul outputs, recompute attention scores and elementwise ops.
    "save_dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def apply_remat(fn: F, name: str) -> F:
    """Wrap a scan body with the remat policy called `name`."""
    if name == "none":
        return fn
    return jax.checkpoint(fn, policy=REMAT_POLICIES[name], prevent_cse=False)  # type: ignore[return-value]
