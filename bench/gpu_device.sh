#!/usr/bin/env bash
# The GPU benchmark as one device command (the `device` tool's machines: jax 0.11.2 for CUDA 13, torch
# with CUDA, transformers; no TensorFlow, seqio, TFDS or gin, and no network).
#
# Before the call, here (pure-Python wheels the machine lacks or has at other versions, ~1 MiB):
#   echo /.whl/ >> .git/info/exclude
#   .venv/bin/pip download --no-deps -d .whl gin-config==0.5.0 flax==0.12.8 optax==0.2.8
# Then: run(command="bash bench/gpu_device.sh", carry=[".whl"], timeout_s=540); the JSON and logs come back from $OUT.
#
# Steps: install the carried wheels, record versions, the cuDNN-vs-XLA attention parity tests, `python -m bench.gpu`.
set -uo pipefail
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import gin" 2>/dev/null || { echo "gin-config is missing: carry its wheel in .whl (see the top of $0)"; exit 1; }
python3 - <<'PY' 2>&1 | tee "$OUT/versions.txt"
import flax, jax, optax, torch, transformers
print("jax", jax.__version__, "flax", flax.__version__, "optax", optax.__version__, "torch", torch.__version__,
      "cuda", torch.version.cuda, "transformers", transformers.__version__, "devices", jax.devices())
PY
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/models/test_attention.py 2>&1 | tee "$OUT/attention_tests.txt"
python3 -m bench.gpu --out "$OUT" 2>&1 | tee "$OUT/bench_gpu.log"
