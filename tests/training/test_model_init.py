"""Models created directly on the mesh (the 30B+ path): sharded from birth, same values as a host build."""

import jax
import numpy as np
import pytest

from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.partitioning import MeshConfig, Partitioner
from xstilts_jax.training.model_init import build_sharded_model
from xstilts_jax.training.train_state import split_model

HEADS = {"toy": HeadSpec("classification", 3)}


@pytest.mark.parametrize("axes", [dict(fsdp=-1), dict(fsdp=4, tensor=2)])
def test_parameters_are_created_sharded_with_the_host_build_values(tiny_config, axes):
    mesh_config = MeshConfig(data=1, **{"fsdp": 1, "tensor": 1, **axes}, rules="fsdp" if "tensor" not in axes else "fsdp_tensor")
    partitioner = Partitioner.from_config(mesh_config)
    model = build_sharded_model(tiny_config, HEADS, 5, partitioner)
    _, sharded = split_model(model)
    _, host = split_model(build_model(tiny_config, HEADS, seed=5))
    expected = partitioner.module_shardings(model)

    flat = jax.tree_util.tree_flatten_with_path(sharded)[0]
    assert len(flat) == len(jax.tree.leaves(host)) > 0
    split_somewhere = 0
    for (path, x), want, ref in zip(flat, jax.tree.leaves(expected), jax.tree.leaves(host)):
        name = jax.tree_util.keystr(path)
        assert x.sharding.is_equivalent_to(want, x.ndim), name
        shard = x.addressable_shards[0].data.shape
        assert np.prod(shard) * np.prod([partitioner.mesh.shape[a] for a in _mesh_axes(want.spec)]) == np.prod(x.shape), name
        split_somewhere += np.prod(shard) < np.prod(x.shape)
        np.testing.assert_allclose(np.asarray(x), np.asarray(ref), atol=1e-6, err_msg=name)
    assert split_somewhere >= len(flat) // 2  # the big matrices are split, not replicated


def _mesh_axes(spec) -> list[str]:
    axes: list[str] = []
    for entry in spec:
        if entry is not None:
            axes += [entry] if isinstance(entry, str) else list(entry)
    return axes
