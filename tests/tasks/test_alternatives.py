"""The paper's two alternatives to X-STILTs as grid intermediates: MNLI mixed with MLM on the target
languages, and MNLI with its machine translations (translate-train)."""

from __future__ import annotations

from pathlib import Path

import gin
import pytest
import seqio
from corpus_fixtures import sample_documents, write_cc100
from tfds_mocks import mock_tfds

from tasks import vocabulary
from tasks.sources import XNLI_LANGS, translated
from xstilts_jax.data.batches import BatchSpec, host_batches
from xstilts_jax.data.layouts import layout_groups
from xstilts_jax.data.sampling import language_rates
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.experiments.mixtures import register_mixtures
from xstilts_jax.tools.grid_cli import load_cells
from xstilts_jax.training.trainer import heads_of

pytestmark = pytest.mark.usefixtures("catalog_env")
GRID = "gin/experiments/alternatives.gin"
ALTERNATIVES = [None, "mnli", "intermediate.mnli_mlm", "intermediate.mnli_translate_train"]


def test_the_grid_runs_xstilts_beside_both_alternatives(tmp_path: Path) -> None:
    cells = load_cells([GRID])
    assert sorted({c.intermediate or "" for c in cells}) == sorted(i or "" for i in ALTERNATIVES)
    assert len(cells) == 4 * 7 * 3  # intermediates x targets x seeds, one model
    # MLM on the XNLI languages: a CC-100 file per language, a share of n^0.3 within MLM's half of the steps
    counts = {lang: 5 + 10 * i for i, lang in enumerate(XNLI_LANGS)}
    file_lang = {lang: "zh-Hans" if lang == "zh" else lang for lang in XNLI_LANGS}
    corpus = write_cc100(tmp_path / "cc100", {file_lang[lang]: sample_documents(n) for lang, n in counts.items()})
    gin.bind_parameter("cc100.validation_every", 1000)
    assert gin.query_parameter("cc100.directory") == str(corpus)
    register_mixtures()
    groups = {g.layout: g for g in layout_groups("intermediate.mnli_mlm")}
    assert {k: g.weight for k, g in groups.items()} == {"class": 0.5, "tokens": 0.5}
    mlm_share = seqio.get_mixture_or_task(groups["tokens"].name)
    rates = {t.name: mlm_share.get_rate(t) for t in mlm_share.tasks}
    expected = language_rates({f"cc100.{'zh_Hans' if k == 'zh' else k}": n for k, n in counts.items()}, 0.3)
    assert rates == pytest.approx(expected)  # n^0.3 shares of the MLM group (itself half of the steps)
    assert set(heads_of("intermediate.mnli_mlm")) == {"mlm", "nli"}  # each batch routes to its head
    v = vocabulary.MODEL_VOCABULARY
    batch = next(host_batches(BatchSpec(groups["tokens"].name, "train", length=32, batch_size=4), v.pad_id, v.pad_id + 1))
    assert (batch["token_type_ids"] == 0).all() and (batch["labels"] >= 0).any() and (batch["input_ids"] != v.pad_id).all()


def test_translate_train_reads_xtremes_translations_per_language() -> None:
    members = [t.name for t in seqio.get_mixture_or_task("intermediate.mnli_translate_train").tasks]
    assert sorted(members) == sorted(["mnli", *(f"mnli_translated.{lang}" for lang in translated.MNLI_TRANSLATED_LANGS)])
    record = get_task_record("mnli_translated.de")
    assert (record.head, record.role, record.language) == ("nli", "train", "de")
    assert {get_task_record(f"squad_translated.{lang}").head for lang in translated.SQUAD_TRANSLATED_LANGS} == {"squad"}
    raw = [
        {
            "premise": {lg: f"premise {i} in {lg}" for lg in XNLI_LANGS},
            "hypothesis": {lg: f"hypothesis {i} in {lg}" for lg in XNLI_LANGS if i == 0 or lg != "de"},
            "label": label,
        }
        for i, label in enumerate(["contradiction", "entailment"])
    ]
    spec = translated.mnli_translated("de")
    with mock_tfds({"train": raw}):
        rows = list(spec.canonicalize(spec.source.get_dataset("train", shuffle=False)).as_numpy_iterator())
    # the second pair has no German hypothesis: dropped, not paired with an empty text
    assert [(r["text_a"].decode(), r["text_b"].decode(), int(r["label"])) for r in rows] == [
        ("premise 0 in de", "hypothesis 0 in de", 2)
    ]
    assert list(spec.splits) == ["train"]
