"""Shared pieces of the benchmarks: shapes (gin), model builders on both sides, timing, machine info.

Every benchmark times the project and Hugging Face `transformers` (PyTorch) in the same
process on the same batches; timings are medians over steps after warm-up (the first
call, which compiles on the JAX side).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import time
from typing import Any, Callable, Iterator, Mapping

import gin
import jax
import numpy as np
import tqdm

from xstilts_jax.errors import ConfigError
from xstilts_jax.models import HeadSpec, build_model
from xstilts_jax.models.config import EncoderConfig
from xstilts_jax.models.ladder import model_config
from xstilts_jax.partitioning import MeshConfig, Partitioner
from xstilts_jax.training.optimizer import OptimizerConfig
from xstilts_jax.training.step_builder import build_train_step
from xstilts_jax.training.train_state import TrainState, split_model

Batch = dict[str, np.ndarray]
NUM_CLASSES = 3  # the benchmarks' classification head: an NLI-sized label set


@gin.configurable
@dataclasses.dataclass(frozen=True)
class BenchShape:
    """One benchmarked model shape and batch: a ladder model with field overrides.

    `dtype` is the compute dtype ("float32" on CPU; "bfloat16" for the GPU benchmark).
    """

    name: str = "tiny"
    model: str = "tiny"
    overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    batch_size: int = 16
    seq_len: int = 128
    dtype: str = "float32"

    def encoder_config(self) -> EncoderConfig:
        """The EncoderConfig of this shape: no dropout, the shape's compute dtype."""
        config = model_config(self.model, dropout_rate=0.0, dtype=self.dtype, **dict(self.overrides))
        if self.seq_len > config.max_length:
            raise ConfigError(
                f"BenchShape {self.name!r}: seq_len={self.seq_len} exceeds the usable length {config.max_length} "
                f"of model {self.model!r}; lower seq_len or raise overrides['max_positions']."
            )
        return config


def machine_info() -> dict[str, Any]:
    """Where the numbers were taken: OS, CPU model and count, JAX/torch versions and devices."""
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "jax_devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "load_average_1m": os.getloadavg()[0],  # other processes on a shared machine slow both sides
    }


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def interleaved_medians(calls: Mapping[str, Callable[[int], Any]], steps: int, warmup: int = 1) -> dict[str, float]:
    """Median wall time of each `calls[name](i)` over steps i = 0..steps-1, the calls taking turns.

    Taking turns spreads the load of a shared machine evenly over both sides of a
    comparison. Each call must block until its work is done; `warmup` untimed rounds run first.
    """
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}.")
    for i in range(warmup):
        for call in calls.values():
            call(i)
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i in tqdm.trange(steps, desc=" vs ".join(calls), unit="round", leave=False):
        for name, call in calls.items():
            start = time.perf_counter()
            call(i)
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def random_ids(rng: np.random.Generator, config: EncoderConfig, lengths: np.ndarray, width: int) -> np.ndarray:
    """[len(lengths), width] XLM-R-style rows: <s> random word ids </s>, then padding."""
    ids = rng.integers(4, config.vocab_size, size=(len(lengths), width)).astype(np.int32)
    for i, n in enumerate(lengths):
        ids[i, 0], ids[i, n - 1], ids[i, n:] = 0, 2, config.pad_id
    return ids


def padded_batches(config: EncoderConfig, batch_size: int, seq_len: int, seed: int) -> Iterator[Batch]:
    """Endless padded 3-class classification batches, lengths uniform in [seq_len / 2, seq_len]."""
    rng = np.random.default_rng(seed)
    while True:
        lengths = rng.integers(seq_len // 2, seq_len + 1, size=batch_size)
        ids = random_ids(rng, config, lengths, seq_len)
        yield {"input_ids": ids, "labels": rng.integers(0, 3, size=batch_size).astype(np.int32)}


def real_tokens(batch: Batch, pad_id: int) -> int:
    """Non-padding tokens of a batch."""
    if "segment_ids" in batch:
        return int(np.sum(batch["segment_ids"] > 0))
    return int(np.sum(batch["input_ids"] != pad_id))


# --- the project side ------------------------------------------------------------------


@dataclasses.dataclass
class ProjectTrainer:
    """The project's jitted train step (on one device) with its state, for timing."""

    config: EncoderConfig
    step_fn: Callable[[TrainState, Any], tuple[TrainState, dict[str, jax.Array]]]
    state: TrainState

    def step(self, batch: Batch) -> dict[str, jax.Array]:
        """One train step; blocks until it is done; returns its metrics."""
        self.state, metrics = self.step_fn(self.state, batch)
        return jax.block_until_ready(metrics)


def project_trainer(config: EncoderConfig, head: HeadSpec, total_steps: int = 1000) -> ProjectTrainer:
    """Model + AdamW (the project's optimizer) + the trainer's step on the first device, state donated."""
    model = build_model(config, {"head": head}, seed=0)
    partitioner = Partitioner.from_config(MeshConfig(data=1, fsdp=1, tensor=1, dcn_data=1), jax.devices()[:1])
    train_step = build_train_step(model, OptimizerConfig(learning_rate=1e-4), partitioner, total_steps, dropout=False)
    return ProjectTrainer(config, train_step.jit("head"), train_step.init_state())


def project_forward(config: EncoderConfig, head: HeadSpec) -> Callable[[Batch], dict[str, jax.Array]]:
    """The project's jitted inference forward of one head (what evaluation runs per batch)."""
    model = build_model(config, {"head": head}, seed=0)
    graphdef, params = split_model(model)

    @jax.jit
    def forward(params: Any, batch: Batch) -> dict[str, jax.Array]:
        from flax import nnx

        return nnx.merge(graphdef, params)(batch, "head")

    return lambda batch: jax.block_until_ready(forward(params, batch))


# --- the Hugging Face side ---------------------------------------------------------------


def hf_config(config: EncoderConfig, num_labels: int) -> Any:
    """The `XLMRobertaConfig` of the same shape, SDPA attention, no dropout."""
    import transformers

    if config.norm_style != "post":
        raise ConfigError(f"The HF comparison uses XLMRobertaModel (post-LN); model {config.name!r} is pre-LN.")
    hf = transformers.XLMRobertaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        intermediate_size=config.mlp_dim,
        max_position_embeddings=config.max_positions,
        type_vocab_size=config.type_vocab_size,
        pad_token_id=config.pad_id,
        layer_norm_eps=config.layer_norm_eps,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        classifier_dropout=0.0,
        num_labels=num_labels,
    )
    hf._attn_implementation = "sdpa"
    return hf


def hf_model(config: EncoderConfig, kind: str, num_labels: int, device: str = "cpu") -> Any:
    """`XLMRobertaForSequenceClassification` (kind "classification") or `...ForTokenClassification`
    ("tagging") of the same shape, fp32 parameters, SDPA attention."""
    import torch
    import transformers

    classes = {
        "classification": transformers.XLMRobertaForSequenceClassification,
        "tagging": transformers.XLMRobertaForTokenClassification,
    }
    if kind not in classes:
        raise ConfigError(f"No HF model for head kind {kind!r}; choose one of {sorted(classes)}.")
    torch.manual_seed(0)
    model = classes[kind](hf_config(config, num_labels)).to(device)
    if model.config._attn_implementation != "sdpa":
        raise ConfigError(f"HF model uses {model.config._attn_implementation!r} attention, not SDPA.")
    return model


@dataclasses.dataclass
class HFTrainer:
    """HF model + torch AdamW with global-norm clipping: the same update as the project's step.

    `dtype` "bfloat16" runs the forward under `torch.autocast` (fp32 parameters, bf16
    compute), as the project's `EncoderConfig.dtype` does. `phases` records each step's
    forward, backward and clip + optimizer seconds (where HF's time goes).
    """

    model: Any
    optimizer: Any
    pad_id: int
    device: str = "cpu"
    dtype: str = "float32"
    phases: list[tuple[float, float, float]] = dataclasses.field(default_factory=list)

    def _sync(self) -> None:
        if self.device != "cpu":
            import torch

            torch.cuda.synchronize()

    def step(self, batch: Mapping[str, Any]) -> float:
        """One train step on a batch of torch tensors (`to_torch`); returns the loss."""
        import torch

        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.dtype == "bfloat16"):
            out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        self._sync()
        forward = time.perf_counter()
        out.loss.backward()
        self._sync()
        backward = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self._sync()
        self.phases.append((forward - start, backward - forward, time.perf_counter() - backward))
        return float(out.loss.detach())

    def phase_medians(self) -> dict[str, float]:
        """Median seconds of forward, backward and clip + optimizer over the recorded steps."""
        names = ("forward_s", "backward_s", "optimizer_s")
        return {name: float(np.median([p[i] for p in self.phases])) for i, name in enumerate(names)}


def hf_trainer(config: EncoderConfig, num_labels: int, device: str = "cpu", dtype: str = "float32") -> HFTrainer:
    """The HF classification model in train mode with torch's fused AdamW (what `transformers.Trainer`
    uses by default with torch >= 2.8): lr 1e-4, weight decay 0.01 except on biases and LayerNorms,
    as the project's optimizer."""
    import torch

    model = hf_model(config, "classification", num_labels, device).train()
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if "bias" in name or "LayerNorm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=1e-4, eps=1e-8, fused=True)
    return HFTrainer(model, optimizer, config.pad_id, device, dtype)


def to_torch(batch: Batch, pad_id: int, device: str = "cpu") -> dict[str, Any]:
    """input_ids / attention_mask / labels as torch tensors (HF's padded batch)."""
    import torch

    ids = torch.from_numpy(np.asarray(batch["input_ids"], np.int64)).to(device)
    out = {"input_ids": ids, "attention_mask": (ids != pad_id).long()}
    if "labels" in batch:
        out["labels"] = torch.from_numpy(np.asarray(batch["labels"], np.int64)).to(device)
    return out
