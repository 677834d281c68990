"""A plan: the compiled step's per-chip memory against HBM, analytic FLOPs, ideal step time, verdict."""

from __future__ import annotations

import dataclasses

from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.planning.aot import CompiledStep, CompilerOutOfMemory, StepSpec, compile_train_step
from xstilts_jax.planning.flops import StepFlops, train_step_flops
from xstilts_jax.planning.topology import GIB, GpuTopology, Topology


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything `xstilts-jax plan` prints about one compiled `StepSpec`."""

    spec: StepSpec
    compiled: CompiledStep | CompilerOutOfMemory  # the latter when the TPU compiler itself ran out of HBM
    flops: StepFlops
    mfu: float

    @property
    def config(self) -> EncoderConfig:
        return self.spec.config

    @property
    def topology(self) -> Topology | GpuTopology:
        return self.spec.topology

    @property
    def hbm_bytes(self) -> int:
        return self.topology.generation.hbm_bytes

    @property
    def fits(self) -> bool:
        return isinstance(self.compiled, CompiledStep) and self.compiled.total_bytes <= self.hbm_bytes

    @property
    def ideal_step_s(self) -> float:
        """Step time at 100% MFU: model FLOPs / (chips x peak bf16 FLOP/s)."""
        return self.flops.total / (self.topology.chips * self.topology.generation.peak_flops)

    def suggestions(self) -> list[str]:
        """What to change when the step does not fit, most effective first."""
        out = []
        if self.config.remat != "full":
            out.append(f"--remat=full (now {self.config.remat!r}): recompute activations in the backward pass")
        bigger = self.topology.doubled()
        if bigger is not None:
            out.append(f"--topology={bigger.user_name}: twice the chips halves the sharded parameters and optimizer state per chip")
        if self.spec.mesh_config.data > 1:
            out.append("--mesh=fsdp:-1: shard parameters over the data axis too (FSDP instead of replication)")
        if self.spec.mesh_config.tensor == 1:
            out.append("--mesh=fsdp:-1,tensor:4: tensor parallelism also splits heads, MLP and vocabulary activations")
        if self.spec.batch // self.spec.accumulate_steps > 1:
            out.append(f"--accumulate_steps={2 * self.spec.accumulate_steps}: same global batch, half the activations")
        return out


def make_plan(spec: StepSpec, mfu: float = 0.4) -> Plan:
    """Compile the train step for `spec.topology` and combine it with the analytic FLOPs."""
    compiled: CompiledStep | CompilerOutOfMemory
    try:
        compiled = compile_train_step(spec)
    except CompilerOutOfMemory as e:
        compiled = e
    return Plan(spec, compiled, train_step_flops(spec.config, spec.batch, spec.seq_len, spec.head), mfu)


def _gib(n: int) -> str:
    return f"{n / GIB:8.2f} GiB"


def format_plan(plan: Plan) -> str:
    """The human-readable report."""
    c, m, t, spec = plan.config, plan.compiled, plan.topology, plan.spec
    mesh = " x ".join(f"{k}={v}" for k, v in m.mesh_shape.items())
    dcn = f" (data axis = {spec.mesh_config.dcn_data} slices over DCN x {spec.mesh_config.data} in-slice)" if spec.mesh_config.dcn_data > 1 else ""
    lines = [
        f"model      {c.name}: {c.num_layers}L/{c.hidden_size}/{c.num_heads}H/{c.mlp_dim}, compute {c.dtype}, params {c.param_dtype}, remat {c.remat}",
        f"topology   {t.describe()}, {t.generation.hbm_bytes / GIB:.0f} GiB HBM and {t.generation.peak_flops / 1e12:.0f} TFLOP/s bf16 per chip",
        f"mesh       {mesh}{dcn}, rules {spec.mesh_config.rules}",
        f"batch      {spec.batch} x {spec.seq_len} tokens ({plan.flops.tokens:,} tokens/step), head {spec.head}, accumulate_steps {spec.accumulate_steps}",
    ]
    if isinstance(m, CompiledStep):
        lines += [
            "memory per chip:",
            f"  arguments    {_gib(m.argument_bytes)}  (params + optimizer state + batch shard)",
            f"  temporaries  {_gib(m.temp_bytes)}  (activations, gradients, collectives buffers)",
            f"  outputs      {_gib(m.output_bytes - m.alias_bytes)}  (not donated into arguments)",
            f"  code         {_gib(m.code_bytes)}",
            f"  total        {_gib(m.total_bytes)}  of {plan.hbm_bytes / GIB:.0f} GiB HBM ({100 * m.total_bytes / plan.hbm_bytes:.0f}%)",
        ]
        if isinstance(t, GpuTopology) and m.platform != "gpu":
            lines.append(f"  (an estimate: compiled for {t.chips} CPU host devices, no GPU here; XLA attention instead of cuDNN)")
    else:
        lines.append(f"memory per chip: the TPU compiler gave up: {m}")
    lines += [
        f"FLOPs/step   {plan.flops.total:.3e} analytic (6 x {plan.flops.matmul_params:,} matmul params x tokens "
        f"+ attention {plan.flops.attention_flops:.2e})",
        f"step time    {plan.ideal_step_s * 1e3:.1f} ms at 100% MFU, {plan.ideal_step_s / plan.mfu * 1e3:.1f} ms at {100 * plan.mfu:.0f}% MFU "
        f"({plan.flops.tokens / (plan.ideal_step_s / plan.mfu):,.0f} tokens/s)",
        f"compile      {m.compile_s:.1f} s",
    ]
    if isinstance(m, CompiledStep) and plan.fits:
        lines.append(f"verdict      FITS: {m.total_bytes / GIB:.1f} GiB of {plan.hbm_bytes / GIB:.0f} GiB per chip.")
    else:
        need = f"needs {m.total_bytes / GIB:.1f} GiB per chip" if isinstance(m, CompiledStep) else "the compiler ran out of HBM"
        lines.append(f"verdict      DOES NOT FIT: {need}, the chip has {plan.hbm_bytes / GIB:.0f} GiB. Try:")
        lines += [f"  - {s}" for s in plan.suggestions()]
    return "\n".join(lines)
