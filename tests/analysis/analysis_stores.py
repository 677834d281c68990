"""Synthetic results stores for the analysis tests, written through the ResultsStore API."""

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from xstilts_jax.experiments.results.records import RunInfo
from xstilts_jax.experiments.results.store import ResultsStore
from xstilts_jax.experiments.targets import BASELINE

SIZES = {"xlmr_base": 278_043_648, "xlmr_large": 559_890_432, "xlmr_xl": 3_500_000_000, "xlmr_xxl": 10_700_000_000}
LANGS = ("en", "de", "sw", "ur")


def write_store(
    path,
    gain: Callable[[float], float],
    *,
    sizes: Mapping[str, int] = SIZES,
    seeds: Sequence[int | None] = (0, 1, 2),
    noise: float = 0.3,
    task: str = "xnli",
    metric: str = "accuracy",
    langs: Sequence[str] = LANGS,
    intermediate: str = "mnli",
    rng_seed: int = 0,
) -> None:
    """Baseline and intermediate runs whose per-language gain is ``gain(log10 params)`` plus noise."""
    rng = np.random.default_rng(rng_seed)
    with ResultsStore(path) as store:
        for model, params in sizes.items():
            x = float(np.log10(params))
            for seed in seeds:
                base = {lang: 50.0 + 2.0 * x + 3.0 * k + rng.normal(0, noise) for k, lang in enumerate(langs)}
                for name, delta in ((BASELINE, 0.0), (intermediate, gain(x))):
                    run_id = f"{model}/{name}/{task}/s{seed}"
                    store.record_run(RunInfo(run_id, model, params, task, name, seed))
                    scores = {
                        lang: {metric: base[lang] + delta + (rng.normal(0, noise) if delta else 0.0)} for lang in langs
                    }
                    store.record_scores(run_id, "eval", task, "validation", scores)
