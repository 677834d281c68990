"""The span decoding settings (gin `span_decoding.*`), held by `EvalSettings` and read by the span decoder."""

from __future__ import annotations

import dataclasses

import gin

from xstilts_jax.errors import ConfigError


@gin.configurable("span_decoding")
@dataclasses.dataclass(frozen=True)
class SpanDecoding:
    """How spans are decoded: start/end tokens kept per window, the longest answer in tokens, and
    the no-answer margin for SQuAD 2.0-style data (Hugging Face / XTREME defaults).

    gin name `span_decoding` (e.g. `span_decoding.n_best_size = 10`); bindings apply when a run's
    `EvalSettings` is built, which holds one of these."""

    n_best_size: int = 20
    max_answer_length: int = 30
    null_score_diff_threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.n_best_size < 1 or self.max_answer_length < 1:
            raise ConfigError(
                "span_decoding: n_best_size and max_answer_length must be >= 1, "
                f"got {self.n_best_size} and {self.max_answer_length}."
            )
