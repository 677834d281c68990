"""Analytic training FLOPs of the encoder (DESIGN: never XLA's cost analysis, which counts a
scanned layer once).

Per token, training costs 6 FLOPs per matmul weight that touches the token (2 forward,
4 backward) plus bidirectional attention, 12 * layers * seq_len * heads * head_dim
(QK^T and AV, forward and backward). Rematerialization is not counted: MFU is reported
against model FLOPs, as MaxText and PaLM do.
"""

from __future__ import annotations

import dataclasses

from xstilts_jax.models.config import EncoderConfig


@dataclasses.dataclass(frozen=True)
class StepFlops:
    """Model FLOPs of one train step and their parts."""

    matmul_params: int  # weights multiplied with every token
    tokens: int
    matmul_flops: float
    attention_flops: float

    @property
    def total(self) -> float:
        return self.matmul_flops + self.attention_flops


def matmul_params_per_token(config: EncoderConfig, head: str) -> int:
    """Weights each token is multiplied with: attention q/k/v/o and the MLP in every block,
    plus the MLM transform and tied vocabulary decoder for the `mlm` head (other heads
    read one token or a few labels and are below 0.1% of the total)."""
    d, inner = config.hidden_size, config.num_heads * config.kv_dim
    per_block = 4 * d * inner + 2 * d * config.mlp_dim
    head_params = d * d + d * config.vocab_size if head == "mlm" else 0
    return config.num_layers * per_block + head_params


def train_step_flops(config: EncoderConfig, batch: int, seq_len: int, head: str = "mlm") -> StepFlops:
    """Model FLOPs of one training step on `batch` rows of `seq_len` tokens."""
    tokens = batch * seq_len
    n = matmul_params_per_token(config, head)
    attention = 12.0 * config.num_layers * seq_len * config.num_heads * config.kv_dim * tokens
    return StepFlops(matmul_params=n, tokens=tokens, matmul_flops=6.0 * n * tokens, attention_flops=attention)
