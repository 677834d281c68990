"""A synthetic results database with a known answer, for trying the analysis and for the README plot.

``python -m xstilts_jax.analysis.example OUT_DIR`` writes ``OUT_DIR/example.sqlite`` with made-up
XNLI and PAN-X scores at four ladder sizes, three seeds, a baseline and two intermediate tasks
(every run id starts with ``synthetic/``), imports the shipped published reference rows, and runs the
analysis into ``OUT_DIR/report/``. The truth it encodes: the MNLI gain on XNLI shrinks by 1.5 points
per decade of parameters (*diminishing*), the SQuAD gain is a constant 1 point, and the PAN-X gains
grow by 1 point per decade (*growing*); low-resource languages gain more. With four sizes the trend
test has 2 df; at generator seed 0 the flat SQuAD gain on XNLI is called *growing* (Holm-adjusted p
0.033): one of the false verdicts the 5% level allows.

With ``--alternatives`` it adds the paper's two alternatives to X-STILTs on XNLI
(``gin/experiments/alternatives.gin``): MNLI mixed with MLM (``intermediate.mnli_mlm``), 0.5 points above
MNLI at every size, and MNLI translate-train (``intermediate.mnli_translate_train``), whose lead over MNLI
grows by 1 point per decade (2 points at 1e9 parameters).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from xstilts_jax.analysis import languages as lang_table
from xstilts_jax.experiments.results.records import RunInfo
from xstilts_jax.experiments.results.store import ResultsStore
from xstilts_jax.experiments.targets import BASELINE
from xstilts_jax.models.ladder import PUBLISHED_PARAMS

SIZES: Mapping[str, int] = {name: PUBLISHED_PARAMS[name] for name in ("xlmr_base", "xlmr_large", "xlmr_xl", "xlmr_xxl")}
SEEDS = (0, 1, 2)
# Gain in points as a function of log10(parameters), per (target, intermediate).
GainFn = Callable[[float], float]
TRUTH: Mapping[tuple[str, str], GainFn] = {
    ("xnli", "mnli"): lambda x: 16.0 - 1.5 * x,
    ("xnli", "squad"): lambda x: 1.0,
    ("panx", "mnli"): lambda x: -8.0 + 1.0 * x,
    ("panx", "squad"): lambda x: -9.0 + 1.0 * x,
}
ALTERNATIVES: Mapping[tuple[str, str], GainFn] = {
    ("xnli", "intermediate.mnli_mlm"): lambda x: TRUTH[("xnli", "mnli")](x) + 0.5,
    ("xnli", "intermediate.mnli_translate_train"): lambda x: TRUTH[("xnli", "mnli")](x) + 2.0 + (x - 9.0),
}
TASKS: Mapping[str, tuple[str, Sequence[str]]] = {
    "xnli": ("accuracy", ("en", "de", "ar", "hi", "sw", "ur", "zh")),
    "panx": ("f1", ("en", "de", "ja", "ta", "yo", "my", "qu")),
}


def write_example_db(path: str | Path, noise: float = 0.4, seed: int = 0, alternatives: bool = False) -> Path:
    """Write the synthetic database (see the module docstring) to ``path``; returns it."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    truth = {**TRUTH, **(ALTERNATIVES if alternatives else {})}
    with ResultsStore(path) as store:
        for target, (metric, langs) in TASKS.items():
            intermediates = [BASELINE] + sorted({i for t, i in truth if t == target})
            for model, params in SIZES.items():
                x = float(np.log10(params))
                for run_seed in SEEDS:
                    # The baseline improves with size; languages of lower resource class start lower.
                    base = {
                        lang: 35.0 + 3.0 * x + 2.0 * (lang_table.language(lang).resource_class or 0)
                        + rng.normal(0, noise)
                        for lang in langs
                    }
                    for intermediate in intermediates:
                        run_id = f"synthetic/{model}/seed{run_seed}/{intermediate}/{target}"
                        store.record_run(
                            RunInfo(run_id, model, params, target, intermediate, run_seed, gin_config="synthetic example")
                        )
                        gain = 0.0 if intermediate == BASELINE else truth[(target, intermediate)](x)
                        scores = {
                            lang: {
                                metric: base[lang] + gain * (1.5 - 0.1 * (lang_table.language(lang).resource_class or 0))
                                + (0.0 if intermediate == BASELINE else rng.normal(0, noise))
                            }
                            for lang in langs
                        }
                        store.record_scores(run_id, "eval", target, "validation", scores)
        store.import_csv(published_csv())
    return path


def published_csv() -> Path:
    """The shipped published reference rows (X-STILTs vs XLM-R Large, Phang et al. 2020)."""
    return Path(__file__).parent / "published" / "phang2020_xstilts_xlmr_large.csv"


def main(argv: Sequence[str]) -> int:
    """Write the example database into ``argv[0]`` (with the alternatives when ``--alternatives`` is given) and analyze it."""
    from xstilts_jax.analysis.run import run_analysis

    alternatives = "--alternatives" in argv
    argv = [a for a in argv if a != "--alternatives"]
    if len(argv) != 1:
        print("usage: python -m xstilts_jax.analysis.example OUT_DIR [--alternatives]", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    db = out / "example.sqlite"
    if db.exists():
        db.unlink()
    write_example_db(db, alternatives=alternatives)
    report = run_analysis(db, out / "report")
    print(f"example database: {db}\nreport: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
