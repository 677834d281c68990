"""TPU names users type → libtpu topologies, chip counts and per-chip figures."""

import pytest

from xstilts_jax.errors import ConfigError
from xstilts_jax.planning.topology import GENERATIONS, parse_topology, slice_sizes, torus_shape


@pytest.mark.parametrize(
    "name, libtpu, chips",
    [
        ("v4-8", "v4:2x2x1", 4),
        ("v4-512", "v4:4x8x8", 256),
        ("v5p-256", "v5p:4x4x8", 128),
        ("v5p-1024", "v5p:8x8x8", 512),
        ("v5e-256", "v5e:16x16", 256),
        ("v5litepod-16", "v5e:4x4", 16),
        ("v6e-256", "v6e:16x16", 256),
        ("v6e-8", "v6e:2x4", 8),
        ("V5P:4x4x8", "v5p:4x4x8", 128),
    ],
)
def test_accelerator_types_map_to_libtpu(name, libtpu, chips):
    topology = parse_topology(name)
    assert topology.libtpu_name == libtpu
    assert topology.chips == chips


def test_user_name_round_trips_and_slices_multiply_chips():
    for gen in GENERATIONS:
        for topology in slice_sizes(gen):
            assert parse_topology(topology.user_name) == topology
    two = parse_topology("v5p-256", num_slices=2)
    assert two.chips == 256 and two.chips_per_slice == 128 and "x 2 slices" in two.describe()


def test_torus_shapes_are_the_standard_ones():
    assert [torus_shape(n, 3) for n in (4, 8, 16, 32, 64)] == [(2, 2, 1), (2, 2, 2), (2, 2, 4), (2, 4, 4), (4, 4, 4)]
    assert [torus_shape(n, 2) for n in (1, 4, 32)] == [(1, 1), (2, 2), (4, 8)]


@pytest.mark.parametrize(
    "name, message",
    [
        ("v7x-256", "Unknown TPU generation 'v7x'"),
        ("tpu-256", "Unknown topology"),
        ("v5p-255", "must be even"),
        ("v5e-512", "at most 256"),
        ("v6e-96", "power-of-two"),
        ("v5p:4x4", "3 torus dimensions"),
    ],
)
def test_bad_names_are_clear_errors(name, message):
    with pytest.raises(ConfigError, match=message):
        parse_topology(name)


def test_gpu_clusters_parse_by_model_and_count():
    from xstilts_jax.planning.topology import GPU_GENERATIONS, GpuTopology

    h100 = parse_topology("h100-8")
    assert h100 == GpuTopology(GPU_GENERATIONS["h100"], 8) and h100.chips == 8 and h100.num_slices == 1
    assert h100.describe() == "h100-8 (8 H100 GPUs, 1 host)"
    assert parse_topology("H200-16").describe() == "h200-16 (16 H200 GPUs, 2 hosts)"
    assert parse_topology("h100-pcie-2").generation.peak_flops == 756e12
    assert h100.doubled() == GpuTopology(GPU_GENERATIONS["h100"], 16)
    assert GPU_GENERATIONS["h100"].hbm_bytes == 80 * 2**30 and GPU_GENERATIONS["h200"].hbm_bytes == 141 * 2**30
    with pytest.raises(ConfigError, match="GPU clusters have no slices"):
        parse_topology("h100-8", num_slices=2)
    with pytest.raises(ConfigError, match="the GPU count must be in 1..4096"):
        parse_topology("h200-0")
