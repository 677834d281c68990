"""A run's checkpoints: the full train state plus the data position, with orbax.

Layout of a checkpoint directory (one `orbax.checkpoint.CheckpointManager`):
- `<step>/state/`: orbax arrays of `{"step", "params", "opt_state", "rng"}`, the RNG key as
  its raw `key_data` (uint32)
- `<step>/data/metadata`: JSON data position (examples consumed per task, epoch, ...)
- `<step>/meta/metadata`: JSON `{"format", "format_version", "rng_impl"}`
- `<step>/data_iterators/`: each host's data iterator state (`data/iterator_state.py`), written by every
  host; absent in checkpoints of older versions (their data position resumes by replay)
- `<step>/metrics/metrics`: JSON metrics, when a best metric is tracked and metrics were given
- `<step>/commit_success.txt`, `<step>/_CHECKPOINT_METADATA`: written by orbax
- `<step>.orbax-checkpoint-tmp*/`: a save in flight or interrupted; never read
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, Callable, Literal, Mapping

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint import checkpoint_managers as policies

from xstilts_jax.errors import CheckpointError, ConfigError, DivergenceError
from xstilts_jax.storage import as_path
from xstilts_jax.models.model import Model
from xstilts_jax.checkpoints.host_files import HostFilesHandler, HostFilesSave
from xstilts_jax.checkpoints.params import flat, restore_selected_params, shape_problems
from xstilts_jax.checkpoints.pretrained import CONFIG_FILE, restore_params
from xstilts_jax.training.train_state import TrainState

FORMAT = "xstilts-jax-run"
FORMAT_VERSION = 1
STATE, DATA, META, DATA_ITERATORS = "state", "data", "meta", "data_iterators"
MODEL_MISMATCH = "does not match the model being trained"


def _handlers() -> dict[str, ocp.CheckpointHandler]:
    return {
        STATE: ocp.StandardCheckpointHandler(),
        DATA: ocp.JsonCheckpointHandler(),
        META: ocp.JsonCheckpointHandler(),
        DATA_ITERATORS: HostFilesHandler(),
    }


def _state_tree(state: TrainState) -> dict[str, Any]:
    # orbax has no typed-PRNG-key handler: the key travels as its raw uint32 data.
    tree = {"step": state.step, "params": state.params, "opt_state": state.opt_state}
    return dict(tree, rng=jax.random.key_data(state.rng))


def _as_abstract(leaf: Any) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=getattr(leaf, "sharding", None))


def _abstract_tree(state: TrainState) -> dict[str, Any]:
    rng = jax.eval_shape(jax.random.key_data, state.rng)
    rng = jax.ShapeDtypeStruct(rng.shape, rng.dtype, sharding=getattr(state.rng, "sharding", None))
    tree = {"step": state.step, "params": state.params, "opt_state": state.opt_state}
    return dict(jax.tree.map(_as_abstract, tree), rng=rng)


@jax.jit
def _finite_flags(named: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    return {k: jnp.isfinite(v).all() for k, v in named.items()}


def non_finite_params(params: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point parameters holding a NaN or an infinity (one jitted call, on every host)."""
    named = {k: v for k, v in flat(params).items() if jnp.issubdtype(v.dtype, jnp.inexact)}
    return sorted(k for k, ok in jax.device_get(_finite_flags(named)).items() if not ok)


def _stored_param_shapes(manager: ocp.CheckpointManager, step: int) -> dict[str, tuple[int, ...]]:
    """Flat name → shape of the parameters saved at `step`."""
    tree = manager.item_metadata(step)[STATE].tree
    return {k: tuple(v.shape) for k, v in flat(tree["params"]).items()}


class Checkpointer:
    """Saves and restores a run's train state and data position in `directory`.

    Keeps the `keep` most recent checkpoints plus, when `best_metric` is set, the
    `keep_best` best by that metric (`best_mode` "max" or "min"). A checkpoint saved
    without metrics never evicts a best one. Call `close()` (or use it as a context
    manager) so the background save thread finishes before the interpreter exits.
    """

    def __init__(
        self,
        directory: str,
        *,
        save_every: int,
        keep: int,
        best_metric: str | None = None,
        best_mode: Literal["max", "min"] = "max",
        keep_best: int = 1,
        async_save: bool = True,
    ):
        if save_every < 1:
            raise ConfigError(f"Checkpointer save_every must be >= 1, got {save_every}.")
        if keep < 1:
            raise ConfigError(f"Checkpointer keep must be >= 1, got {keep}.")
        if best_mode not in ("max", "min"):
            raise ConfigError(f"Checkpointer best_mode must be 'max' or 'min', got {best_mode!r}.")
        if best_metric is not None and keep_best < 1:
            raise ConfigError(f"Checkpointer keep_best must be >= 1 when best_metric is set, got {keep_best}.")
        self.directory = str(as_path(directory))  # a local path made absolute, or a gs:// URI
        self.best_metric = best_metric
        self.best_mode = best_mode
        preserve: list[policies.PreservationPolicy] = [policies.LatestN(n=keep)]
        if best_metric is not None:
            preserve.append(
                policies.BestN(
                    get_metric_fn=self._score,
                    reverse=best_mode == "min",
                    n=keep_best,
                    keep_checkpoints_without_metrics=False,
                )
            )
        options = ocp.CheckpointManagerOptions(
            # best_fn also makes orbax write each step's metrics to disk, so the ranking survives a restart.
            best_fn=self._score if best_metric is not None else None,
            best_mode=best_mode,
            preservation_policy=policies.AnyPreservationPolicy(preserve),
            save_decision_policy=policies.AnySavePolicy(
                [policies.FixedIntervalPolicy(save_every), policies.PreemptionCheckpointingPolicy()]
            ),
            enable_async_checkpointing=async_save,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=_handlers())
        self._unreadable: set[int] = set()  # complete on disk but unreadable (found by restore_latest_or_none)

    def _score(self, metrics: Mapping[str, Any]) -> float:
        # Checkpoints written by a run that tracked another metric rank last instead of crashing the policy.
        worst = -math.inf if self.best_mode == "max" else math.inf
        return float(metrics.get(self.best_metric, worst))

    def save(
        self,
        step: int,
        state: TrainState,
        data_position: Mapping[str, Any],
        metrics: Mapping[str, float] | None = None,
        force: bool = False,
        data_iterators: Callable[[epath.Path], None] | None = None,
    ) -> bool:
        """Start saving `state` and `data_position` at `step` when `step % save_every == 0`
        (or a preemption was signalled) or `force`; True if a save started.

        `data_iterators(directory)`, when given, writes this host's data iterator state into the
        step's `data_iterators/` directory; every host calls it, before this returns.

        A readable step already on disk is never overwritten (returns False); one that
        `restore_latest_or_none` found unreadable is moved aside to `<step>.unreadable-<time>`
        and saved anew. Parameters that are not all finite are a DivergenceError, so every
        checkpoint on disk is a good one. `metrics` rank the checkpoint for best-k retention
        and must then contain `best_metric`; without a `best_metric` they are not stored.
        """
        if step in self._unreadable:
            self._move_aside(step)
        if step in self._manager.all_steps() or not (force or self._manager.should_save(step)):
            return False
        bad = non_finite_params(state.params)
        if bad:
            raise DivergenceError(
                f"step {step} was not saved in {self.directory}: {len(bad)} parameters are not finite "
                f"(e.g. {', '.join(bad[:3])}); the last good checkpoint is step {self.latest_step()}. Lower the "
                "learning rate, raise warmup or clip gradients, then rerun (it resumes from that checkpoint)."
            )
        try:
            json.dumps(dict(data_position))
        except TypeError as e:
            raise CheckpointError(f"data_position for step {step} is not JSON-serializable: {e}") from e
        if metrics is not None and self.best_metric is not None:
            if self.best_metric not in metrics:
                raise ConfigError(
                    f"metrics for step {step} lack the tracked best_metric {self.best_metric!r}; "
                    f"got {sorted(metrics)}. Pass metrics=None for a checkpoint that is not ranked."
                )
            metrics = {k: float(v) for k, v in metrics.items()}
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "rng_impl": str(jax.random.key_impl(state.rng))}
        items = {
            STATE: ocp.args.StandardSave(_state_tree(state)),
            DATA: ocp.args.JsonSave(dict(data_position)),
            META: ocp.args.JsonSave(meta),
        }
        if data_iterators is not None:
            items[DATA_ITERATORS] = HostFilesSave(data_iterators)
        args = ocp.args.Composite(**items)
        return self._manager.save(step, args=args, metrics=metrics, force=True)

    def _move_aside(self, step: int) -> None:
        """Rename an unreadable step directory out of orbax's sight (kept for inspection, never deleted)."""
        self._manager.wait_until_finished()
        if jax.process_index() == 0:
            source = as_path(self.directory) / str(step)
            target = source.parent / f"{source.name}.unreadable-{int(time.time())}"
            source.rename(target)
            print(f"warning: moved the unreadable checkpoint {source} to {target}; saving step {step} anew", file=sys.stderr)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"checkpoint {step} moved aside")
        self._unreadable.discard(step)
        self._manager.reload()

    def all_steps(self) -> list[int]:
        """Steps of the complete (or in-flight, from this process) checkpoints, ascending."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest checkpoint's step, or None."""
        return self._manager.latest_step()

    def best_step(self) -> int | None:
        """The best step by `best_metric`; None without a best metric or ranked checkpoint."""
        if self.best_metric is None:
            return None
        ranked = []
        for step in self._manager.all_steps():
            metrics = self._manager.metrics(step)
            if metrics is not None and self.best_metric in metrics:
                ranked.append((self._score(metrics), step))
        if not ranked:
            return None
        return (max if self.best_mode == "max" else min)(ranked)[1]

    def metrics(self, step: int) -> dict[str, float] | None:
        """The metrics stored with `step` (None when none were stored)."""
        return self._manager.metrics(step)

    def restore(self, step: int | None = None, *, abstract_state: TrainState) -> tuple[TrainState, dict[str, Any]]:
        """The full train state (onto `abstract_state`'s shardings) and data position at `step` (latest if None).

        `abstract_state` is a TrainState of `jax.ShapeDtypeStruct`s with shardings (or of
        arrays); a checkpoint whose parameters or optimizer state do not fit it is a
        CheckpointError naming the directory and the differences.
        """
        self._manager.wait_until_finished()
        if step is None:
            step = self._manager.latest_step()
            if step is None:
                raise CheckpointError(f"{self.directory} has no complete checkpoint to restore.")
        elif step not in self._manager.all_steps():
            raise CheckpointError(
                f"{self.directory} has no checkpoint for step {step}; it has steps {self.all_steps()}."
            )
        step_dir = os.path.join(self.directory, str(step))
        target = _abstract_tree(abstract_state)
        problems = shape_problems(
            _stored_param_shapes(self._manager, step),
            {k: tuple(v.shape) for k, v in flat(target["params"]).items()},
            "checkpoint",
            "train state",
        )
        if problems:
            raise CheckpointError(
                f"checkpoint {step_dir} {MODEL_MISMATCH} (a different model "
                "config or heads? use a fresh run directory, or load_encoder_from for a new phase):\n  "
                + "\n  ".join(problems)
            )
        try:
            restored = self._manager.restore(
                step,
                args=ocp.args.Composite(
                    **{
                        STATE: ocp.args.StandardRestore(target),
                        DATA: ocp.args.JsonRestore(),
                        META: ocp.args.JsonRestore(),
                    }
                ),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(
                f"checkpoint {step_dir} does not fit the train state (a different optimizer?): {e}"
            ) from e
        tree, meta = restored[STATE], restored[META]
        rng = jax.random.wrap_key_data(tree["rng"], impl=meta["rng_impl"])
        if rng.dtype != abstract_state.rng.dtype:
            raise CheckpointError(
                f"checkpoint {step_dir} holds a {meta['rng_impl']} RNG key, but the train state expects "
                f"{abstract_state.rng.dtype}; set the same jax_default_prng_impl as the run that wrote it."
            )
        state = TrainState(step=tree["step"], params=tree["params"], opt_state=tree["opt_state"], rng=rng)
        return state, dict(restored[DATA])

    def data_iterators(self, step: int) -> epath.Path | None:
        """The `data_iterators/` directory of checkpoint `step`, or None in a checkpoint written without one."""
        directory = as_path(self.directory) / str(step) / DATA_ITERATORS
        return directory if directory.is_dir() else None

    def restore_latest_or_none(self, abstract_state: TrainState) -> tuple[TrainState, dict[str, Any]] | None:
        """Resume point: the latest readable checkpoint, or None in a directory without one.

        Interrupted saves (orbax's unfinalized `*.orbax-checkpoint-tmp*` directories) are ignored. A
        complete checkpoint that cannot be read (a corrupted file) is skipped with a message naming it,
        and the previous one is used; it is left on disk untouched. A checkpoint of another model is
        an error, not something to skip.
        """
        problems = []
        for step in sorted(self._manager.all_steps(), reverse=True):
            try:
                restored = self.restore(step, abstract_state=abstract_state)
            except CheckpointError as e:
                if MODEL_MISMATCH in str(e):
                    raise
                problems.append(f"step {step}: {e}")
                self._unreadable.add(step)
            except Exception as e:  # noqa: BLE001 - orbax/tensorstore raise many types for unreadable files
                problems.append(f"step {step}: {type(e).__name__}: {e}")
                self._unreadable.add(step)
            else:
                if problems:
                    print(
                        f"warning: skipped unreadable checkpoints in {self.directory} and resumed from step {step}:\n  "
                        + "\n  ".join(problems),
                        file=sys.stderr,
                    )
                return restored
        if problems:
            raise CheckpointError(f"no checkpoint in {self.directory} can be read:\n  " + "\n  ".join(problems))
        return None

    def wait_until_finished(self) -> None:
        """Block until the in-flight save is on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finish the in-flight save and stop orbax's background threads."""
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _run_checkpoint(path: str) -> tuple[str, dict[str, tuple[int, ...]]] | None:
    """The step directory `path` names (itself, or the latest complete step of a run's
    checkpoint directory) and its parameter shapes; None when there is no such step."""
    root, step = path, None
    if (as_path(path) / STATE).is_dir() and as_path(path).name.isdigit():
        root, step = str(as_path(path).parent), int(as_path(path).name)
    options = ocp.CheckpointManagerOptions(read_only=True, create=False, save_interval_steps=0)
    manager = ocp.CheckpointManager(root, options=options, item_handlers=_handlers())
    try:
        step = manager.latest_step() if step is None else step
        if step is None:
            return None
        return os.path.join(root, str(step)), _stored_param_shapes(manager, step)
    finally:
        manager.close()


def load_encoder_from(directory_or_checkpoint: str, model: Model, *, require_heads: bool = False) -> Model:
    """Load an earlier phase's weights into `model` in place (and return it).

    The source is a converted pretrained directory (`checkpoints/pretrained.py`), a
    Checkpointer directory (its latest complete step), or one step directory of it.
    The encoder is always loaded; heads of `model` that the source also has are
    loaded, other heads keep their fresh values, and source heads the model lacks are
    dropped. Any shape difference is a CheckpointError naming every parameter. With
    `require_heads`, every head of `model` that has parameters must come from the source
    (evaluation: a fresh head would score noise).
    """
    source = str(as_path(directory_or_checkpoint))
    if not as_path(source).is_dir():
        raise CheckpointError(f"checkpoint directory {source} does not exist.")
    if (as_path(source) / CONFIG_FILE).is_file():
        return restore_params(model, source, require_heads=require_heads)
    try:
        found = _run_checkpoint(source)
        if found is None:
            raise CheckpointError(
                f"{source} is neither a pretrained checkpoint (no {CONFIG_FILE}) nor a run's checkpoint "
                "directory with a complete step; point at the earlier phase's checkpoint directory."
            )
        step_dir, stored = found
        return restore_selected_params(
            model, os.path.join(step_dir, STATE), stored, source=step_dir, subtree="params", require_heads=require_heads
        )
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - orbax/tensorstore raise many types for unreadable files
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointError(
            f"checkpoint {source} cannot be read ({type(e).__name__}: {first[:200]}). If a phase's DONE file "
            f"names it, delete that DONE file and rerun the phase: it resumes from the last readable step and "
            "writes this one anew."
        ) from e
