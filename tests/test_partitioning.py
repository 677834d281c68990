"""Meshes, logical-rule presets, and sharded-vs-single-device equality on an 8-device CPU mesh."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from xstilts_jax.errors import ConfigError
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.partitioning import (
    RULES_PRESETS,
    MeshConfig,
    Partitioner,
    batch_axes,
    check_micro_batch,
    get_rules,
    logical_to_mesh_spec,
    make_mesh,
    resolve_mesh_shape,
)
from xstilts_jax.training.optimizer import OptimizerConfig, make_optimizer
from xstilts_jax.training.step_builder import build_train_step
from xstilts_jax.training.train_state import init_train_state, split_model, train_state_shardings
from xstilts_jax.training.train_step import loss_fn, make_train_step


def test_eight_host_devices():
    assert jax.device_count() == 8


def test_resolve_mesh_shape_fills_minus_one():
    assert resolve_mesh_shape({"data": 2, "fsdp": -1, "tensor": 2}, 8) == {"data": 2, "fsdp": 2, "tensor": 2}
    assert resolve_mesh_shape({"fsdp": -1}, 8) == {"data": 1, "fsdp": 8, "tensor": 1}


@pytest.mark.parametrize(
    "axes, match",
    [
        ({"data": 3, "fsdp": -1}, "does not divide the 8 devices"),
        ({"data": 2, "fsdp": 2, "tensor": 1}, "has 4 devices but 8 are available"),
        ({"data": -1, "fsdp": -1}, "Only one mesh axis may be -1"),
        ({"model": 8}, "Unknown mesh axis 'model'"),
        ({"data": 0, "fsdp": -1}, "must be a positive size"),
    ],
)
def test_bad_mesh_sizes_are_clear_errors(axes, match):
    with pytest.raises(ConfigError, match=match):
        resolve_mesh_shape(axes, 8)


def test_make_mesh_and_bad_preset():
    mesh = make_mesh(MeshConfig(data=2, fsdp=-1, tensor=2, rules="fsdp_tensor"))
    assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
    with pytest.raises(ConfigError, match="Unknown logical axis rules preset 'zero3'"):
        make_mesh(MeshConfig(rules="zero3"))


def test_logical_to_mesh_spec_t5x_semantics():
    rules = get_rules("fsdp_tensor")
    assert logical_to_mesh_spec(("layers", "embed", "heads", "kv"), rules) == P(None, "fsdp", "tensor")
    # an activation: 'embed' cannot reuse 'fsdp' already taken by 'batch'
    assert logical_to_mesh_spec(("batch", "length", "embed"), rules) == P(("data", "fsdp"))
    mesh = make_mesh(MeshConfig(data=1, fsdp=8, tensor=1))
    # mesh axes of size 1 are dropped
    assert logical_to_mesh_spec(("batch", "length", "embed"), rules, mesh) == P("fsdp")


def test_batch_not_divisible_is_clear():
    partitioner = Partitioner.from_config(MeshConfig(data=2, fsdp=4))
    assert partitioner.batch_shards == 8
    partitioner.check_batch_divisible(16)
    partitioner.check_batch_divisible(16, accumulate_steps=2)
    with pytest.raises(ConfigError, match="batch 12 is not divisible by the 8 batch shards of mesh data=2 x fsdp=4 x tensor=1"):
        partitioner.check_batch_divisible(12)


def test_mesh_shape_counts_every_slice_and_batch_shards_skip_model_axes():
    assert MeshConfig(fsdp=-1, tensor=8).shape(128) == {"data": 1, "fsdp": 16, "tensor": 8}
    assert MeshConfig(fsdp=-1, dcn_data=2).shape(16) == {"data": 2, "fsdp": 8, "tensor": 1}
    assert batch_axes(get_rules("fsdp_tensor"), {"data": 1, "fsdp": 16, "tensor": 8}) == ("fsdp",)
    assert batch_axes(get_rules("data_parallel"), {"data": 2, "fsdp": 2, "tensor": 2}) == ("data", "fsdp", "tensor")


@pytest.mark.parametrize(
    "batch, accumulate, shape, rules, message",
    [
        # the recipe's 32 rows on pure FSDP over 128 chips: tensor parallelism is the fix
        (32, 1, {"data": 1, "fsdp": 128, "tensor": 1}, "fsdp",
         "batch 32 is fewer rows than the 128 batch shards of mesh data=1 x fsdp=128 x tensor=1 (batch over fsdp); "
         "raise MeshConfig.tensor to 4 (tensor parallelism, rules 'fsdp_tensor'), leaving 32 batch shards"),
        # accumulation that leaves fewer rows per micro-step than shards
        (32, 4, {"data": 1, "fsdp": 16, "tensor": 8}, "fsdp_tensor",
         "batch 32 / accumulate_steps 4 = 8 rows per micro-step is fewer rows than the 16 batch shards of mesh "
         "data=1 x fsdp=16 x tensor=8 (batch over fsdp); lower accumulate_steps to 2 or less"),
        # pure data parallelism splits the batch over the tensor axis too
        (4, 1, {"data": 2, "fsdp": 2, "tensor": 2}, "data_parallel", "use rules 'fsdp_tensor' with MeshConfig.tensor > 1"),
        (30, 4, {"data": 1, "fsdp": 2, "tensor": 1}, "fsdp", "Batch size 30 is not divisible by accumulate_steps=4"),
    ],
)
def test_a_micro_batch_the_mesh_cannot_hold_names_the_fix(batch, accumulate, shape, rules, message):
    with pytest.raises(ConfigError) as info:
        check_micro_batch(batch, accumulate, shape, get_rules(rules))
    assert message in str(info.value) and "\n" not in str(info.value)
    check_micro_batch(32, 2, {"data": 1, "fsdp": 16, "tensor": 8}, get_rules("fsdp_tensor"))  # 16 rows on 16 shards


# Where each preset must put some parameters on a (data=2, fsdp=2, tensor=2) mesh.
EXPECTED = {
    "data_parallel": {
        ("encoder", "layers", "query"): P(),
        ("encoder", "embeddings", "word"): P(),
        ("encoder", "layers", "mlp_in"): P(),
    },
    "fsdp": {
        ("encoder", "layers", "query"): P(None, "fsdp"),
        ("encoder", "embeddings", "word"): P("tensor", "fsdp"),
        ("encoder", "layers", "mlp_out"): P(None, None, "fsdp"),
        ("encoder", "layers", "query_bias"): P(),
    },
    "fsdp_tensor": {
        ("encoder", "layers", "query"): P(None, "fsdp", "tensor"),
        ("encoder", "layers", "out"): P(None, "tensor", None, "fsdp"),
        ("encoder", "layers", "mlp_in"): P(None, "fsdp", "tensor"),
        ("encoder", "layers", "mlp_in_bias"): P(None, "tensor"),
        ("encoder", "embeddings", "word"): P("tensor", "fsdp"),
    },
}


def _get(tree, path):
    for k in path:
        tree = tree[k]
    return tree


def _setup(tiny_config, preset, mesh_axes):
    model = build_model(tiny_config, {"cls": HeadSpec("classification", 3)}, seed=0)
    graphdef, params = split_model(model)
    optimizer = make_optimizer(OptimizerConfig(learning_rate=1e-3, warmup_fraction=0.0), total_steps=10)
    state = init_train_state(params, optimizer, seed=0)
    partitioner = Partitioner.from_config(MeshConfig(rules=preset, **mesh_axes))
    shardings = train_state_shardings(model, jax.eval_shape(lambda: state), partitioner)
    return model, graphdef, optimizer, state, partitioner, shardings


@pytest.mark.parametrize("preset", sorted(RULES_PRESETS))
def test_presets_place_parameters_as_rules_say(tiny_config, preset):
    model, _, _, state, partitioner, shardings = _setup(tiny_config, preset, {"data": 2, "fsdp": 2, "tensor": 2})
    placed = jax.device_put(state, shardings)
    for path, spec in EXPECTED[preset].items():
        arr = _get(placed.params, path)
        assert arr.sharding.spec == spec, (preset, path, arr.sharding.spec)
        # the shards really are split along the named dims
        expected_shard = list(arr.shape)
        for dim, axes in enumerate(spec):
            for a in (axes,) if isinstance(axes, str) else axes or ():
                expected_shard[dim] //= partitioner.mesh.shape[a]
        assert arr.addressable_shards[0].data.shape == tuple(expected_shard)
    # Adam moments follow their parameter
    mu = placed.opt_state[1][0].mu
    assert _get(mu, ("encoder", "layers", "query")).sharding.spec == EXPECTED[preset][("encoder", "layers", "query")]


def _batch(tiny_config, n=8, length=16):
    rng = np.random.default_rng(0)
    ids = rng.integers(3, tiny_config.vocab_size, size=(n, length)).astype(np.int32)
    ids[:, 0] = 0
    for i in range(n):  # ragged padding
        cut = length - (i % 5)
        ids[i, cut - 1] = 2
        ids[i, cut:] = tiny_config.pad_id
    return {"input_ids": jnp.asarray(ids), "labels": jnp.asarray(rng.integers(0, 3, size=n), jnp.int32)}


MESHES = [
    ("data_parallel", {"data": 8, "fsdp": 1}),
    ("fsdp", {"data": 2, "fsdp": 4}),
    ("fsdp_tensor", {"data": 2, "fsdp": 2, "tensor": 2}),
]


def _loss_and_grads(graphdef, params, batch, partitioner=None, shardings=None):
    def f(p, b):
        if partitioner is None:
            return jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(graphdef, p, b, "cls", None)
        with partitioner.activation_rules():  # activation constraints active, as in the train step
            return jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(graphdef, p, b, "cls", None)

    if shardings is None:
        return jax.jit(f)(params, batch)
    return jax.jit(f, in_shardings=(shardings, None))(jax.device_put(params, shardings), batch)


@pytest.mark.parametrize("preset, mesh_axes", MESHES)
def test_sharded_loss_and_grads_equal_single_device(tiny_config, preset, mesh_axes):
    batch = _batch(tiny_config)
    _, graphdef, _, state, partitioner, shardings = _setup(tiny_config, preset, mesh_axes)
    (ref_loss, _), ref_grads = _loss_and_grads(graphdef, state.params, batch)
    (loss, _), grads = _loss_and_grads(graphdef, state.params, batch, partitioner, shardings.params)
    assert len(grads["encoder"]["layers"]["query"].sharding.device_set) == 8
    np.testing.assert_allclose(loss, ref_loss, atol=1e-5, rtol=0)
    for g, r in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "mesh_axes, accumulate_steps",
    [
        (MESHES[2][1], 1),
        # a rung's mesh with tensor parallelism: 4 batch shards, 2 micro-steps of 4 rows (one per shard)
        ({"data": 1, "fsdp": 4, "tensor": 2}, 2),
    ],
)
def test_sharded_train_step_equals_single_device(tiny_config, mesh_axes, accumulate_steps):
    """The built step (jitted, donated) on a data x fsdp x tensor mesh updates params like one device does
    with the whole batch in one step, also when it accumulates micro-steps."""
    batch = _batch(tiny_config)
    model, graphdef, optimizer, state, partitioner, shardings = _setup(tiny_config, "fsdp_tensor", mesh_axes)
    ref_state, ref_metrics = jax.jit(make_train_step(graphdef, optimizer, "cls", dropout=False))(state, batch)
    opt_config = OptimizerConfig(learning_rate=1e-3, warmup_fraction=0.0)
    partitioner.check_batch_divisible(len(batch["input_ids"]), accumulate_steps)
    train_step = build_train_step(model, opt_config, partitioner, 10, dropout=False, accumulate_steps=accumulate_steps)
    initial = train_step.init_state()
    for leaf, sharding in zip(jax.tree.leaves(initial), jax.tree.leaves(shardings)):
        assert leaf.sharding.is_equivalent_to(sharding, leaf.ndim)
    new_state, metrics = train_step.jit("cls")(initial, batch)
    assert int(new_state.step) == 1
    assert initial.params["encoder"]["layers"]["query"].is_deleted()  # the state is donated
    np.testing.assert_allclose(metrics["loss"], ref_metrics["loss"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(metrics["grad_norm"], ref_metrics["grad_norm"], atol=1e-5, rtol=0)
    for p, r in zip(jax.tree.leaves(new_state.params), jax.tree.leaves(ref_state.params)):
        np.testing.assert_allclose(np.asarray(p), np.asarray(r), atol=1e-5, rtol=0)


def test_partitioner_batches_to_global_and_back():
    """Host-local rows become global arrays split on the batch axes (any rank); `to_host_local` inverts it."""
    partitioner = Partitioner.from_config(MeshConfig(data=2, fsdp=4))
    local = {"input_ids": np.arange(8 * 6, dtype=np.int32).reshape(8, 6), "labels": np.arange(8, dtype=np.int32)}
    batch = partitioner.to_global(local)
    assert partitioner.batch_shardings(local) == {k: v.sharding for k, v in batch.items()}
    for key, value in batch.items():
        assert value.sharding.spec == P(("data", "fsdp"))
        assert value.addressable_shards[0].data.shape == (1,) + local[key].shape[1:]
        np.testing.assert_array_equal(partitioner.to_host_local(value), local[key])
