"""The paper's two alternatives to X-STILTs in the analysis: each intermediate's method (one record per method,
`analysis/methods.py`), shown as a column and compared with X-STILTs on the task it builds on."""

import re

import gin
import numpy as np
import pytest
import seqio

from xstilts_jax.analysis import methods
from xstilts_jax.analysis.cli import verdict_summary
from xstilts_jax.analysis.collect import collect
from xstilts_jax.analysis.gains import analyze
from xstilts_jax.cli import main as cli
from xstilts_jax.experiments.results.records import RunInfo
from xstilts_jax.experiments.results.store import ResultsStore
from xstilts_jax.experiments.targets import BASELINE

SIZES = {"xlmr_base": 278_043_648, "xlmr_large": 559_890_432, "xlmr_xl": 3_500_000_000}
LANGS = ("en", "de", "sw", "ur")
# gain over the baseline (points) at log10(parameters) x: MLM continued is mnli + 1 at every size, translate-train's
# advantage over mnli grows by one point per decade; squad translate-train has no X-STILTs squad runs
GAINS = {
    "mnli": lambda x: 2.0,
    "intermediate.mnli_mlm": lambda x: 3.0,
    "intermediate.mnli_translate_train": lambda x: 2.0 + (x - 9.0),
    "intermediate.squad_translate_train": lambda x: 0.5,
}
SEED_NOISE = {0: 0.2, 1: -0.2}  # on the alternatives only: the per-size means stay exact


def write_grid(path) -> None:
    """A grid's results: three sizes × two seeds × baseline, X-STILTs mnli and its two alternatives, on XNLI."""
    with ResultsStore(path) as store:
        for model, params in SIZES.items():
            x = float(np.log10(params))
            for seed in SEED_NOISE:
                for intermediate, gain in {BASELINE: lambda x: 0.0, **GAINS}.items():
                    noise = SEED_NOISE[seed] if methods.method_of(intermediate)[0] != methods.XSTILTS else 0.0
                    run_id = f"{model}/seed{seed}/{intermediate}/xnli"
                    store.record_run(RunInfo(run_id, model, params, "xnli", intermediate, seed))
                    scores = {lang: {"accuracy": 60.0 + 2 * x + k + seed + gain(x) + noise} for k, lang in enumerate(LANGS)}
                    store.record_scores(run_id, "eval", "xnli", "validation", scores)


def test_each_intermediate_has_one_method_and_the_task_it_builds_on():
    assert {name: (methods.label(name), methods.method_of(name)[1]) for name in [*GAINS, "intermediate.siqa_csqa", "_mlm"]} == {
        "mnli": ("X-STILTs", "mnli"),
        "intermediate.mnli_mlm": ("MLM continued", "mnli"),
        "intermediate.mnli_translate_train": ("translate-train", "mnli"),
        "intermediate.squad_translate_train": ("translate-train", "squad"),
        "intermediate.siqa_csqa": ("X-STILTs", "intermediate.siqa_csqa"),  # a multi-task mixture is X-STILTs
        "_mlm": ("X-STILTs", "_mlm"),
    }
    assert sorted(["intermediate.mnli_translate_train", "squad", "intermediate.mnli_mlm", "mnli"], key=methods.sort_key) == [
        "mnli", "intermediate.mnli_mlm", "intermediate.mnli_translate_train", "squad"]


@pytest.mark.usefixtures("catalog_env")
def test_the_catalog_and_alternatives_gin_name_each_alternative_after_a_task_it_trains():
    """The method records read names; the mixtures that carry those names train the task they are compared with."""
    from xstilts_jax.tools.grid_cli import load_cells

    cells = load_cells(["gin/experiments/alternatives.gin"])
    assert {methods.label(c.intermediate) for c in cells if c.intermediate} == {m.label for m in methods.METHODS}
    mixtures = {name: list(members) for name, members in gin.query_parameter("register_mixtures.mixtures").items()}
    mixtures |= {name: [t.name for t in seqio.MixtureRegistry.get(name).tasks] for name in seqio.MixtureRegistry.names()
                 if name.startswith(methods.MIXTURE_PREFIX)}
    alternatives = {name: members for name, members in mixtures.items() if methods.method_of(name)[0] != methods.XSTILTS}
    assert {"intermediate.mnli_mlm", "intermediate.mnli_translate_train", "intermediate.squad_translate_train"} <= set(alternatives)
    for name, members in alternatives.items():
        assert methods.method_of(name)[1] in members, name


def test_analysis_labels_methods_and_compares_each_alternative_with_xstilts(tmp_path, capsys):
    write_grid(tmp_path / "r.sqlite")
    with ResultsStore(tmp_path / "r.sqlite") as store:
        analysis = analyze(collect(store))
    differences = {(c.intermediate, c.model): c.stats for c in analysis.comparisons}
    assert set(differences) == {(alt, model) for alt in list(GAINS)[1:3] for model in SIZES}  # squad: nothing to compare with
    for model, params in SIZES.items():
        mlm, tt = differences[("intermediate.mnli_mlm", model)], differences[("intermediate.mnli_translate_train", model)]
        assert mlm.paired and mlm.gain.mean == pytest.approx(1.0) and mlm.gain.low < 1.0 < mlm.gain.high
        assert tt.gain.mean == pytest.approx(np.log10(params) - 9.0)
    assert any("intermediate.squad_translate_train (translate-train) has no X-STILTs runs of squad" in n for n in analysis.notes)
    (trend,) = [t for t in analysis.comparison_trends if t.intermediate == "intermediate.mnli_translate_train"]
    assert trend.slope.estimate.mean == pytest.approx(1.0)

    assert cli(["analyze", "--db", str(tmp_path / "r.sqlite"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^measure\s+intermediate\s+method\s+source\s+slope", out, re.M)
    assert re.search(r"^xnli\s+intermediate\.mnli_mlm\s+MLM continued\s+ours\s+", out, re.M)
    assert "X-STILTs and its alternatives, per model size:" in out
    assert re.search(r"^xnli\s+mnli\s+MLM continued\s+intermediate\.mnli_mlm\s+ours\s+xlmr_xl\s+\+3\.00 \[.*\]\s+\+1\.00 \[", out, re.M)
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    # the method column in the verdict and gains tables, each alternative next to the X-STILTs task it builds on
    assert "| measure | intermediate | method | source | sizes |" in summary
    gains = re.findall(r"^\| xnli \| (\S+) \| ([^|]+) \| ours \| xlmr_base \| 278,043,648 \|", summary, re.M)
    assert gains == [("mnli", "X-STILTs"), ("intermediate.mnli_mlm", "MLM continued"),
                     ("intermediate.mnli_translate_train", "translate-train"), ("intermediate.squad_translate_train", "translate-train")]
    # the comparison: per size, X-STILTs' gain, then each alternative's gain and its difference from X-STILTs
    assert "### X-STILTs and its alternatives, per model size" in summary
    rows = re.findall(r"^\| xnli \| mnli \| ([^|]+) \| (\S+) \| ours \| xlmr_large \| [\d,]+ \| ([^|]+) \| ([^|]+) \|", summary, re.M)
    assert [(m.strip(), i, g.split()[0], d.split()[0]) for m, i, g, d in rows] == [
        ("X-STILTs", "mnli", "+2.00", "-"),
        ("MLM continued", "intermediate.mnli_mlm", "+3.00", "+1.00"),
        ("translate-train", "intermediate.mnli_translate_train", f"{2.0 + np.log10(559_890_432) - 9:+.2f}", f"{np.log10(559_890_432) - 9:+.2f}"),
    ]
    assert "### Alternatives vs X-STILTs across model sizes" in summary
    assert re.search(r"^\| xnli \| mnli \| translate-train \| intermediate.mnli_translate_train \| ours \| xlmr_base, xlmr_large, xlmr_xl "
                     r"\|.*\| \+1\.00 \[", summary, re.M)
    assert "<h2>X-STILTs and its alternatives</h2>" in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")


def test_without_alternatives_the_printed_verdicts_keep_their_columns(tmp_path):
    """Only a database with an alternative adds the method column to the printout (the report always has it)."""
    from analysis_stores import write_store

    write_store(tmp_path / "r.sqlite", lambda x: 1.0, seeds=(0, 1))
    with ResultsStore(tmp_path / "r.sqlite") as store:
        printed = verdict_summary(analyze(collect(store)).trends)
    assert re.match(r"measure\s+intermediate\s+source\s+slope", printed)


def test_the_example_with_alternatives_recovers_their_known_differences(tmp_path):
    from xstilts_jax.analysis.example import SIZES as EXAMPLE_SIZES
    from xstilts_jax.analysis.example import TASKS, write_example_db
    from xstilts_jax.analysis.languages import language

    with ResultsStore(write_example_db(tmp_path / "e.sqlite", alternatives=True)) as store:
        analysis = analyze(collect(store))
    xnli = {(c.intermediate, c.model): c.stats.gain for c in analysis.comparisons if c.measure == "xnli"}
    assert len(xnli) == 2 * len(EXAMPLE_SIZES)
    # example.py scales a gain by 1.5 - 0.1 × the language's resource class
    scale = np.mean([1.5 - 0.1 * (language(lang).resource_class or 0) for lang in TASKS["xnli"][1]])
    for model, params in EXAMPLE_SIZES.items():
        x = np.log10(params)
        assert xnli[("intermediate.mnli_mlm", model)].mean == pytest.approx(0.5 * scale, abs=0.5)
        assert xnli[("intermediate.mnli_translate_train", model)].mean == pytest.approx((2.0 + x - 9.0) * scale, abs=0.5)
    (trend,) = [t for t in analysis.comparison_trends if t.measure == "xnli" and t.intermediate == "intermediate.mnli_translate_train"]
    assert trend.slope.estimate.low > 0  # the lead over MNLI grows with size
