"""A plan: the compiled step's per-chip memory against HBM, analytic FLOPs, ideal step time, verdict;
the optimizer's bytes per parameter, the MLM logits' memory, and the steps and days of a token budget."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.heads import MLM_CHUNK_FRACTION
from xstilts_jax.partitioning import batch_axes, batch_shards, get_rules
from xstilts_jax.planning.aot import CompiledStep, CompilerOutOfMemory, StepSpec, compile_train_step, planned_model
from xstilts_jax.planning.flops import StepFlops, train_step_flops
from xstilts_jax.planning.topology import GIB, GpuTopology, Topology
from xstilts_jax.training.optimizer import OptimizerConfig, optimizer_bytes_per_param
from xstilts_jax.training.train_state import split_model

SECONDS_PER_DAY = 86400.0


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything `xstilts-jax plan` prints about one compiled `StepSpec`."""

    spec: StepSpec
    compiled: CompiledStep | CompilerOutOfMemory  # the latter when the TPU compiler itself ran out of HBM
    flops: StepFlops
    mfu: float
    optimizer: OptimizerConfig = OptimizerConfig()
    optimizer_bytes_per_param: float = 0.0
    params: int = 0
    token_budget: float | None = None  # tokens to train on (pretraining), for steps and days

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

    @property
    def budget_steps(self) -> int | None:
        """Steps to train on `token_budget` tokens at this step's tokens (None without a budget)."""
        return None if self.token_budget is None else math.ceil(self.token_budget / self.flops.tokens)

    @property
    def budget_days(self) -> float | None:
        """Days those steps take at `mfu`."""
        steps = self.budget_steps
        return None if steps is None else steps * self.ideal_step_s / self.mfu / SECONDS_PER_DAY

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
        doubled = 2 * self.spec.accumulate_steps
        shards = batch_shards(get_rules(self.spec.mesh_config.rules), self.compiled.mesh_shape)
        if self.spec.batch % doubled == 0 and (self.spec.batch // doubled) % shards == 0:  # micro-steps still fill every shard
            out.append(f"--accumulate_steps={doubled}: same global batch, half the activations")
        return out


def make_plan(
    spec: StepSpec, mfu: float = 0.4, optimizer: OptimizerConfig | None = None, token_budget: float | None = None
) -> Plan:
    """Compile the train step (with `optimizer`, default AdamW) for `spec.topology` and combine it with the
    analytic FLOPs, the optimizer's bytes per parameter and, given a `token_budget`, its steps and days."""
    optimizer = optimizer or OptimizerConfig()
    compiled: CompiledStep | CompilerOutOfMemory
    try:
        compiled = compile_train_step(spec, optimizer)
    except CompilerOutOfMemory as e:
        compiled = e
    params = split_model(planned_model(spec))[1]
    return Plan(
        spec, compiled, train_step_flops(spec.config, spec.batch, spec.seq_len, spec.head), mfu, optimizer,
        optimizer_bytes_per_param(optimizer, params), sum(x.size for x in jax.tree.leaves(params)), token_budget,
    )


def mlm_logits_bytes(spec: StepSpec) -> tuple[int, int]:
    """Per-chip bytes of one [rows, positions, vocab] logits array of a micro-batch (analytic; logits
    shard over every chip: rows over data and fsdp, vocabulary over tensor): before, fp32 at every
    position; now, the compute dtype at the MLM head's first chunk of masked-position slots."""
    rows = spec.batch // spec.accumulate_steps
    vocab, chips = spec.config.vocab_size, spec.topology.chips
    chunk = min(spec.seq_len, math.ceil(MLM_CHUNK_FRACTION * spec.seq_len))
    before = rows * spec.seq_len * vocab * 4 // chips
    now = rows * chunk * vocab * jnp.dtype(spec.config.compute_dtype).itemsize // chips
    return before, now


def _batching(spec: StepSpec, mesh_shape: dict[str, int]) -> str:
    """How the batch lies on the mesh: its shards, each micro-step's rows, the accumulation, the effective batch."""
    rules = get_rules(spec.mesh_config.rules)
    axes, shards = batch_axes(rules, mesh_shape), batch_shards(rules, mesh_shape)
    micro = spec.batch // spec.accumulate_steps
    return (
        f"batching   {shards} batch shards ({' x '.join(axes) or 'none'}); micro-batch {micro} rows "
        f"({micro // shards} per shard) x accumulate_steps {spec.accumulate_steps} = effective batch {spec.batch}"
    )


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
        _batching(spec, m.mesh_shape),
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
    opt = plan.optimizer
    moment = f", first moment {opt.mu_dtype}" if opt.name == "adamw" else ", factored second moment"
    lines.append(
        f"optimizer    {opt.name}{moment}: {plan.optimizer_bytes_per_param:.2f} bytes/parameter of state "
        f"({plan.params:,} parameters: {plan.optimizer_bytes_per_param * plan.params / GIB:,.2f} GiB, "
        f"{plan.optimizer_bytes_per_param * plan.params / GIB / t.chips:.2f} GiB per chip sharded)"
    )
    if spec.head == "mlm":
        before, now = mlm_logits_bytes(spec)
        chunk = min(spec.seq_len, math.ceil(MLM_CHUNK_FRACTION * spec.seq_len))
        lines.append(
            f"MLM logits   per chip, one [rows, positions, vocab] array (analytic): {before / GIB:.2f} GiB before "
            f"(float32 at all {spec.seq_len} positions), {now / GIB:.2f} GiB now ({c.dtype} at {chunk} masked-position slots)"
        )
    lines += [
        f"FLOPs/step   {plan.flops.total:.3e} analytic (6 x {plan.flops.matmul_params:,} matmul params x tokens "
        f"+ attention {plan.flops.attention_flops:.2e})",
        f"step time    {plan.ideal_step_s * 1e3:.1f} ms at 100% MFU, {plan.ideal_step_s / plan.mfu * 1e3:.1f} ms at {100 * plan.mfu:.0f}% MFU "
        f"({plan.flops.tokens / (plan.ideal_step_s / plan.mfu):,.0f} tokens/s)",
        f"compile      {m.compile_s:.1f} s",
    ]
    if plan.token_budget is not None:
        lines.append(
            f"token budget {plan.token_budget:.3g} tokens: {plan.flops.tokens:,} tokens/step x {plan.budget_steps:,} steps, "
            f"{plan.budget_days:,.1f} days on {t.user_name} at {100 * plan.mfu:.0f}% MFU"
        )
    if isinstance(m, CompiledStep) and plan.fits:
        lines.append(f"verdict      FITS: {m.total_bytes / GIB:.1f} GiB of {plan.hbm_bytes / GIB:.0f} GiB per chip.")
    else:
        need = f"needs {m.total_bytes / GIB:.1f} GiB per chip" if isinstance(m, CompiledStep) else "the compiler ran out of HBM"
        lines.append(f"verdict      DOES NOT FIT: {need}, the chip has {plan.hbm_bytes / GIB:.0f} GiB. Try:")
        lines += [f"  - {s}" for s in plan.suggestions()]
    return "\n".join(lines)
