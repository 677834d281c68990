"""`bench/gpu.py`, the script a GPU machine runs: no TensorFlow or seqio at import or run time (that
machine has neither), its NumPy packing equal to the feature converter's, the `cuda` install extra."""

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

from bench import common, packing

REPO = Path(__file__).resolve().parents[2]
MICRO = {"num_layers": 1, "hidden_size": 32, "num_heads": 2, "mlp_dim": 64, "vocab_size": 1000}

BLOCKED_RUN = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    for name in ("tensorflow", "seqio", "tensorflow_datasets"):
        sys.modules[name] = None  # `import tensorflow` now raises ImportError
    from bench import common, gpu
    micro = {micro!r}
    train = common.BenchShape(name="micro", model="tiny", overrides=micro, batch_size=4, seq_len=32, dtype="bfloat16")
    packed = common.BenchShape(name="micro_packed", model="tiny", overrides=micro, batch_size=4, seq_len=64, dtype="bfloat16")
    measures = ["train", "packed", "eval"]  # train_xla_attention: the same step as "train" on the CPU
    path = gpu.run(Path({out!r}), 1, 1e12, measures, train, packed)
    assert not any(sys.modules.get(n) for n in ("tensorflow", "seqio", "tensorflow_datasets"))
    print("JSON", path)
    """
)


@pytest.mark.slow
def test_gpu_script_runs_with_tensorflow_and_seqio_blocked(tmp_path):
    """Every measure of the script on micro shapes (CPU, bf16), in a process where importing
    TensorFlow, seqio or TFDS fails; the JSON names the device and holds each side's figures."""
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    code = BLOCKED_RUN.format(micro=MICRO, out=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    (path,) = tmp_path.glob("gpu-*.json")
    out = json.loads(path.read_text())
    assert out["device_kind"] == "cpu" and out["platform"] == "cpu" and out["machine"]["jax"]
    train = out["train"]
    assert train["attention"] == "xla" and train["dtype"] == "bfloat16"  # "auto" on the CPU
    assert train["project"]["mfu"] == pytest.approx(train["flops_per_step"] / train["project"]["step_s"] / 1e12)
    assert train["ratio"] == pytest.approx(train["hf"]["step_s"] / train["project"]["step_s"])
    pack = out["packed"]
    assert pack["hf_device"] == "cpu" and pack["packed_fill"] > pack["padded_fill"]
    assert pack["ratio"] == pytest.approx(pack["project_packed"]["real_tokens_per_s"] / pack["hf_padded"]["real_tokens_per_s"])
    assert out["eval"]["ratio"] == pytest.approx(out["eval"]["hf"]["batch_s"] / out["eval"]["project"]["batch_s"])


def test_numpy_packing_equals_the_feature_converter():
    """`next_fit_rows` (the GPU machine's packer) builds exactly the converter's rows from the same examples."""
    config = common.BenchShape(model="tiny", overrides=MICRO, seq_len=64).encoder_config()
    exs = packing.examples(config, packing.xnli_like_lengths(60, 64, seed=3))
    want = packing.packed_rows(config, exs, 64, max_segments=4)
    got = packing.next_fit_rows(config, exs, 64, max_segments=4)
    assert len(got) == len(want) > 10
    for g, w in zip(got, want):
        assert sorted(g) == sorted(w)
        for key in w:
            np.testing.assert_array_equal(g[key], w[key], err_msg=key)


def test_cuda_extra_installs_the_pinned_jax():
    """`pip install -e '.[cuda]'` gets the CUDA build of the very jax version the project pins."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (jax_pin,) = [d for d in project["dependencies"] if d.startswith("jax==")]
    version = jax_pin.split("==")[1]
    extras = project["optional-dependencies"]
    assert extras["cuda"] == [f"jax[cuda13]=={version}"]
    assert extras["cuda12"] == [f"jax[cuda12]=={version}"]
    assert extras["tpu"] == [f"jax[tpu]=={version}"]
