"""The registered catalog: naming, heads, mixtures, and a walk from source to model loss.

The walk runs registered tasks through `seqio.get_dataset` (TFDS mock data or the shipped
sample files), the feature converter, and the tiny model with the task's own head.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import gin
import jax.numpy as jnp
import numpy as np
import pytest
import seqio

import tasks
from tasks import catalog, registry, retrieval, sources, vocabulary
from tfds_mocks import mock_tfds, squad_json_examples
from tiny import catalog_model
from xstilts_jax.cli import main as cli
from xstilts_jax.data.feature_converters import PaddedEncoderFeatureConverter, PackedEncoderFeatureConverter
from xstilts_jax.data.label_kinds import LABEL_KINDS
from xstilts_jax.data.task_records import get_task_record, head_id, heads_for
from xstilts_jax.errors import ConfigError
from xstilts_jax.experiments.targets import get_target, registered_targets

pytestmark = pytest.mark.usefixtures("offline", "catalog_env")


def test_every_target_language_is_an_eval_task_with_the_target_head():
    for name, target in catalog.TARGETS.items():
        for lang in target.languages:
            task = seqio.get_mixture_or_task(f"{name}.{lang}")
            assert set(task.source.splits) <= {"validation", "test"}, task.name  # eval-only
            assert get_task_record(task.name).head == target.head
        members = {t.name for t in seqio.get_mixture_or_task(f"{name}.zeroshot").tasks}
        assert members == {target.train_task, *(f"{name}.{lang}" for lang in target.languages)}
        assert "train" in seqio.get_mixture_or_task(target.train_task).source.splits


def test_every_target_is_one_record_with_its_recipe():
    assert set(registered_targets()) == set(catalog.TARGETS) | set(retrieval.FAMILIES)
    xnli, xquad = get_target("xnli"), get_target("xquad")
    assert xnli.train_task == "mnli" and xnli.eval_tasks["de"] == "xnli.de" and xnli.best_metric == "eval/xnli.en/accuracy"
    assert (xnli.recipe.epochs, xnli.recipe.batch_size, xnli.recipe.learning_rate) == (2, 32, 1e-5)
    assert (xquad.recipe.epochs, xquad.recipe.batch_size, xquad.dev_tasks) == (2, 16, ("squad",))
    assert get_target("tatoeba").train_task is None and get_target("lareqa").train_task == "lareqa"
    # each eval task's record carries its language, role and scoring split (XQuAD has no dev set)
    de = get_task_record("xnli.de")
    assert (de.language, de.role, de.scoring_split) == ("de", "eval", "validation")
    assert get_task_record("xquad.de").scoring_split == "test" and get_task_record("mnli").role == "train"


def test_nli_tasks_share_one_head():
    assert {get_task_record(t).head for t in ["mnli", "snli", "anli_r1", "anli_r3", "xnli.sw"]} == {"nli"}
    assert heads_for(["mnli", "xnli.de", "hellaswag"]).keys() == {"nli", "hellaswag"}
    # ANLI+ is one task with one head, not a mixture of five
    assert isinstance(seqio.get_mixture_or_task("anli_plus"), seqio.Task) and get_task_record("anli_plus").head == "nli"


def test_intermediate_mixtures_are_the_papers_nine_tasks():
    def members(name: str) -> list[str]:
        return sorted(t.name for t in seqio.get_mixture_or_task(name).tasks)

    nine = ["anli_plus", "ccg", "commonsenseqa", "cosmosqa", "hellaswag", "mnli", "qqp", "squad", "squad_v2"]
    assert members("intermediate.xstilts9") == nine  # CCG included even without its data at import
    assert members("intermediate.xstilts9_siqa") == members("intermediate.all") == sorted([*nine, "socialiqa"])
    with pytest.raises(ConfigError, match=r"\['xnli.de'\] are eval-only tasks"):
        registry.register_intermediate_mixture("bad", ["mnli", "xnli.de"])
    with pytest.raises(ConfigError, match="unknown tasks \\['xnlii'\\]"):
        registry.register_mixture("bad2", ["xnlii"])


def test_mixing_rates():
    class FakeTask:
        cache_dir = None
        name = "fake"

        def __init__(self, n: int):
            self.n = n

        def num_input_examples(self, split: str) -> int:
            return self.n

    big, small = FakeTask(400_000), FakeTask(10_000)
    assert registry.mixing_rate("proportional")(big) == 400_000
    assert registry.mixing_rate("capped:65536")(big) == 65_536
    assert registry.mixing_rate("capped:65536")(small) == 10_000
    assert registry.mixing_rate("temperature:2")(big) == pytest.approx(400_000**0.5)
    assert registry.mixing_rate("equal")(big) == 1.0
    with pytest.raises(ConfigError, match="Unknown mixing rate 'sqrt'"):
        registry.mixing_rate("sqrt")


def test_ccg_is_registered_and_reported_unavailable_without_data(monkeypatch: pytest.MonkeyPatch):
    assert "ccg" not in tasks.UNAVAILABLE and get_task_record("ccg").spec.kind == "tagging"  # the shipped sample
    monkeypatch.delenv(sources.ENV_DATA_DIR)
    assert "ccg" in tasks.UNAVAILABLE and "LDC2005T13" in tasks.UNAVAILABLE["ccg"]
    assert "ccg" in seqio.TaskRegistry.names()  # registered all the same: gin may bind the data later
    with pytest.raises(ConfigError, match="ccg: No data directory"):
        get_task_record("ccg")


def test_tasks_command_lists_the_catalog(capsys: pytest.CaptureFixture[str]):
    assert cli(["tasks"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  xnli +head nli +classification/3 +train: mnli +eval \(15\): ar,bg,de,el,en,es,fr,hi,ru,sw,th,tr,ur,vi,zh$", out, re.M)
    assert re.search(r"^  ccg +head ccg +tagging/\d+ +train \(en\)$", out, re.M) and "xnli.zeroshot" in out


def test_readme_lists_the_catalog():
    """The README shows the current `xstilts-jax tasks` output and `python -m tasks` table.

    Computed in a fresh process, as a user gets them: tests in this process register extra tasks and
    mixtures (gin-declared mixtures, toy tasks), which the listing would otherwise include."""
    root = Path(__file__).resolve().parents[2]
    script = (
        "import tasks; from tasks.__main__ import sources_table; "
        "from xstilts_jax.tools.list_tasks import describe_tasks; "
        "print(sources_table()); print('@@listing@@'); print(describe_tasks(tasks.UNAVAILABLE))"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    readme = (root / "README.md").read_text()
    for listing in result.stdout.split("@@listing@@"):
        listing = listing.strip("\n")
        missing = [line for line in listing.splitlines() if line not in readme]
        assert listing in readme, f"README lacks the current listing; first differing lines: {missing[:5]}"


def test_unset_vocabulary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("XSTILTS_VOCAB_DIR")
    vocabulary.reset()
    with pytest.raises(ConfigError, match="XSTILTS_VOCAB_DIR"):
        seqio.get_mixture_or_task("udpos.de").get_dataset({"inputs": 32}, split="validation", shuffle=False)


# --- source -> seqio -> converter -> model -------------------------------------------------------

NLI_RAW = [
    {"premise": "A man plays a violin.", "hypothesis": "Someone makes music.", "label": "entailment"},
    {"premise": "It rains in the city.", "hypothesis": "The streets are dry.", "label": "contradiction"},
]
XNLI_RAW = [
    {
        "premise": {lg: f"premise {i} {lg} 東京 und Straße" for lg in sources.XNLI_LANGS},
        "hypothesis": {lg: f"hypothesis {i} {lg}" for lg in sources.XNLI_LANGS},
        "label": label,
    }
    for i, label in enumerate(["neutral", "entailment", "contradiction"])
]
HELLASWAG_RAW = [
    {
        "context": "A woman holds a kite on a beach. She",
        "endings": ["lets it rise.", "eats the kite.", "paints the sand red.", "sleeps under it."],
        "activity_label": "Flying kite",
        "label": 0,
        "split_type": "indomain",
        "source_id": "activitynet~v_x",
    }
] * 2
WIKIANN_RAW = [
    {"tokens": ["Ines", "Moreau", "visited", "Quito"], "tags": ["B-PER", "I-PER", "O", "B-LOC"], "langs": ["ar"] * 4,
     "spans": ["PER: Ines Moreau", "LOC: Quito"]},
    {"tokens": ["Nokia"], "tags": ["B-ORG"], "langs": ["ar"], "spans": ["ORG: Nokia"]},
]

# (task, split, raw TFDS examples or None for file sources, converter label kind)
WALK = [
    ("mnli", "train", NLI_RAW, "class"),
    ("xnli.de", "test", XNLI_RAW, "class"),
    ("hellaswag", "validation", HELLASWAG_RAW, "choice"),
    ("panx.ar", "test", WIKIANN_RAW, "tags"),
    ("udpos.de", "validation", None, "tags"),
    ("xcopa.zh", "test", None, "choice"),
    ("socialiqa", "train", None, "choice"),
]


def _dataset(task_name: str, split: str, kind: str, pack: bool = False, length: int = 48):
    extra = LABEL_KINDS[kind].passthrough
    if pack:
        converter = PackedEncoderFeatureConverter(pad_id=1, label_kind=kind, max_segments=4, extra_features=extra)
    else:
        choices = {"num_choices": len(get_task_record(task_name).label_names)} if kind == "choice" else {}
        converter = PaddedEncoderFeatureConverter(pad_id=1, label_kind=kind, extra_features=extra, **choices)
    # try_in_mem_cache=False: seqio would ask TFDS for split sizes, which mock data has not.
    task = seqio.get_mixture_or_task(task_name)
    ds = task.get_dataset({"inputs": length}, split=split, shuffle=False, try_in_mem_cache=False, trim_output_features=False)
    return converter(ds, {"inputs": length})


def _loss(batch: dict[str, np.ndarray], task_name: str) -> tuple[float, int]:
    model = catalog_model(task_name, max_positions=130)
    loss, count = model.loss({k: jnp.asarray(v) for k, v in batch.items()}, get_task_record(task_name).head)
    return float(loss), int(count)


@pytest.mark.parametrize("task_name, split, raw, kind", WALK, ids=[w[0] for w in WALK])
def test_registered_task_trains_its_head(task_name: str, split: str, raw: Any, kind: str):
    splits = dict.fromkeys(["train", "validation", "validation_matched", "test"], raw)
    with mock_tfds(splits) if raw is not None else contextlib.nullcontext():
        batches = list(_dataset(task_name, split, kind).batch(64).as_numpy_iterator())
    assert len(batches) == 1
    batch = batches[0]
    assert np.all(batch["head_id"] == head_id(get_task_record(task_name).head))
    assert np.all(batch["input_ids"][..., 0] == 0)  # <s> kept; padding is 1, not 0
    loss, count = _loss(batch, task_name)
    assert np.isfinite(loss) and count > 0


def test_packed_pairs_score_like_padded_pairs():
    """Packing a registered pair task changes rows, not the loss."""
    with mock_tfds(dict.fromkeys(["train"], NLI_RAW * 3)):
        padded = next(_dataset("mnli", "train", "class", length=128).batch(64).as_numpy_iterator())
        packed = next(_dataset("mnli", "train", "class", pack=True, length=128).batch(64).as_numpy_iterator())
    assert packed["input_ids"].shape[0] < padded["input_ids"].shape[0]
    (lp, np_), (lq, nq) = _loss(padded, "mnli"), _loss(packed, "mnli")
    assert np_ == nq == 6 and lp == pytest.approx(lq, abs=1e-5)


# Span QA: (task, split, {TFDS split: sample file under tasks/data} or None for the file layout, SQuAD 2.0 file)
QA_WALK = [
    ("squad_v2", "train", {"train": "squad/train-v2.0.json"}),
    ("xquad.th", "test", {"test": "xquad/xquad.th.json"}),
    ("xquad.ro", "test", None),
    ("tydiqa", "train", {"train": "tydiqa/tydiqa-goldp-v1.1-train.json"}),
]


@pytest.mark.parametrize("task_name, split, files", QA_WALK, ids=[w[0] for w in QA_WALK])
def test_registered_qa_task_trains_its_span_head(task_name: str, split: str, files: Any, catalog_data: Path):
    raw = {s: squad_json_examples(catalog_data / f, v2=task_name == "squad_v2") for s, f in (files or {}).items()}
    gin.bind_parameter("qa_featurization.doc_stride", 16)  # overlapping windows hold whole answers
    task = seqio.get_mixture_or_task(task_name)
    with mock_tfds(raw) if files else contextlib.nullcontext():
        features = list(
            task.get_dataset({"inputs": 96}, split=split, shuffle=False, try_in_mem_cache=False, trim_output_features=False)
            .as_numpy_iterator()
        )
        [batch] = list(_dataset(task_name, split, "span", length=96).batch(256).as_numpy_iterator())
    assert np.all(batch["head_id"] == head_id(get_task_record(task_name).head))
    assert np.all(batch["input_ids"][:, 0] == 0) and batch["input_ids"].shape[1] == 96
    assert [(f["idx"], f["window"]) for f in features] == list(zip(batch["idx"], batch["window"]))
    # every gold span inside a window decodes to the example's first answer
    for f in features:
        if f["start_positions"] > 0:
            start, end = f["offsets"][f["start_positions"], 0], f["offsets"][f["end_positions"], 1]
            assert f["context"].decode()[start:end] == f["answers"][0].decode()
    assert any(f["start_positions"] > 0 for f in features)
    if task_name == "tydiqa":  # the English rows of the GoldP train set only
        ids = {f["id"].decode() for f in features}
        assert ids and all(i.startswith("english-") for i in ids)
    loss, count = _loss(batch, task_name)
    assert np.isfinite(loss) and count > 0
