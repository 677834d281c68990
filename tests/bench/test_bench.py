"""Smoke tests of the benchmark code paths on micro shapes: what they compute, never how fast."""

import json

import numpy as np
import pytest

from bench import common, gpu, packing, profile
from xstilts_jax.errors import ConfigError
from xstilts_jax.models import HeadSpec
from xstilts_jax.planning.flops import train_step_flops

MICRO = {"num_layers": 1, "hidden_size": 32, "num_heads": 2, "mlp_dim": 64, "vocab_size": 1000}


def micro(name="micro", **kw):
    fields = {"name": name, "model": "tiny", "overrides": MICRO, "batch_size": 4, "seq_len": 32, **kw}
    return common.BenchShape(**fields)


def test_hf_model_has_the_project_encoder_shape():
    """Both sides benchmark the same network: equal encoder parameter counts (HF has no pooler here)."""
    config = micro().encoder_config()
    trainer = common.project_trainer(config, HeadSpec("classification", 3))
    enc = trainer.state.params["encoder"]
    ours = sum(np.size(x) for k, x in _leaves(enc) if not k.startswith("pooler"))
    hf = common.hf_model(config, "classification", 3)
    theirs = sum(p.numel() for p in hf.roberta.parameters())
    assert ours == theirs
    assert hf.config._attn_implementation == "sdpa"
    assert hf.config.hidden_dropout_prob == 0.0 and config.dropout_rate == 0.0


def _leaves(tree, prefix=""):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}/")
        else:
            yield f"{prefix}{k}", v


def test_shape_longer_than_the_position_table_is_refused():
    with pytest.raises(ConfigError, match="seq_len=4000"):
        micro(seq_len=4000).encoder_config()


def test_xnli_like_lengths_are_bounded_and_pair_sized():
    lengths = packing.xnli_like_lengths(4000, 128, seed=1)
    assert lengths.min() >= 2 + packing.SPECIAL_TOKENS and lengths.max() <= 128
    assert 35 < lengths.mean() < 55  # medians 24 + 12 subwords + 4 specials, log-normal spread


def test_packed_rows_keep_every_token_of_the_examples_they_hold():
    config = micro().encoder_config()
    exs = packing.examples(config, packing.xnli_like_lengths(40, 32, seed=2))
    rows = packing.packed_rows(config, exs, 32, max_segments=4)
    held = sum(int(np.sum(r["labels"] >= 0)) for r in rows)
    assert held == len(exs)
    assert sum(int(np.sum(r["segment_ids"] > 0)) for r in rows) == sum(len(e["inputs"]) for e in exs)
    first = rows[0]
    n0 = len(exs[0]["inputs"])
    np.testing.assert_array_equal(first["input_ids"][:n0], exs[0]["inputs"])
    assert first["labels"][0] == exs[0]["targets"]


def test_peak_flops_come_from_the_planner_table_by_device_kind():
    """Longest matching name wins: a GH200 is not an H200, a v5e ("TPU v5 lite") not a v5p ("TPU v5")."""
    from xstilts_jax.planning.topology import GENERATIONS, GPU_GENERATIONS, chip_for_device_kind

    kinds = {  # jax.Device.device_kind as JAX reports it
        "NVIDIA H100 80GB HBM3": GPU_GENERATIONS["h100"],
        "NVIDIA H100 PCIe": GPU_GENERATIONS["h100-pcie"],
        "NVIDIA H200": GPU_GENERATIONS["h200"],
        "NVIDIA GH200 480GB": GPU_GENERATIONS["gh200"],
        "NVIDIA A100-SXM4-80GB": GPU_GENERATIONS["a100"],
        "TPU v4": GENERATIONS["v4"],
        "TPU v5 lite": GENERATIONS["v5e"],
        "TPU v5": GENERATIONS["v5p"],
        "TPU v6 lite": GENERATIONS["v6e"],
    }
    for kind, chip in kinds.items():
        assert chip_for_device_kind(kind) is chip, kind
        assert gpu.peak_flops(kind) == chip.peak_flops
    assert gpu.peak_flops("cpu") is None and chip_for_device_kind("Radeon") is None


def test_profile_classifies_ops_by_their_hlo_metadata():
    def part(op_name, shape="f32[4,4]", opcode="fusion", name="fusion.1"):
        return profile.classify({"op_name": op_name, "shape": shape, "opcode": opcode, "name": name}, 1000)

    assert part("jit(step)/jvp()/while/body/closed_call/dot_general").startswith("forward blocks: matmuls")
    assert part("jit(step)/transpose(jvp())/while/body/closed_call/erfc").startswith("backward blocks: elementwise")
    assert part("jit(step)/transpose(jvp(jit(_take)))/scatter-add", "f32[1000,32]").startswith("word-embedding")
    assert part("jit(step)/jvp()/while/body/jit(dynamic_index_in_dim)/dynamic_slice").startswith("scan bookkeeping")
    # an unrolled layer scan (EncoderConfig.scan_unroll) inlines the block as a closed_call
    assert part("jit(step)/transpose(jvp())/closed_call/dot_general").startswith("backward blocks: matmuls")
    assert part("jit(step)/jvp()/closed_call/mul").startswith("forward blocks: elementwise")
    assert part("jit(step)/sqrt").startswith("optimizer")
    assert part("", name="wrapped_broadcast.3").startswith("buffer initialisation")


def test_profile_of_a_real_step_covers_blocks_embedding_gradient_and_optimizer():
    config = micro().encoder_config()
    trainer = common.project_trainer(config, HeadSpec("classification", 3))
    batch = next(common.padded_batches(config, 4, 32, seed=0))
    result = profile.profile_train_step(trainer, batch, steps=1)
    parts = result["parts"]
    for prefix in ("forward blocks", "backward blocks", "word-embedding gradient", "optimizer"):
        assert any(p.startswith(prefix) for p in parts), (prefix, sorted(parts))
    assert sum(e["share"] for e in parts.values()) == pytest.approx(1.0)
    assert "sum of op time" in profile.format_profile(result)


def test_accelerator_benchmark_runs_on_cpu_in_bf16():
    """The GPU code path (bf16, MFU) on a micro shape: HF runs on the CPU beside it; MFU uses the given peak."""
    result = gpu.accelerator_benchmark(micro(dtype="bfloat16"), steps=1, peak=1e12, warmup=1)
    flops = train_step_flops(micro().encoder_config(), 4, 32, head="classification").total
    assert result["flops_per_step"] == flops
    for side in ("project", "hf"):
        assert result[side]["mfu"] == pytest.approx(flops / result[side]["step_s"] / 1e12)
    assert result["ratio"] == pytest.approx(result["hf"]["step_s"] / result["project"]["step_s"])


GIN = """
import bench.common
import bench.suite
micro/BenchShape.name = 'micro'
micro/BenchShape.model = 'tiny'
micro/BenchShape.overrides = {overrides}
micro/BenchShape.batch_size = 4
micro/BenchShape.seq_len = 128
run_benchmarks.shapes = [@micro/BenchShape()]
run_benchmarks.packing_shape = @micro/BenchShape()
run_benchmarks.eval_shape = @micro/BenchShape()
run_benchmarks.eval_batches_per_language = 1
run_benchmarks.train_steps = 1
run_benchmarks.eval_passes = 1
run_benchmarks.profile = True
import bench.input_pipeline
input_pipeline_benchmark.length = 64
input_pipeline_benchmark.batch_size = 4
input_pipeline_benchmark.batches = 2
input_pipeline_benchmark.documents = {{'en': 40, 'sw': 4}}
import bench.resume
resume_benchmark.steps = [1, 3]
resume_benchmark.batch_size = 4
resume_benchmark.length = 32
"""


@pytest.mark.slow
def test_run_prints_and_writes_every_ratio(tmp_path, capsys):
    """`python -m bench.run` end to end on a micro shape: the JSON's ratios are the ones of its raw figures."""
    from bench import run

    gin_file = tmp_path / "micro.gin"
    gin_file.write_text(GIN.format(overrides=MICRO))
    # --threads=0: JAX is already running in this process; leave its and torch's threads alone.
    assert run.main([f"--gin_file={gin_file}", f"--out={tmp_path}", "--threads=0"]) == 0
    printed = capsys.readouterr().out
    for key in ("padded_ratio", "packed_ratio", "eval_ratio", "input_ratio", "resume_ratio"):
        assert key in printed
    (path,) = tmp_path.glob("2*.json")
    out = json.loads(path.read_text())
    padded = out["padded"][0]
    assert out["padded_ratio"] == padded["ratio"] == pytest.approx(
        padded["project"]["tokens_per_s"] / padded["hf"]["tokens_per_s"]
    )
    pack = out["packing"]
    assert out["packed_ratio"] == pytest.approx(
        pack["project_packed"]["real_tokens_per_s"] / pack["hf_padded"]["real_tokens_per_s"]
    )
    assert pack["packed_fill"] > pack["padded_fill"]
    assert out["eval"]["languages"] == ["ar", "de", "en", "zh"]  # the UD-POS sample languages
    assert out["eval_ratio"] == pytest.approx(out["eval"]["project"]["tokens_per_s"] / out["eval"]["hf"]["tokens_per_s"])
    assert out["profile"]["shape"] == "micro" and out["machine"]["cpus"] >= 1 and out["date"]
    pipe = out["input_pipeline"]
    assert pipe["stream"]["fill"] >= 0.95 and pipe["stream"]["fill"] > pipe["mlm_lines_packed"]["fill"]
    assert out["input_ratio"] == pytest.approx(pipe["stream"]["real_tokens_per_s"] / pipe["need"]["tokens_per_s_per_host"])
    resume = out["resume"]  # both resume paths continued the uninterrupted run (checked inside)
    assert [r["step"] for r in resume["rows"]] == [1, 3] and all(r["state_bytes"] > 0 for r in resume["rows"])
    assert out["resume_ratio"] == pytest.approx(resume["rows"][-1]["replay_s"] / resume["rows"][-1]["restore_s"])


def test_a_30b_encoder_on_a_v5p_256_needs_about_4k_tokens_per_s_per_host():
    from bench.input_pipeline import required_tokens_per_s_per_host

    need = required_tokens_per_s_per_host("encoder_30b", "v5p-256", 0.4, 512)
    assert need["hosts"] == 32 and 3500 < need["tokens_per_s_per_host"] < 4500


def test_headline_shape_must_be_benchmarked():
    from bench.suite import run_benchmarks

    with pytest.raises(ConfigError, match="headline_shape='nope'"):
        run_benchmarks(shapes=[micro()], headline_shape="nope")
