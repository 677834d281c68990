"""Attention kernels against XLA's: padded and packed rows, outputs and gradients at real positions.

On the CPU: splash (the TPU Pallas kernel, interpreted) and cuDNN's fp32 path (XLA with its own
masks; cuDNN's fused kernel takes bf16/fp16 only). On a GPU (`test_cudnn_matches_xla_on_gpu`,
run where JAX sees one): the fused cuDNN kernel in bf16.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xstilts_jax.errors import ConfigError
from xstilts_jax.models import build_model
from xstilts_jax.models.attention import BY_PLATFORM, IMPLEMENTATIONS, resolve_attention
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.partitioning import MeshConfig, Partitioner

B, T, N, H = 2, 128, 2, 16


def _rows(packed: bool) -> np.ndarray:
    seg = np.zeros((B, T), np.int32)
    if packed:  # three examples in row 0, two in row 1, padding after
        seg[0, :30], seg[0, 30:70], seg[0, 70:120] = 1, 2, 3
        seg[1, :64], seg[1, 64:100] = 1, 2
    else:  # right-padded rows of lengths 100 and 37
        seg[0, :100], seg[1, :37] = 1, 1
    return seg


def _qkv(dtype=jnp.float32):
    keys = jax.random.split(jax.random.key(0), 3)
    return [jax.random.normal(key, (B, T, N, H), jnp.float32).astype(dtype) for key in keys]


def _run(name: str, q, k, v, seg: np.ndarray, packed: bool):
    """Outputs and q/k/v gradients of a loss over the real positions only."""
    impl = IMPLEMENTATIONS[name]
    real = jnp.asarray(seg > 0)[:, :, None, None]

    def loss(q, k, v):
        out = impl.attend(q, k, v, impl.prepare(jnp.asarray(seg), packed))
        return jnp.sum(jnp.where(real, out.astype(jnp.float32), 0.0) * jnp.cos(jnp.arange(H))), out

    (_, out), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(q, k, v)
    return np.where(np.asarray(real), np.asarray(out, np.float32), 0.0), [np.asarray(g, np.float32) for g in grads]


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("name", ["splash", "cudnn"])
def test_kernel_matches_xla_on_cpu(name, packed):
    seg, (q, k, v) = _rows(packed), _qkv()
    want_out, want_grads = _run("xla", q, k, v, seg, packed)
    got_out, got_grads = _run(name, q, k, v, seg, packed)
    np.testing.assert_allclose(got_out, want_out, atol=2e-5)
    for got, want in zip(got_grads, want_grads):
        np.testing.assert_allclose(got, want, atol=2e-5)
    assert np.abs(want_out).max() > 0.1 and all(np.abs(g).max() > 0.01 for g in want_grads)


def test_packed_segments_do_not_see_each_other():
    """Changing the keys and values of segment 2 leaves segment 1's outputs alone, in every kernel."""
    seg, (q, k, v) = _rows(True), _qkv()
    other = seg == 2
    k2 = jnp.where(other[:, :, None, None], 3 * k + 1, k)
    v2 = jnp.where(other[:, :, None, None], -v, v)
    first = seg == 1
    for name in ("xla", "splash", "cudnn"):
        a, _ = _run(name, q, k, v, seg, True)
        b, _ = _run(name, q, k2, v2, seg, True)
        np.testing.assert_allclose(a[first], b[first], atol=1e-5, err_msg=name)
        assert np.abs(a[other] - b[other]).max() > 0.1, name


def test_splash_shards_over_the_batch_mesh_axis():
    """With a partitioner active, splash runs per shard (shard_map) and still matches XLA."""
    seg, (q, k, v) = _rows(True), _qkv()
    partitioner = Partitioner.from_config(MeshConfig(data=2, fsdp=1, tensor=1, dcn_data=1), jax.devices()[:2])
    impl = IMPLEMENTATIONS["splash"]
    with partitioner.activation_rules():
        out = jax.jit(lambda q, k, v, s: impl.attend(q, k, v, impl.prepare(s, True)))(q, k, v, jnp.asarray(seg))
    want, _ = _run("xla", q, k, v, seg, True)
    real = (seg > 0)[:, :, None, None]
    np.testing.assert_allclose(np.where(real, np.asarray(out), 0.0), want, atol=2e-5)


def test_encoder_gives_the_same_states_with_every_kernel():
    """The whole encoder (prepare outside the layer scan, attend in each block) on packed and padded rows."""
    config = EncoderConfig(
        name="micro", vocab_size=100, hidden_size=32, num_layers=2, num_heads=2, mlp_dim=64, max_positions=140,
        dropout_rate=0.0,
    )  # fmt: skip
    ids = np.random.default_rng(0).integers(4, 100, size=(B, T)).astype(np.int32)
    seg = _rows(True)
    padded_ids = np.where(_rows(False) > 0, ids, config.pad_id)
    states = {}
    for name in ("xla", "splash", "cudnn"):
        model = build_model(config.replace(attention=name), {}, seed=0)
        packed = model.encoder(jnp.asarray(ids), jnp.asarray(seg)).last_hidden_state
        padded = model.encoder(jnp.asarray(padded_ids)).last_hidden_state
        states[name] = (np.asarray(packed)[seg > 0], np.asarray(padded)[_rows(False) > 0])
    for name in ("splash", "cudnn"):
        for got, want in zip(states[name], states["xla"]):
            np.testing.assert_allclose(got, want, atol=1e-4, err_msg=name)


def test_auto_picks_by_platform_and_bad_names_are_refused():
    assert resolve_attention("auto").name == "xla"  # tests run on the CPU
    assert {p: resolve_attention("auto", p).name for p in BY_PLATFORM} == {"cpu": "xla", "gpu": "cudnn", "tpu": "splash"}
    assert resolve_attention("splash", "cpu").name == "splash"  # an explicit choice wins over the platform
    with pytest.raises(ConfigError, match="EncoderConfig.attention='flash'; choose 'auto' or one of"):
        EncoderConfig(attention="flash")


def _gpu_present() -> bool:
    """An NVIDIA driver and a CUDA build of jaxlib (the `cuda` extra) on this machine."""
    plugin = any(importlib.util.find_spec(m) for m in ("jax_cuda13_plugin", "jax_cuda12_plugin"))
    return plugin and shutil.which("nvidia-smi") is not None


GPU_PARITY = """
import sys
sys.path.insert(0, {here!r})
import jax, jax.numpy as jnp, numpy as np
from test_attention import _qkv, _rows, _run
assert jax.default_backend() == "gpu", jax.devices()
for packed in (False, True):
    seg, (q, k, v) = _rows(packed), _qkv(jnp.bfloat16)
    want_out, want_grads = _run("xla", q, k, v, seg, packed)
    got_out, got_grads = _run("cudnn", q, k, v, seg, packed)
    np.testing.assert_allclose(got_out, want_out, atol=3e-2, rtol=3e-2)
    for got, want in zip(got_grads, want_grads):
        np.testing.assert_allclose(got, want, atol=6e-2, rtol=6e-2)
    print("cudnn matches xla", "packed" if packed else "padded", jax.devices()[0].device_kind)
"""


@pytest.mark.skipif(not _gpu_present(), reason="needs an NVIDIA GPU and jax's CUDA plugin (pip install -e '.[cuda]')")
def test_cudnn_matches_xla_on_gpu():
    """The fused cuDNN kernel in bf16 against XLA, on the GPU (a subprocess: this test session is CPU-only)."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "XLA_FLAGS")}
    env["JAX_PLATFORMS"] = "cuda"
    code = GPU_PARITY.format(here=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("cudnn matches xla") == 2, done.stdout
