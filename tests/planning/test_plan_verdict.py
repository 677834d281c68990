"""The verdict and advice of a plan from the compiled step's memory figures (no compile here)."""

import dataclasses

from xstilts_jax.models.ladder import model_config
from xstilts_jax.partitioning import MeshConfig
from xstilts_jax.planning.aot import CompiledStep, StepSpec
from xstilts_jax.planning.flops import train_step_flops
from xstilts_jax.planning.plan import Plan, format_plan
from xstilts_jax.planning.topology import GIB, parse_topology


def make(total_gib: float, remat: str = "none", tensor: int = 1, topology: str = "v6e-256") -> Plan:
    config = model_config("xlmr_xxl", remat=remat, dtype="bfloat16")
    compiled = CompiledStep(
        argument_bytes=int(10 * GIB), output_bytes=int(10 * GIB), alias_bytes=int(10 * GIB),
        temp_bytes=int((total_gib - 10.5) * GIB), code_bytes=int(0.5 * GIB), compile_s=12.0,
        mesh_shape={"data": 1, "fsdp": 256 // tensor, "tensor": tensor},
    )
    mesh = MeshConfig(fsdp=-1, tensor=tensor, rules="fsdp_tensor" if tensor > 1 else "fsdp")
    spec = StepSpec(config, parse_topology(topology), mesh, 512, 512, "mlm", 1)
    return Plan(spec, compiled, train_step_flops(config, 512, 512), 0.4)


def test_fits_exactly_up_to_hbm():
    assert make(31.9).fits and make(32.0).fits and not make(32.1).fits
    assert "verdict      FITS: 31.9 GiB of 32 GiB per chip." in format_plan(make(31.9))


def test_advice_names_only_changes_that_apply():
    out = format_plan(make(40.0))
    assert "DOES NOT FIT: needs 40.0 GiB per chip, the chip has 32 GiB" in out
    assert "--remat=full" in out and "--mesh=fsdp:-1,tensor:4" in out and "--accumulate_steps=2" in out
    assert "--topology" not in out  # v6e-256 is the largest v6e slice
    full = format_plan(make(40.0, remat="full", tensor=4, topology="v6e-128"))
    assert "--remat=full" not in full and "tensor:4" not in full and "--topology=v6e-256" in full
    # 512 rows in 2 micro-steps of 256 fill the 256 batch shards; 4 micro-steps of 128 rows would not
    plan = make(40.0)
    accumulating = dataclasses.replace(plan, spec=dataclasses.replace(plan.spec, accumulate_steps=2))
    assert "--accumulate_steps" not in format_plan(accumulating)


def test_ideal_step_time_is_flops_over_peak():
    plan = make(20.0)
    assert plan.ideal_step_s == plan.flops.total / (256 * 918e12)
    assert f"{plan.ideal_step_s * 1e3:.1f} ms at 100% MFU, {plan.ideal_step_s / 0.4 * 1e3:.1f} ms at 40% MFU" in format_plan(plan)
