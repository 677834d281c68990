"""What `plan` adds for pretraining (no compile here): optimizer bytes per parameter, the MLM logits'
memory before and after gathering masked positions, and the steps and days of a token budget."""

import dataclasses
import math

import pytest

from xstilts_jax.models.ladder import model_config
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.planning.aot import CompiledStep, StepSpec, planned_model
from xstilts_jax.planning.flops import train_step_flops
from xstilts_jax.planning.plan import Plan, format_plan, mlm_logits_bytes
from xstilts_jax.planning.topology import GIB, parse_topology
from xstilts_jax.training.optimizer import OptimizerConfig, optimizer_bytes_per_param
from xstilts_jax.training.train_state import split_model

COMPILED = CompiledStep(argument_bytes=int(40 * GIB), output_bytes=0, alias_bytes=0, temp_bytes=int(20 * GIB),
                        code_bytes=0, compile_s=30.0, mesh_shape={"data": 1, "fsdp": 128, "tensor": 1})


def _plan(token_budget=None, optimizer=OptimizerConfig(), bytes_per_param=8.0, accumulate_steps=1):
    config = model_config("encoder_30b", remat="full", dtype="bfloat16")
    spec = StepSpec(config, parse_topology("v5p-256"), MeshConfig(fsdp=-1), 2048, 512, "mlm", accumulate_steps)
    flops = train_step_flops(config, 2048, 512)
    return Plan(spec, COMPILED, flops, 0.4, optimizer, bytes_per_param, 30_000_000_000, token_budget)


def test_token_budget_steps_and_days():
    plan = _plan(token_budget=1e12)
    assert plan.flops.tokens == 1_048_576
    assert plan.budget_steps == math.ceil(1e12 / 1_048_576) == 953_675
    assert plan.budget_days == pytest.approx(953_675 * plan.ideal_step_s / 0.4 / 86400)
    out = format_plan(plan)
    assert f"token budget 1e+12 tokens: 1,048,576 tokens/step x 953,675 steps, {plan.budget_days:,.1f} days on v5p-256 at 40% MFU" in out
    assert "token budget" not in format_plan(_plan())
    assert _plan().budget_steps is None and _plan().budget_days is None


def test_mlm_logits_before_and_after_per_chip():
    plan = _plan()
    before, now = mlm_logits_bytes(plan.spec)
    # 2048 rows x 512 positions x 250,880 ids in fp32 over 128 chips, vs 128 slots a row in bf16
    assert before == 2048 * 512 * 250_880 * 4 // 128
    assert now == 2048 * 128 * 250_880 * 2 // 128 == before // 8
    assert mlm_logits_bytes(_plan(accumulate_steps=4).spec) == (before // 4, now // 4)  # one micro-batch at a time
    assert f"{before / GIB:.2f} GiB before (float32 at all 512 positions), {now / GIB:.2f} GiB now (bfloat16 at 128" in format_plan(plan)


def test_optimizer_bytes_per_parameter_line():
    out = format_plan(_plan(optimizer=OptimizerConfig(mu_dtype="bfloat16"), bytes_per_param=6.0))
    assert "optimizer    adamw, first moment bfloat16: 6.00 bytes/parameter of state (30,000,000,000 parameters: 167.64 GiB, 1.31 GiB per chip sharded)" in out
    assert "adafactor, factored second moment: 0.02 bytes/parameter" in format_plan(_plan(optimizer=OptimizerConfig(name="adafactor"), bytes_per_param=0.02))


def test_encoder_30b_optimizer_state_per_parameter():
    """From the abstract 30B model (nothing allocated): AdamW 8, bf16 first moment 6, Adafactor well under 1."""
    spec = dataclasses.replace(_plan().spec, config=model_config("encoder_30b"))
    params = split_model(planned_model(spec))[1]
    assert optimizer_bytes_per_param(OptimizerConfig(), params) == pytest.approx(8.0)
    assert optimizer_bytes_per_param(OptimizerConfig(mu_dtype="bfloat16"), params) == pytest.approx(6.0)
    assert optimizer_bytes_per_param(OptimizerConfig(name="adafactor"), params) < 0.2
