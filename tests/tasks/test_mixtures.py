"""Example counts of file-based sources, proportional mixtures that include them, ANLI+ as one
source, CCG through a data directory bound in gin after import, and TyDiQA's English count.

Fixtures are written by each test: jiant's CCG files (`ccg/ccg.{train,dev,test}`,
`ccg/tags_to_id.json`) and xtreme's UD-POS TSVs (`udpos/{train,dev}-en.tsv`).
"""

from __future__ import annotations

import collections
import json
import pathlib

import gin
import pytest
import seqio
import tensorflow as tf

import tasks  # noqa: F401  (registers the catalog)
from tasks import catalog, registry, sources, vocabulary
from tasks.sources.common import PAIR, SourceSpec, canonical
from tasks.sources.files import CountedSource
from xstilts_jax.data.layouts import layout_groups
from xstilts_jax.data.task_records import get_task_record, head_id
from xstilts_jax.errors import ConfigError

CCG_TAGS = {"NP[nb]/N": "0", "N": "1", "(S[dcl]\\NP)/NP": "2", ".": "3"}
CCG_LINE = "The cat saw dogs .\tNP[nb]/N N (S[dcl]\\NP)/NP N .\n"
UDPOS_SENTENCE = "The\tDET\ncat\tNOUN\nsleeps\tVERB\n.\tPUNCT\n\n"


def _write_data(root: pathlib.Path, ccg_train: int, udpos_train: int) -> pathlib.Path:
    (root / "ccg").mkdir(parents=True)
    (root / "ccg" / "tags_to_id.json").write_text(json.dumps(CCG_TAGS))
    (root / "ccg" / "ccg.train").write_text(CCG_LINE * ccg_train)
    for split in ("dev", "test"):
        (root / "ccg" / f"ccg.{split}").write_text(CCG_LINE)
    (root / "udpos").mkdir()
    (root / "udpos" / "train-en.tsv").write_text(UDPOS_SENTENCE * udpos_train)
    (root / "udpos" / "dev-en.tsv").write_text(UDPOS_SENTENCE)
    return root


@pytest.fixture
def gin_data_dir(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, spm_dir) -> pathlib.Path:
    """Data bound as the error messages recommend: gin `data_dir.path`, after the catalog was imported."""
    monkeypatch.delenv(sources.ENV_DATA_DIR, raising=False)
    monkeypatch.setenv("XSTILTS_VOCAB_DIR", str(spm_dir))
    vocabulary.reset()
    root = _write_data(tmp_path / "download", ccg_train=4, udpos_train=12)
    gin.bind_parameter("data_dir.path", str(root))
    yield root
    vocabulary.reset()


def test_ccg_registered_at_import_reads_the_gin_bound_data_dir(gin_data_dir: pathlib.Path) -> None:
    record = get_task_record("ccg")
    assert record.label_names == ("NP[nb]/N", "N", "(S[dcl]\\NP)/NP", ".") and record.spec.num_labels == 4
    assert "ccg" not in tasks.UNAVAILABLE
    # file sources count what their reader yields, per split
    assert seqio.get_mixture_or_task("ccg").num_input_examples("train") == 4
    assert seqio.get_mixture_or_task("udpos").num_input_examples("train") == 12
    assert seqio.get_mixture_or_task("udpos").num_input_examples("validation") == 1


def test_proportional_mixture_with_file_tasks_samples_by_example_count(gin_data_dir: pathlib.Path) -> None:
    name = "test_mixtures.ccg_udpos"
    mixture = registry.register_mixture(name, ["ccg", "udpos"], rate="proportional")
    try:
        assert [mixture.get_rate(t) for t in mixture.tasks] == [4.0, 12.0]
        ds = mixture.get_dataset(
            {"inputs": 32}, split="train", shuffle=True, seed=7, num_epochs=None, passthrough_features=["head_id"]
        )
        heads = collections.Counter(int(ex["head_id"]) for ex in ds.take(300).as_numpy_iterator())
    finally:
        seqio.MixtureRegistry.remove(name)
    assert sum(heads.values()) == 300
    assert heads[head_id("ccg")] / 300 == pytest.approx(4 / 16, abs=0.07)


def test_xstilts9_refuses_without_ccg_naming_the_missing_file(tmp_path: pathlib.Path, monkeypatch) -> None:
    monkeypatch.delenv(sources.ENV_DATA_DIR, raising=False)
    gin.bind_parameter("data_dir.path", str(tmp_path))  # a data dir without ccg/
    with pytest.raises(ConfigError) as e:
        layout_groups("intermediate.xstilts9")
    message = str(e.value)
    assert "\n" not in message
    assert str(tmp_path / "ccg" / "tags_to_id.json") in message and "LDC2005T13" in message
    assert "ccg" in tasks.UNAVAILABLE


def _pair_spec(rows: list[tuple[str, str, int]], name: str) -> SourceSpec:
    def read(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
        a, b, label = zip(*rows)
        return tf.data.Dataset.from_tensor_slices({"premise": list(a), "hypothesis": list(b), "label": list(label)})

    source = CountedSource(seqio.FunctionDataSource(read, splits=("train", "validation")))
    to_pair = canonical(lambda ex: {"text_a": ex["premise"], "text_b": ex["hypothesis"], "label": ex["label"]}, 3)
    return SourceSpec(source, to_pair, PAIR, sources.NLI_LABELS, {"train": "train", "validation": "validation"},
                      name, "CC BY 4.0", "test rows")


def test_concatenated_source_is_one_source_of_all_parts() -> None:
    anli = _pair_spec([("p1", "h1", 0), ("p2", "h2", 2), ("p3", "h3", -1)], "anli")  # -1: no gold label
    mnli = _pair_spec([("q1", "g1", 1)], "mnli")
    both = sources.concatenated([anli, mnli], "ANLI+")
    assert both.source.num_input_examples("train") == 4  # raw rows, as each part counts them
    rows = list(both.canonicalize(both.source.get_dataset("train", shuffle=False)).as_numpy_iterator())
    assert [(r["idx"], r["text_a"], r["label"]) for r in rows] == [(0, b"p1", 0), (1, b"p2", 2), (2, b"q1", 1)]
    shuffled = both.canonicalize(both.source.get_dataset("train", shuffle=True, seed=3))
    assert sorted(r["text_a"] for r in shuffled.as_numpy_iterator()) == [b"p1", b"p2", b"q1"]
    tagged = SourceSpec(**{**mnli.__dict__, "schema": "tags"})
    with pytest.raises(ConfigError, match="ANLI\\+: \\['mnli'\\] differ from anli"):
        sources.concatenated([anli, tagged], "ANLI+")
    assert catalog.INTERMEDIATE["anli_plus"].head == "nli"


def test_tydiqa_english_train_counts_only_english_rows() -> None:
    from tfds_mocks import mock_tfds

    def row(id_: str) -> dict:
        return {"id": id_, "title": "t", "context": "ab", "question": "q?", "answers": {"text": ["a"], "answer_start": [0]}}

    train = [row("english-1"), row("arabic-1"), row("english-2"), row("korean-1"), row("arabic-2")]
    with mock_tfds({"train": train, "validation-en": [row("english-9")]}):
        source = sources.tydiqa_train().source
        assert source.num_input_examples("train") == 2  # not the 5 rows of the multilingual split
        assert source.num_input_examples("validation") == 1


def test_intermediate_mixtures_sample_tasks_in_proportion_to_their_training_examples(gin_data_dir: pathlib.Path) -> None:
    # jiant's ProportionalMultiTaskSampler (what its X-STILTs guide's runscript uses without an examples cap):
    # p(task) = n_task / sum of n. seqio normalizes the rates, so each rate must be the task's own train count.
    ccg = seqio.get_mixture_or_task("ccg")
    (gin_data_dir / "udpos" / "train-en.tsv").write_text(UDPOS_SENTENCE * 30)
    assert registry.INTERMEDIATE_MIXING_RATE == "proportional"
    for name in ("intermediate.xstilts9", "intermediate.xstilts9_siqa", "intermediate.all"):
        mixture = seqio.get_mixture_or_task(name)
        assert mixture.get_rate(ccg) == ccg.num_input_examples("train") == 4.0  # not capped, no temperature
    probe = registry.register_mixture("probe_intermediate_rate", ["ccg", "udpos"], rate=registry.INTERMEDIATE_MIXING_RATE)
    try:
        rates = [probe.get_rate(t) for t in probe.tasks]
        assert [r / sum(rates) for r in rates] == [4 / 34, 30 / 34]
    finally:
        seqio.MixtureRegistry.remove("probe_intermediate_rate")
