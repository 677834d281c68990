"""Language sampling with exponent α (XLM-R, Conneau et al. 2020; mT5 uses α = 0.3 too).

With n_l examples in language l, the corpus share is p_l = n_l / Σ n and the sampling rate is
q_l = p_l^α / Σ p^α, i.e. q_l ∝ n_l^α: α = 1 samples as the data lies, α = 0 uniformly, and
α = 0.3 lifts low-resource languages. seqio's `mixing_rate_num_examples(temperature=1/α)` gives
the same rates; the table here is what a pretraining phase prints when it starts.
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import seqio

from xstilts_jax.errors import ConfigError


def language_rates(counts: Mapping[str, int], alpha: float) -> dict[str, float]:
    """Normalized sampling rates q_l ∝ n_l^α of `counts` (language or task → examples)."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"language sampling: alpha must lie in [0, 1] (XLM-R uses 0.3), got {alpha!r}.")
    empty = sorted(k for k, n in counts.items() if not n or n < 0)
    if empty:
        raise ConfigError(f"language sampling: no examples counted for {empty}; drop them from the mixture or supply data.")
    if not counts:
        raise ConfigError("language sampling: the mixture has no languages.")
    weights = {k: float(n) ** alpha for k, n in counts.items()}
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items()}


def alpha_rate(alpha: float, split: str = "train") -> Callable[[seqio.Task], float]:
    """A seqio mixing rate n^α of each task's `split` examples (`seqio.Mixture` normalizes the rates)."""
    language_rates({"check": 1}, alpha)  # validates alpha

    def rate(task: seqio.Task) -> float:
        n = task.num_input_examples(split)
        if not n:
            raise ConfigError(
                f"language sampling: task {task.name!r} does not know its {split!r} examples, so it has no rate n^alpha; "
                "give its source example counts (TFDS metadata, a file index) or use an 'equal' mixture."
            )
        return float(n) ** alpha

    return rate


def parse_alpha(rate: str) -> float | None:
    """α of a rate named 'alpha:A', else None."""
    kind, _, arg = rate.partition(":")
    if kind != "alpha":
        return None
    try:
        return float(arg)
    except ValueError:
        raise ConfigError(f"Mixing rate {rate!r}: write 'alpha:A' with a number A in [0, 1], e.g. 'alpha:0.3'.") from None


def rate_table(mixture: seqio.Mixture, split: str = "train") -> str:
    """A mixture's tasks with their examples, corpus share and sampling rate, largest rate first."""
    tasks = mixture.tasks
    counts = {t.name: t.num_input_examples(split) for t in tasks}
    rates = {t.name: mixture.get_rate(t) for t in tasks}
    total_rate = sum(rates.values())
    known = sum(n for n in counts.values() if n)
    width = max(len(name) for name in rates)
    lines = [f"sampling rates of {mixture.name} ({split}):", f"{'task':<{width}}  {'examples':>12}  {'share':>7}  {'rate':>7}"]
    for name in sorted(rates, key=lambda n: -rates[n]):
        n = counts[name]
        share = f"{100 * n / known:6.2f}%" if n and known else "      ?"
        lines.append(f"{name:<{width}}  {n if n is not None else '?':>12}  {share}  {100 * rates[name] / total_rate:6.2f}%")
    return "\n".join(lines)


def print_rate_table(task_or_mixture: str) -> None:
    """Print `rate_table` of a mixture (on the first host); a single task prints nothing."""
    provider = seqio.get_mixture_or_task(task_or_mixture)
    if isinstance(provider, seqio.Mixture) and jax.process_index() == 0:
        print(rate_table(provider), flush=True)
