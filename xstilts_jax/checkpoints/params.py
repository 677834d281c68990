"""Parameter trees shared by both checkpoint formats: flat names, shape checks, and restoring
the encoder and shared heads of a model from an orbax PyTree checkpoint."""

from __future__ import annotations

from typing import Any, Mapping

import jax
import orbax.checkpoint as ocp
from flax import nnx, traverse_util

from xstilts_jax.errors import CheckpointError
from xstilts_jax.models.model import Model


def flat(tree: Mapping[str, Any]) -> dict[str, Any]:
    """A nested parameter tree as one level of 'a/b/c' names."""
    return {"/".join(map(str, k)): v for k, v in traverse_util.flatten_dict(dict(tree)).items()}


def unflat(named: Mapping[str, Any]) -> dict[str, Any]:
    """The nested tree of a flat 'a/b/c' mapping (the inverse of `flat`)."""
    return traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in named.items()})


def shape_problems(
    found: Mapping[str, tuple[int, ...]],
    expected: Mapping[str, tuple[int, ...]],
    found_label: str = "checkpoint",
    expected_label: str = "model",
) -> list[str]:
    """One line per parameter that is missing, unexpected, or of another shape."""
    problems = []
    for name in sorted(set(found) | set(expected)):
        if name not in found:
            problems.append(f"{name}: missing from the {found_label} ({expected_label} expects {expected[name]})")
        elif name not in expected:
            problems.append(f"{name}: in the {found_label} {found[name]} but not in the {expected_label}")
        elif tuple(found[name]) != tuple(expected[name]):
            problems.append(f"{name}: {found_label} {tuple(found[name])} vs {expected_label} {tuple(expected[name])}")
    return problems


def restore_selected_params(
    model: Model,
    checkpoint_path: str,
    stored: Mapping[str, tuple[int, ...]],
    *,
    source: str,
    subtree: str | None = None,
    require_heads: bool = False,
) -> Model:
    """Restore the encoder and the heads both sides have from an orbax PyTree checkpoint, in place.

    `stored` is the checkpoint's flat 'a/b/c' → shape of the parameters (under `subtree`,
    when the parameters sit inside a larger saved tree). Heads only the model has keep their
    values; heads only the checkpoint has are not read. Any shape difference is a
    CheckpointError naming every parameter; restored arrays take the model's shardings. With
    `require_heads`, a model head with parameters that the checkpoint lacks is a CheckpointError.
    """
    state = nnx.state(model, nnx.Param)
    current = flat(nnx.to_pure_dict(state))
    shared_heads = {k.split("/")[1] for k in stored if k.startswith("heads/")} & set(model.heads)
    missing = sorted({k.split("/")[1] for k in current if k.startswith("heads/")} - shared_heads)
    if require_heads and missing:
        have = sorted({k.split("/")[1] for k in stored if k.startswith("heads/")})
        raise CheckpointError(
            f"checkpoint {source} has no trained head {', '.join(map(repr, missing))} (it has {have or 'no heads'}); "
            "a fresh head would score noise. Evaluate a checkpoint trained on a task with that head "
            "(e.g. the target phase's checkpoints/)."
        )

    def selected(name: str) -> bool:
        parts = name.split("/")
        return parts[0] == "encoder" or (parts[0] == "heads" and parts[1] in shared_heads)

    wanted = [k for k in current if selected(k)]
    problems = shape_problems(
        {k: v for k, v in stored.items() if selected(k)}, {k: tuple(current[k].shape) for k in wanted}
    )
    if problems:
        raise CheckpointError(
            f"checkpoint {source} does not match model {model.config.name!r} (a head whose size changed "
            "needs a new name):\n  " + "\n  ".join(problems)
        )
    target = unflat(
        {k: jax.ShapeDtypeStruct(current[k].shape, current[k].dtype, sharding=current[k].sharding) for k in wanted}
    )
    item = target if subtree is None else {subtree: target}
    with ocp.PyTreeCheckpointer() as checkpointer:
        restored = checkpointer.restore(
            checkpoint_path,
            args=ocp.args.PyTreeRestore(
                item=item, restore_args=ocp.checkpoint_utils.construct_restore_args(item), partial_restore=True
            ),
        )
    nnx.replace_by_pure_dict(state, restored if subtree is None else restored[subtree])
    nnx.update(model, state)
    return model
