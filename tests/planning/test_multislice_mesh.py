"""The hybrid mesh: a DCN data axis over slices from gin (CPU stand-in: blocks of devices)."""

import jax
import pytest

from xstilts_jax.errors import ConfigError
from xstilts_jax.gin_utils import parse_gin
from xstilts_jax.partitioning import MeshConfig, make_mesh


def test_dcn_data_stacks_slices_on_the_data_axis():
    mesh = make_mesh(MeshConfig(dcn_data=2, data=1, fsdp=-1, tensor=2, rules="fsdp_tensor"))
    assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
    devices = jax.devices()
    # slice 0 = devices 0..3, slice 1 = devices 4..7: fsdp and tensor never cross a slice
    assert {d.id for d in mesh.devices[0].flat} == {d.id for d in devices[:4]}
    assert {d.id for d in mesh.devices[1].flat} == {d.id for d in devices[4:]}


def test_in_slice_data_axis_multiplies_with_slices():
    mesh = make_mesh(MeshConfig(dcn_data=2, data=2, fsdp=-1))
    assert dict(mesh.shape) == {"data": 4, "fsdp": 2, "tensor": 1}
    assert {d.id for d in mesh.devices[:2].flat} == {d.id for d in jax.devices()[:4]}


def test_multislice_gin_file_binds_two_slices():
    parse_gin(["gin/meshes/multislice.gin"])
    config = MeshConfig()
    assert config.dcn_data == 2 and config.rules == "fsdp"
    assert dict(make_mesh(config).shape) == {"data": 2, "fsdp": 4, "tensor": 1}


@pytest.mark.parametrize("slices", [0, 3])
def test_bad_slice_count_is_clear(slices):
    with pytest.raises(ConfigError, match=f"MeshConfig.dcn_data={slices}"):
        make_mesh(MeshConfig(dcn_data=slices))
