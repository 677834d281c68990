"""`xstilts-jax plan` in its own process (libtpu as a compile-only backend, never mixed with the
CPU test backend): the real train step compiled for TPU topologies on this CPU."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xstilts_jax.errors import ConfigError
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.planning.topology import GENERATIONS, GIB

REPO = Path(__file__).resolve().parents[2]


def plan(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return subprocess.run(
        [sys.executable, "-m", "xstilts_jax.cli", "plan", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env,
    )


def gib(out: str, label: str) -> float:
    return float(re.search(rf"^  {label}\s+([\d.]+) GiB", out, re.M).group(1))


@pytest.mark.slow
def test_encoder_30b_compiles_on_its_rungs_slice_and_mesh_and_fits():
    """A >30B encoder's real train step for the recipe's batch of 32 on the slice and mesh its gin names
    (v5p-256, fsdp 16 x tensor 8: 16 batch shards): memory, batching, FLOPs, verdict, exit 0."""
    result = plan("--gin_file=gin/models/encoder_30b.gin", "--batch=32", "--head=classification", "--seq_len=256")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert "topology   v5p-256 (v5p:4x4x8, 128 chips), 95 GiB HBM" in out
    assert "mesh       data=1 x fsdp=16 x tensor=8, rules fsdp_tensor" in out
    assert "batching   16 batch shards (fsdp); micro-batch 32 rows (2 per shard) x accumulate_steps 1 = effective batch 32" in out
    # fp32 params + AdamW moments of ~31.5B parameters sharded 128 ways (fsdp x tensor): ~2.75 GiB per chip
    assert 2.5 < gib(out, "arguments") < 3.2
    total = gib(out, "total")
    assert total == pytest.approx(gib(out, "arguments") + gib(out, "temporaries") + gib(out, "outputs") + gib(out, "code"), abs=0.02)
    assert total <= GENERATIONS["v5p"].hbm_bytes / GIB and "verdict      FITS" in out
    flops = float(re.search(r"^FLOPs/step\s+([\d.e+]+)", out, re.M).group(1))
    assert flops == pytest.approx(6 * 29_595_009_024 * 8192 + 12 * 48 * 256 * 7168 * 8192, rel=1e-3)
    ideal_ms = float(re.search(r"^step time\s+([\d.]+) ms at 100% MFU", out, re.M).group(1))
    assert ideal_ms == pytest.approx(flops / (128 * 459e12) * 1e3, rel=1e-2)
    assert re.search(r"^compile\s+[\d.]+ s", out, re.M)


def test_two_slices_compile_and_a_plan_that_does_not_fit_exits_3():
    """Multi-slice (DCN data axis from gin) through libtpu's num_slices; a 6.4B two-layer encoder on
    4-chip v5e slices is refused by the TPU compiler: exit status 3 and what to change."""
    wide = ["--gin.EncoderConfig.hidden_size=16384", "--gin.EncoderConfig.num_heads=128", "--gin.EncoderConfig.mlp_dim=65536"]
    result = plan("--gin_file=gin/models/tiny.gin", "--gin_file=gin/meshes/multislice.gin", "--topology=v5e-4",
                  "--batch=16", "--seq_len=128", *wide, timeout=300)
    out = result.stdout
    assert result.returncode == 3, out + result.stderr[-3000:]
    assert "v5e-4 x 2 slices (v5e:2x2, 8 chips)" in out
    assert "mesh       data=2 x fsdp=4 x tensor=1 (data axis = 2 slices over DCN x 1 in-slice)" in out
    assert "the TPU compiler gave up: RESOURCE_EXHAUSTED" in out
    assert "DOES NOT FIT: the compiler ran out of HBM, the chip has 16 GiB" in out
    for hint in ("--remat=full", "--topology=v5e-8", "--mesh=fsdp:-1,tensor:4", "--accumulate_steps=2"):
        assert hint in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--gin_file=gin/models/tiny.gin", "--topology=v5e-4", "--batch=6", "--seq_len=64"], "not divisible by the 4 batch shards"),
        (["--gin_file=gin/models/tiny.gin", "--topology=v5e-4"], "--seq_len=512 exceeds tiny's position table (128)"),
        (["--gin_file=gin/models/tiny.gin", "--topology=v5e-4", "--seq_len=64", "--batch_tokens=1000"],
         "--batch_tokens=1000 must be a positive multiple of --seq_len=64"),
        (["--gin_file=gin/models/tiny.gin", "--topology=v5e-4", "--token_budget=0"], "--token_budget must be positive"),
    ],
)
def test_bad_input_is_one_clear_line(args, message):
    result = plan(*args, timeout=120)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def plan_main(monkeypatch):
    """The plan command in-process, for errors raised before any backend exists."""
    from xstilts_jax.planning.aot import PLANNER_ENV
    from xstilts_jax.tools.plan import main

    for key in PLANNER_ENV:
        monkeypatch.setenv(key, os.environ.get(key, PLANNER_ENV[key]))
    return main


@pytest.mark.parametrize(
    "args, message",
    [
        (["--gin_file=gin/models/tiny.gin"], "--topology is required"),
        (["--topology=v5p-8"], "give the model with --gin_file"),
        (["--gin_file=gin/models/tiny.gin", "--topology=v5e-4", "--mesh=fsdp:2,model:2"], "--mesh='fsdp:2,model:2'"),
        (["--gin_file=gin/models/tiny.gin", "--topology=v5e-4", "--mesh=fsdp:two"], "size of 'fsdp' must be an integer"),
        (["--gin_file=gin/models/tiny.gin", "--gin_file=gin/meshes/multislice.gin", "--topology=v5e-4", "--num_slices=3"],
         "MeshConfig.dcn_data=2 but --num_slices=3"),
        (["--gin_file=gin/models/tiny.gin", "--topology=v5e-4", "--gin.EncoderConfig.num_heads=5"], "not divisible by num_heads=5"),
        # pure FSDP over v5p-256's 128 chips cannot split the recipe's 32 rows: the fix is tensor parallelism
        (["--gin_file=gin/models/encoder_30b.gin", "--batch=32", "--head=classification", "--mesh=fsdp:-1"],
         "The mesh of gin/models/encoder_30b.gin on v5p-256 cannot hold the batch: batch 32 is fewer rows than the 128 "
         "batch shards of mesh data=1 x fsdp=128 x tensor=1 (batch over fsdp); raise MeshConfig.tensor to 4"),
        # the rung's mesh on a slice twice its size: 32 batch shards for a QA batch of 16
        (["--gin_file=gin/models/encoder_30b.gin", "--topology=v5p-512", "--batch=16", "--head=span"],
         "batch 16 is fewer rows than the 32 batch shards of mesh data=1 x fsdp=32 x tensor=8"),
        # the gin's accumulation for the MLM phase, 32 rows in 4 micro-steps of 8 on 16 batch shards
        (["--gin_file=gin/models/encoder_30b.gin", "--batch=32", "--gin.mlm/TrainConfig.accumulate_steps=4"],
         "batch 32 / accumulate_steps 4 = 8 rows per micro-step is fewer rows than the 16 batch shards"),
        (["--ladder_table", "--generations=v9"], "Unknown TPU generation 'v9'"),
        (["--ladder_table", "--remats=fast"], "--remats: unknown remat policy 'fast'"),
    ],
)
def test_bad_flags_are_config_errors(plan_main, args, message):
    with pytest.raises(ConfigError) as info:
        plan_main(args)
    assert message in str(info.value)


def test_mesh_flag_picks_the_rules_preset():
    from xstilts_jax.tools.plan import parse_mesh

    assert parse_mesh("fsdp:-1,tensor:4", MeshConfig()) == MeshConfig(data=1, fsdp=-1, tensor=4, rules="fsdp_tensor")
    assert parse_mesh("data:2,fsdp:-1", MeshConfig(rules="fsdp_tensor")) == MeshConfig(data=2, fsdp=-1, tensor=1, rules="fsdp")
    assert parse_mesh("data:-1,rules:data_parallel", MeshConfig()).rules == "data_parallel"
    assert parse_mesh("fsdp:-1", MeshConfig(dcn_data=2)).dcn_data == 2


def test_gpu_plan_compiles_the_step_for_as_many_host_devices():
    """`--topology=h200-4` on a machine without GPUs: the step compiled for 4 CPU host devices (the
    command sets their count), judged against an H200's 141 GiB and 989 TFLOP/s, flagged as an estimate."""
    result = plan("--gin_file=gin/models/tiny.gin", "--topology=h200-4", "--batch=8", "--seq_len=64", "--dtype=bfloat16",
                  timeout=300)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert "topology   h200-4 (4 H200 GPUs, 1 host), 141 GiB HBM and 989 TFLOP/s bf16 per chip" in out
    assert "mesh       data=1 x fsdp=4 x tensor=1" in out
    assert "(an estimate: compiled for 4 CPU host devices, no GPU here; XLA attention instead of cuDNN)" in out
    parts = ("arguments", "temporaries", "outputs", "code")
    assert gib(out, "total") == pytest.approx(sum(gib(out, p) for p in parts), abs=0.02) and "verdict      FITS" in out


@pytest.mark.slow
def test_pretraining_plan_counts_tokens_optimizer_bytes_and_budget():
    """A batch in tokens, Adafactor's state, the MLM logits before/after and a token budget's steps and days."""
    result = plan("--gin_file=gin/models/tiny.gin", "--topology=v5e-4", "--seq_len=64", "--batch_tokens=1024",
                  "--optimizer=adafactor", "--token_budget=1e9", timeout=300)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr[-3000:]
    assert "batch      16 x 64 tokens (1,024 tokens/step), head mlm" in out
    assert re.search(r"^optimizer    adafactor, factored second moment: [\d.]+ bytes/parameter", out, re.M)
    assert "(float32 at all 64 positions)" in out and "(float32 at 16 masked-position slots)" in out
    assert "token budget 1e+09 tokens: 1,024 tokens/step x 976,563 steps" in out
