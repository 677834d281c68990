"""run_analysis and `xstilts-jax analyze`: the report, its figures, one model size, several sizes."""

import re

from analysis_stores import write_store

from xstilts_jax.analysis import run_analysis
from xstilts_jax.cli import main as cli
from xstilts_jax.experiments.results.records import RunInfo
from xstilts_jax.experiments.results.store import ResultsStore
from xstilts_jax.experiments.targets import BASELINE


def _demo_like_store(path):
    """One tiny model: baseline + an intermediate task + a mixture, three targets, one seed."""
    with ResultsStore(path) as store:
        for t, (target, metric) in enumerate((("udpos", "f1"), ("panx", "f1"), ("xnli", "accuracy"))):
            for i, intermediate in enumerate((BASELINE, "socialiqa", "demo_mixture")):
                run_id = f"runs/demo/tiny/seed0/{intermediate}/{target}"
                store.record_run(RunInfo(run_id, "tiny", 143_616, target, intermediate, 0))
                scores = {lang: {metric: 20.0 + 3 * i + k + t} for k, lang in enumerate(("en", "de", "ar", "zh"))}
                store.record_scores(run_id, "eval", target, "validation", scores)


def test_one_model_size_says_slopes_need_two_and_still_draws_gains(tmp_path):
    _demo_like_store(tmp_path / "r.sqlite")
    report = run_analysis(tmp_path / "r.sqlite", tmp_path / "out")
    assert report == tmp_path / "out" / "report.html"
    text = report.read_text(encoding="utf-8")
    assert "needs ≥ 2 model sizes" in text and "Only one model size" in text
    # Self-contained: every image is embedded, nothing is fetched.
    assert re.findall(r'src="([^"]{0,22})', text) and all(
        src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]*)"', text)
    )
    assert "http://" not in text and "https://" not in text.replace("https://microsoft.github.io", "")
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert "gain_udpos.png" in pngs and "heatmap_ours_tiny.png" in pngs
    assert "languages_ours_panx_demo_mixture.png" in pngs
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    # The mixture's PAN-X gain: 6 points in every language (20 + 3·2 + k + 1 vs 20 + k + 1).
    assert re.search(r"\| panx \| demo_mixture \| X-STILTs \| ours \| tiny \|.*\| \+6\.00 \|", summary)


def test_cli_prints_verdicts_and_where_the_report_is(tmp_path, capsys):
    write_store(tmp_path / "r.sqlite", lambda x: 14.0 - 1.2 * x, seeds=(0, 1))
    assert cli(["analyze", "--db", str(tmp_path / "r.sqlite"), "--out", str(tmp_path / "out"), "--power", "-1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^xnli\s+mnli\s+ours\s+.*diminishing\s+-\s+insufficient data \(needs ≥ 2 sizes at or past 3e\+10", out, re.MULTILINE)
    assert f"report: {tmp_path / 'out' / 'report.html'}" in out
    assert "Power: seeds per size for 80% power at -1 points/decade past 3e+10" in out
    power = (tmp_path / "out" / "power.csv").read_text(encoding="utf-8").splitlines()
    assert power[0] == "measure,intermediate,source,sizes,seed_variance,size_variance,seeds_per_size,effect"
    assert any(line.startswith("xnli,mnli,ours,") and line.endswith(",-1.0") for line in power[1:])
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "slope past breakpoint" in html and "no test past the breakpoint" in html


def test_missing_database_is_a_clear_error(tmp_path, capsys):
    assert cli(["analyze", "--db", str(tmp_path / "none.sqlite"), "--out", str(tmp_path / "out")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_measures_on_a_language_subset_are_flagged_in_tables_and_warnings(tmp_path):
    """The demo's four languages per task are a subset of the official lists: every table row and the
    warnings say so (XTREME-R's lists for a task's own headline, each benchmark's own for its categories)."""
    _demo_like_store(tmp_path / "r.sqlite")
    run_analysis(tmp_path / "r.sqlite", tmp_path / "out")
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert re.search(r"^\| udpos \| socialiqa \| X-STILTs \| ours \| tiny \|.*\| udpos on 4 of 38 XTREME-R languages \|$", summary, re.M)
    assert re.search(r"^\| xnli \| socialiqa \| X-STILTs \| ours \| tiny \|.*\| xnli on 4 of 15 XTREME-R languages \|$", summary, re.M)
    tagging = "udpos on 4 of 33 XTREME languages; panx on 4 of 40 XTREME languages"
    assert re.search(rf"^\| xtreme:tagging \| socialiqa \| X-STILTs \|.*\| {tagging} \|$", summary, re.M)
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "<th>language subset</th>" in html
    assert "Language subset (ours runs): " in html and "panx on 4 of 48 XTREME-R languages" in html


def test_a_measure_on_every_official_language_is_not_flagged(tmp_path):
    from xstilts_jax.evaluation.aggregation import XTREME_R

    write_store(tmp_path / "r.sqlite", lambda x: 1.0, seeds=(0, 1), langs=XTREME_R.languages["xnli"])
    run_analysis(tmp_path / "r.sqlite", tmp_path / "out")
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "Language subset" not in summary
    assert re.search(r"^\| xnli \| mnli \| X-STILTs \| ours \| xlmr_base \|.*\| - \|$", summary, re.M)
