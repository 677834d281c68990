"""A finished phase's params-only export (issue 15 item 6): written last-marker-last, restorable onto
another mesh, what the next phase and the evaluation load; the train state removed after DONE unless
kept; a crash at any point leaves a run that a rerun completes; old runs without an export still work."""

import json

import jax
import numpy as np
import pytest
from flax import nnx
from tiny import TOY_MESH, catalog_config

import tasks  # noqa: F401  (registers the catalog)
from xstilts_jax.checkpoints.export import export_params, stored_bytes
from xstilts_jax.checkpoints.params import flat
from xstilts_jax.checkpoints.pretrained import CONFIG_FILE, load_config
from xstilts_jax.checkpoints.run import load_encoder_from
from xstilts_jax.errors import CheckpointError
from xstilts_jax.experiments import pipeline
from xstilts_jax.experiments.pipeline import EXPORT, Experiment, phase_done, phase_summary, run_experiment
from xstilts_jax.experiments.tables import format_bytes
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.partitioning import MeshConfig, Partitioner
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.trainer import TrainConfig

pytestmark = pytest.mark.usefixtures("catalog_env")

EVAL = ("udpos.en", "udpos.de")
SMALL = dict(batch_size=8, length=32, save_every=2, log_every=2)


def _params(model) -> dict[str, np.ndarray]:
    return {name: np.asarray(value) for name, value in flat(nnx.to_pure_dict(nnx.state(model, nnx.Param))).items()}


def _assert_same(a, b) -> None:
    a, b = (_params(x) if not isinstance(x, dict) else x for x in (a, b))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _tiny_model(mesh: MeshConfig, seed: int, config: EncoderConfig | None = None, heads: str = "udpos"):
    return pipeline.model_for(config or catalog_config(), [heads], seed, None, mesh)


def test_the_export_restores_onto_another_mesh_and_an_interrupted_one_is_never_loaded(tmp_path):
    config = catalog_config(param_dtype="bfloat16")
    model = _tiny_model(TOY_MESH, seed=1, config=config)
    export = tmp_path / "phase" / EXPORT
    export_params(export, model, source="somewhere/checkpoints/4")
    assert sorted(p.name for p in export.iterdir()) == ["config.json", "model.gin", "params"]
    stated = json.loads((export / CONFIG_FILE).read_text())
    assert stated["exported_from"] == "somewhere/checkpoints/4" and load_config(str(export)) == config
    assert stored_bytes(export) == sum(p.stat().st_size for p in export.rglob("*") if p.is_file()) > 0

    other_mesh = MeshConfig(data=1, fsdp=8)  # any mesh: shards follow the model
    loaded = load_encoder_from(str(export), _tiny_model(other_mesh, seed=2, config=config), require_heads=True)
    _assert_same(loaded, model)
    leaf = nnx.state(loaded, nnx.Param).to_pure_dict()["encoder"]
    assert all(x.dtype == jax.numpy.bfloat16 for x in jax.tree.leaves(leaf))  # the parameter dtype config.json states
    assert next(iter(jax.tree.leaves(leaf))).sharding.mesh.shape == Partitioner.from_config(other_mesh).mesh.shape

    # an export cut off before its marker is not a checkpoint; writing again replaces what it left
    (export / CONFIG_FILE).unlink()
    with pytest.raises(CheckpointError, match="neither a pretrained checkpoint"):
        load_encoder_from(str(export), _tiny_model(TOY_MESH, seed=2, config=config))
    export_params(export, model, source="somewhere/checkpoints/4")
    _assert_same(load_encoder_from(str(export), _tiny_model(TOY_MESH, seed=3, config=config)), model)


def _experiment(root, intermediate=None, keep=False) -> Experiment:
    return Experiment(root=str(root), intermediate=intermediate, target_train="udpos", target="udpos", eval_tasks=EVAL,
                      eval_batch_size=8, eval_length=32, keep_train_state=keep)


def _run(experiment: Experiment, target: TrainConfig):
    return run_experiment(
        experiment, catalog_config(), TOY_MESH, optimizer=OptimizerConfig(learning_rate=1e-3),
        intermediate_train=TrainConfig(task="socialiqa", steps=2, **SMALL) if experiment.intermediate else None,
        target_train=target,
    )


def _spy(monkeypatch, name: str, record) -> list:
    """Record `record(*args)` of every call of `pipeline.<name>`, then call the real function."""
    calls, real = [], getattr(pipeline, name)
    monkeypatch.setattr(pipeline, name, lambda *a, **k: calls.append(record(*a)) or real(*a, **k))
    return calls


class Killed(Exception):
    pass


@pytest.mark.slow
def test_the_export_of_the_best_step_is_handed_on_and_a_crash_at_any_point_is_completed_by_a_rerun(
    tmp_path, monkeypatch, capsys
):
    experiment = _experiment(tmp_path)
    # dev F1 every 2 of 4 steps; it is best at step 2 here, so the export must come from step 2, not
    # from the last step, which the trainer holds
    target = TrainConfig(task="udpos", steps=4, eval_every=2, eval_tasks=("udpos.en",), best_metric="eval/udpos.en/f1",
                         **SMALL)
    directory = experiment.target_dir("tiny_test") / "target"
    export = directory / EXPORT
    real_mark_done = pipeline.mark_done

    def killed_before_done(where, summary):
        if where == directory:
            raise Killed("after the export, before DONE")
        real_mark_done(where, summary)

    monkeypatch.setattr(pipeline, "mark_done", killed_before_done)
    with pytest.raises(Killed):
        _run(experiment, target)
    exported_from = json.loads((export / CONFIG_FILE).read_text())["exported_from"]
    assert exported_from == str(directory / "checkpoints" / "2") and not phase_done(directory)
    from_checkpoint = load_encoder_from(exported_from, _tiny_model(TOY_MESH, seed=5), require_heads=True)
    _assert_same(load_encoder_from(str(export), _tiny_model(TOY_MESH, seed=6), require_heads=True), from_checkpoint)

    # the rerun resumes the finished train state (no step trained again), exports anew, writes DONE, then
    # removes the train state; the evaluation reads the export
    monkeypatch.setattr(pipeline, "mark_done", real_mark_done)
    loads = _spy(monkeypatch, "model_for", lambda config, names, seed, load_from, *a: load_from)
    capsys.readouterr()
    scores = _run(experiment, target)
    out = capsys.readouterr().out
    assert f"resumed {directory} at step 4" in out and loads == [None, str(export)]
    summary = phase_summary(directory)
    assert summary["export"] == str(export) and summary["checkpoint"] == exported_from and summary["best_step"] == 2
    assert summary["export_bytes"] == stored_bytes(export) > 0
    assert f"next phase loads {export} (params only, {format_bytes(summary['export_bytes'])}; best step 2)" in out
    assert not (directory / "checkpoints").exists() and f"removed the train state {directory / 'checkpoints'}" in out
    assert phase_summary(experiment.target_dir("tiny_test") / "eval")["checkpoint"] == str(export)
    assert set(scores) == set(EVAL)

    # killed while deleting the train state: a rerun of the DONE phase finishes the delete, and trains nothing
    (directory / "checkpoints" / "4").mkdir(parents=True)
    (directory / "checkpoints" / "4" / "leftover").write_bytes(b"x" * 10)
    monkeypatch.setattr(pipeline, "train", lambda *a, **k: pytest.fail("nothing should train"))
    assert _run(experiment, target) == scores and not (directory / "checkpoints").exists()
    assert "10 B freed" in capsys.readouterr().out


@pytest.mark.slow
def test_on_gcs_the_next_phase_loads_the_export_and_a_kept_train_state_is_removed_once_switched_off(
    gcs_dir, monkeypatch, capsys
):
    experiment = _experiment(f"{gcs_dir}/runs", intermediate="socialiqa", keep=True)
    target = TrainConfig(task="udpos", steps=2, **SMALL)

    def no_scoring(model, names, settings, eval_dir, **kwargs):  # scoring on gs:// is tested elsewhere
        (eval_dir / "scores.json").write_text("{}")
        return {}

    monkeypatch.setattr(pipeline, "evaluate_and_write", no_scoring)
    loads = _spy(monkeypatch, "model_for", lambda config, names, seed, load_from, *a: load_from)
    exported = _spy(monkeypatch, "export_params", lambda where, model: _params(model))
    _run(experiment, target)
    inter, target_dir = experiment.intermediate_dir("tiny_test"), experiment.target_dir("tiny_test") / "target"
    assert str(inter).startswith("gs://")
    # the target phase starts from the intermediate export; the evaluation reads the target export
    assert loads == [None, f"{inter}/{EXPORT}", f"{target_dir}/{EXPORT}"]
    out = capsys.readouterr().out
    for directory, trained in zip((inter, target_dir), exported):
        summary = phase_summary(directory)
        assert sorted(p.name for p in directory.iterdir()) == ["DONE", "checkpoints", EXPORT, "tensorboard"]
        assert f"train state kept (Experiment.keep_train_state): {directory}/checkpoints" in out
        model = load_encoder_from(summary["export"], _tiny_model(TOY_MESH, seed=9, heads=summary["task"]), require_heads=True)
        _assert_same(model, trained)  # read back from the bucket: the trained parameters
        _assert_same(load_encoder_from(summary["checkpoint"], _tiny_model(TOY_MESH, seed=8, heads=summary["task"])), trained)

    # switched off later: the next run removes both train states and prints what it freed
    monkeypatch.setattr(pipeline, "train", lambda *a, **k: pytest.fail("nothing should train"))
    _run(_experiment(f"{gcs_dir}/runs", intermediate="socialiqa"), target)
    out = capsys.readouterr().out
    for directory in (inter, target_dir):
        assert sorted(p.name for p in directory.iterdir()) == ["DONE", EXPORT, "tensorboard"]
        assert f"removed the train state {directory}/checkpoints" in out
    assert out.count(" freed") == 2


def test_a_phase_finished_before_exports_hands_on_its_checkpoint_with_a_notice(tmp_path, monkeypatch, capsys):
    """Old layout: DONE names a train-state checkpoint and there is no export; it is loaded and kept."""
    config = catalog_config()
    experiment = _experiment(tmp_path, intermediate="socialiqa")
    inter = experiment.intermediate_dir(config.name)
    checkpoint = str(inter / "checkpoints" / "2")
    intermediate = TrainConfig(task="socialiqa", steps=2, **SMALL)
    settings = pipeline.phase_settings(model=config, train=intermediate, optimizer=OptimizerConfig(learning_rate=1e-3),
                                       load_from=None, seed=0)
    pipeline.mark_done(inter, {"phase": "intermediate", "checkpoint": checkpoint, "settings": settings})
    (inter / "checkpoints" / "2").mkdir(parents=True)
    handed_on = []
    monkeypatch.setattr(pipeline, "model_for", lambda config, names, seed, load_from, *a, **k: handed_on.append(load_from) or pytest.fail("stop"))
    with pytest.raises(pytest.fail.Exception, match="stop"):
        _run(experiment, TrainConfig(task="udpos", steps=1, **SMALL))
    assert handed_on == [checkpoint] and (inter / "checkpoints" / "2").is_dir()
    err = capsys.readouterr().err
    assert f"note: {inter} was finished without a params-only export; the next phase loads its train-state checkpoint {checkpoint}" in err
    assert err.count("note:") == 1
