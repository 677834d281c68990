"""Every SourceSpec loads offline and yields its canonical schema.

TFDS sources run under `tfds.testing.mock_data` with hand-written raw examples that go through the
builder's own `features.encode_example`, so they follow its feature spec; file sources read the
sample files shipped in tasks/data. Python sockets are blocked for the whole module.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import gin
import numpy as np
import pytest
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

from tasks import sources
from tfds_mocks import mock_tfds
from xstilts_jax.errors import ConfigError, InputError

OUR_SPLITS = {"train", "validation", "test"}


@pytest.fixture(autouse=True)
def _offline(offline: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly on any Python-level network use and start without a data directory."""
    monkeypatch.delenv(sources.ENV_DATA_DIR, raising=False)


@pytest.fixture
def sample_data(monkeypatch: pytest.MonkeyPatch, catalog_data: Path) -> Path:
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(catalog_data))
    return catalog_data


# --- helpers ---------------------------------------------------------------------------------
def python_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [x.decode() for x in value]
    if isinstance(value, np.ndarray) and value.ndim:
        return [int(x) for x in value]
    return int(value)


def load(spec: sources.SourceSpec, split: str) -> list[dict]:
    """Read one split through the spec, check it against the schema, return it as Python values."""
    ds = spec.canonicalize(spec.source.get_dataset(split, shuffle=False))
    expected = dict(sources.SCHEMAS[spec.schema])
    if spec.schema == sources.CHOICE:
        expected["choices"] = tf.TensorSpec([len(spec.label_names)], tf.string)
    assert ds.element_spec == expected
    examples = [{k: python_value(v) for k, v in ex.items()} for ex in ds.as_numpy_iterator()]
    idx = [ex["idx"] for ex in examples]
    assert idx == sorted(set(idx)) and all(i >= 0 for i in idx)
    for ex in examples:
        if spec.schema == sources.TAGS:
            assert len(ex["tokens"]) == len(ex["tags"]) > 0
            assert set(ex["tags"]) <= set(spec.label_names)
        elif spec.schema == sources.QA:
            assert len(ex["answers"]) == len(ex["answer_starts"])
            for text, start in zip(ex["answers"], ex["answer_starts"]):
                assert ex["context"][start : start + len(text)] == text
        else:
            assert 0 <= ex["label"] < len(spec.label_names)
    return examples


def nli(premise: str, hypothesis: str, label: Any) -> dict:
    return {"premise": premise, "hypothesis": hypothesis, "label": label}


# --- language lists --------------------------------------------------------------------------
def test_language_lists_have_published_sizes() -> None:
    assert len(sources.UDPOS_LANGS_XTREME) == 33 and len(sources.PANX_LANGS_XTREME) == 40
    assert len(sources.UDPOS_LANGS_XTREME_R) == 38 and len(sources.PANX_LANGS_XTREME_R) == 48
    assert (len(sources.XNLI_LANGS), len(sources.PAWSX_LANGS), len(sources.XCOPA_LANGS)) == (15, 7, 11)
    for langs in [*LANGUAGES.values(), sources.UDPOS_LANGS_XTREME, sources.PANX_LANGS_XTREME]:
        assert len(set(langs)) == len(langs)
    assert set(sources.UDPOS_LANGS_XTREME) < set(sources.UDPOS_LANGS_XTREME_R)
    assert set(sources.PANX_LANGS_XTREME) < set(sources.PANX_LANGS_XTREME_R)
    assert set(sources.PANX_LANGS_XTREME_R) <= {c.name for c in tfds.builder_cls("wikiann").BUILDER_CONFIGS}


# --- the registry ----------------------------------------------------------------------------
SOURCES: Mapping[str, Callable[..., sources.SourceSpec]] = {
    "mnli": sources.mnli,
    "snli": sources.snli,
    "anli_r1": functools.partial(sources.anli, 1),
    "anli_r2": functools.partial(sources.anli, 2),
    "anli_r3": functools.partial(sources.anli, 3),
    "qqp": sources.qqp,
    "hellaswag": sources.hellaswag,
    "cosmosqa": sources.cosmosqa,
    "commonsenseqa": sources.commonsenseqa,
    "socialiqa": sources.socialiqa,
    "copa": sources.copa,
    "ccg": sources.ccg,
    "xnli": sources.xnli,
    "pawsx": sources.pawsx,
    "xcopa": sources.xcopa,
    "udpos": sources.udpos,
    "panx": sources.panx,
    "squad": sources.squad,
    "squad_v2": sources.squad_v2,
    "xquad": sources.xquad,
    "mlqa": sources.mlqa,
    "tydiqa": sources.tydiqa,
    "tydiqa_train": sources.tydiqa_train,
}
"""Every source factory by name; the multilingual ones (keys of LANGUAGES) take the language as argument."""

LANGUAGES: Mapping[str, tuple[str, ...]] = {
    "xnli": sources.XNLI_LANGS,
    "pawsx": sources.PAWSX_LANGS,
    "xcopa": sources.XCOPA_LANGS,
    "udpos": sources.UDPOS_LANGS_XTREME_R,
    "panx": sources.PANX_LANGS_XTREME_R,
    "xquad": sources.XQUAD_LANGS_XTREME_R,
    "mlqa": sources.MLQA_LANGS,
    "tydiqa": sources.TYDIQA_LANGS,
}


def all_specs() -> Iterator[tuple[str, sources.SourceSpec]]:
    for name, factory in SOURCES.items():
        if name in LANGUAGES:
            for lang in LANGUAGES[name]:
                yield f"{name}.{lang}", factory(lang)
        else:
            yield name, factory()


def test_every_source_builds_a_complete_spec(sample_data: Path) -> None:
    seen = set()
    for name, spec in all_specs():
        seen.add(name.split(".")[0])
        assert spec.schema in sources.SCHEMAS, name
        assert spec.splits and set(spec.splits) <= OUR_SPLITS, name
        assert set(spec.source.splits) == set(spec.splits), name
        if spec.schema != sources.QA:  # span QA has no label set
            assert spec.label_names and len(set(spec.label_names)) == len(spec.label_names), name
        assert spec.citation and spec.license and spec.how_to_obtain, name
        tfds_source = getattr(spec.source, "tfds_source", spec.source)  # "auto" layouts: their TFDS side
        if isinstance(tfds_source, seqio.TfdsDataSource):
            tfds_name, version = tfds_source.tfds_dataset.name.split(":")
            with mock_tfds({}):
                assert str(tfds.builder(tfds_name).version) == version, name
    assert seen == set(SOURCES)


# --- TFDS sources ----------------------------------------------------------------------------
def test_mnli() -> None:
    raw = [
        nli("A man plays a violin.", "Someone makes music.", "entailment"),
        nli("It rains.", "It is dry.", "contradiction"),
    ]
    spec = sources.mnli()
    assert spec.splits == {"train": "train", "validation": "validation_matched"}
    with mock_tfds({"train": raw, "validation_matched": raw[1:]}):
        train, val = load(spec, "train"), load(spec, "validation")
    assert train[0] == {"idx": 0, "text_a": "A man plays a violin.", "text_b": "Someone makes music.", "label": 0}
    assert val == [{"idx": 0, "text_a": "It rains.", "text_b": "It is dry.", "label": 2}]
    assert spec.label_names == ("entailment", "neutral", "contradiction")


def test_snli_drops_pairs_without_gold_label() -> None:
    raw = [nli("a", "b", "neutral"), nli("c", "d", -1), nli("e", "f", "contradiction")]
    with mock_tfds(dict.fromkeys(["train", "validation", "test"], raw)):
        for split in ("train", "validation", "test"):
            assert [(ex["idx"], ex["label"]) for ex in load(sources.snli(), split)] == [(0, 1), (2, 2)]


@pytest.mark.parametrize("round_", [1, 2, 3])
def test_anli(round_: int) -> None:
    raw = [
        {
            "uid": f"r{round_}-1",
            "context": "The bridge opened in 1932.",
            "hypothesis": "The bridge is new.",
            "label": "c",
        }
    ]
    spec = sources.anli(round_)
    assert spec.source.tfds_dataset.name == f"anli/r{round_}:0.1.0"
    with mock_tfds(dict.fromkeys(["train", "validation", "test"], raw)):
        for split in spec.splits:
            assert load(spec, split) == [
                {"idx": 0, "text_a": "The bridge opened in 1932.", "text_b": "The bridge is new.", "label": 2}
            ]


def test_anli_rejects_unknown_round() -> None:
    with pytest.raises(ConfigError, match="rounds 1, 2 and 3"):
        sources.anli(4)


def test_qqp() -> None:
    raw = [
        {"question1": "How do I boil an egg?", "question2": "What is the way to boil eggs?", "label": 1, "idx": 7},
        {"question1": "Why is the sky blue?", "question2": "Why is grass green?", "label": 0, "idx": 3},
    ]
    spec = sources.qqp()
    assert "test" not in spec.splits
    with mock_tfds({"train": raw, "validation": raw}):
        assert load(spec, "validation") == [
            {"idx": 0, "text_a": "How do I boil an egg?", "text_b": "What is the way to boil eggs?", "label": 1},
            {"idx": 1, "text_a": "Why is the sky blue?", "text_b": "Why is grass green?", "label": 0},
        ]


def test_hellaswag() -> None:
    raw = [
        {
            "context": "A woman holds a kite on a beach. She",
            "endings": ["lets it rise into the wind.", "eats the kite.", "paints the sand red.", "sleeps under it."],
            "activity_label": "Flying kite",
            "label": 0,
            "split_type": "indomain",
            "source_id": "activitynet~v_x",
        },
        {
            "context": "How to water a cactus. Check the soil.",
            "endings": [
                "Pour a bucket daily.",
                "Water only when the soil is dry.",
                "Use salt water.",
                "Never water it.",
            ],
            "activity_label": "Home and Garden",
            "label": 1,
            "split_type": "zeroshot",
            "source_id": "wikihow~1",
        },
    ]
    spec = sources.hellaswag()
    with mock_tfds({"train": raw, "validation": raw}):
        val = load(spec, "validation")
    assert val[1] == {
        "idx": 1,
        "context": "How to water a cactus. Check the soil.",
        "choices": ["Pour a bucket daily.", "Water only when the soil is dry.", "Use salt water.", "Never water it."],
        "label": 1,
    }


def test_cosmosqa() -> None:
    raw = [
        {
            "context": "I missed the last train, so I called my sister.",
            "question": "Why did I call my sister?",
            "answer0": "To get a ride home.",
            "answer1": "To sell a ticket.",
            "answer2": "To cook dinner.",
            "answer3": "None of the above choices.",
            "label": 0,
            "id": "q1",
        }
    ]
    with mock_tfds({"train": raw, "validation": raw}):
        (ex,) = load(sources.cosmosqa(), "train")
    assert ex["context"] == "I missed the last train, so I called my sister. Why did I call my sister?"
    assert ex["choices"][0] == "To get a ride home." and len(ex["choices"]) == 4 and ex["label"] == 0


def test_copa() -> None:
    raw = [
        {
            "premise": "The lamp went out.",
            "choice1": "The bulb burned out.",
            "choice2": "I read a book.",
            "question": "cause",
            "idx": 0,
            "label": "choice1",
        },
        {
            "premise": "I ran for an hour.",
            "choice1": "I felt rested.",
            "choice2": "I felt tired.",
            "question": "effect",
            "idx": 1,
            "label": "choice2",
        },
    ]
    with mock_tfds({"train": raw, "validation": raw}):
        train = load(sources.copa(), "train")
    assert train == [
        {
            "idx": 0,
            "context": "The lamp went out. What was the cause?",
            "choices": ["The bulb burned out.", "I read a book."],
            "label": 0,
        },
        {
            "idx": 1,
            "context": "I ran for an hour. What was the effect?",
            "choices": ["I felt rested.", "I felt tired."],
            "label": 1,
        },
    ]


@pytest.mark.parametrize("lang", sources.XNLI_LANGS)
def test_xnli_picks_one_language(lang: str) -> None:
    raw = [
        {
            "premise": {lg: f"premise {i} in {lg}" for lg in sources.XNLI_LANGS},
            "hypothesis": {lg: f"hypothesis {i} in {lg}" for lg in sources.XNLI_LANGS},
            "label": label,
        }
        for i, label in enumerate(["neutral", "entailment"])
    ]
    spec = sources.xnli(lang)
    assert set(spec.splits) == {"validation", "test"}
    with mock_tfds({"validation": raw, "test": raw}):
        assert load(spec, "test") == [
            {"idx": 0, "text_a": f"premise 0 in {lang}", "text_b": f"hypothesis 0 in {lang}", "label": 1},
            {"idx": 1, "text_a": f"premise 1 in {lang}", "text_b": f"hypothesis 1 in {lang}", "label": 0},
        ]


@pytest.mark.parametrize("lang", sources.PAWSX_LANGS)
def test_pawsx(lang: str) -> None:
    raw = [
        {
            "sentence1": f"{lang}: the town lies north of the river",
            "sentence2": f"{lang}: north of the river lies the town",
            "label": 1,
        }
    ]
    spec = sources.pawsx(lang)
    assert spec.source.tfds_dataset.name == f"paws_x_wiki/{lang}:1.0.0"
    assert ("train" in spec.splits) == (lang == "en")
    with mock_tfds(dict.fromkeys(["train", "validation", "test"], raw)):
        for split in spec.splits:
            assert load(spec, split) == [
                {"idx": 0, "text_a": raw[0]["sentence1"], "text_b": raw[0]["sentence2"], "label": 1}
            ]


@pytest.mark.parametrize("lang", ["en", "ar", "zh", "ru"])
def test_panx_from_tfds_wikiann(lang: str) -> None:
    raw = [
        {
            "tokens": ["Ines", "Moreau", "visited", "Quito"],
            "tags": ["B-PER", "I-PER", "O", "B-LOC"],
            "langs": [lang] * 4,
            "spans": ["PER: Ines Moreau", "LOC: Quito"],
        },
        {"tokens": ["Nokia"], "tags": ["B-ORG"], "langs": [lang], "spans": ["ORG: Nokia"]},
    ]
    spec = sources.panx(lang, layout="tfds")
    assert spec.source.tfds_dataset.name == f"wikiann/{lang}:1.0.0" and set(spec.splits) == OUR_SPLITS
    expected = [
        {"idx": 0, "tokens": ["Ines", "Moreau", "visited", "Quito"], "tags": ["B-PER", "I-PER", "O", "B-LOC"]},
        {"idx": 1, "tokens": ["Nokia"], "tags": ["B-ORG"]},
    ]
    with mock_tfds(dict.fromkeys(["train", "validation", "test"], raw)):
        assert load(spec, "test") == expected
        # the default ("auto") reads TFDS when no xtreme files are configured
        assert load(sources.panx(lang), "test") == expected


# --- file sources on the shipped samples -----------------------------------------------------
UDPOS_KNOWN = {
    "en": (0, "Our neighbours planted 40 apple trees .", "PRON NOUN VERB NUM NOUN NOUN PUNCT"),
    "de": (1, "Wir haben gestern drei Bücher gekauft .", "PRON AUX ADV NUM NOUN VERB PUNCT"),
    "ar": (4, "هل تشرب القهوة ؟", "PART VERB NOUN PUNCT"),
    "zh": (0, "我 昨天 买 了 三 本 书 。", "PRON NOUN VERB AUX NUM NOUN NOUN PUNCT"),
}


@pytest.mark.parametrize("lang", sorted(UDPOS_KNOWN))
def test_udpos_samples(lang: str, sample_data: Path) -> None:
    spec = sources.udpos(lang)
    assert spec.splits == {"train": "train", "validation": "dev", "test": "test"}
    val = load(spec, "validation")
    assert len(val) == 5
    i, text, tags = UDPOS_KNOWN[lang]
    assert val[i] == {"idx": i, "tokens": text.split(" "), "tags": tags.split(" ")}
    if lang == "en":
        assert [len(ex["tokens"]) for ex in load(spec, "train")] == [9, 9, 9, 8, 9]


PANX_KNOWN = {
    "en": (0, "Grace Hopper joined the United States Navy in 1943 .", "B-PER I-PER O O B-ORG I-ORG I-ORG O O O"),
    "fr": (2, "Le Rhône traverse Lyon .", "O B-LOC O B-LOC O"),
    "ru": (0, "Лев Толстой родился в Ясной Поляне .", "B-PER I-PER O O B-LOC I-LOC O"),
    "hi": (0, "महात्मा गांधी का जन्म पोरबंदर में हुआ ।", "B-PER I-PER O O B-LOC O O O"),
}


@pytest.mark.parametrize("lang", sorted(PANX_KNOWN))
def test_panx_xtreme_layout_samples(lang: str, sample_data: Path) -> None:
    spec = sources.panx(lang, layout="xtreme")
    assert spec.splits == {"train": "train", "validation": "dev"}
    val = load(spec, "validation")
    i, text, tags = PANX_KNOWN[lang]
    assert len(val) == 5 and val[i] == {"idx": i, "tokens": text.split(" "), "tags": tags.split(" ")}


def test_panx_rejects_unknown_layout() -> None:
    with pytest.raises(ConfigError, match="unknown layout 'hf'"):
        sources.panx("en", layout="hf")
    with pytest.raises(ConfigError, match="copa: unknown layout 'xtreme'"):
        sources.copa(layout="xtreme")


def test_panx_auto_reads_the_xtreme_files_of_languages_that_have_them(sample_data: Path) -> None:
    fr = sources.panx("fr")
    assert set(fr.splits) == OUR_SPLITS
    i, text, tags = PANX_KNOWN["fr"]
    assert load(fr, "validation")[i] == {"idx": i, "tokens": text.split(" "), "tags": tags.split(" ")}
    assert len(load(sources.panx("en"), "train")) == len(load(sources.panx("en", layout="xtreme"), "train")) > 0
    with pytest.raises(ConfigError) as e:
        read(fr, "test")
    msg = str(e.value)
    for part in ("panx (fr)", str(sample_data), "no 'test' split", "panx/{train,dev}-fr.tsv", "layout='tfds'", "'validation'"):
        assert part in msg
    # German has no files in the sample: the same data directory reads TFDS for it
    raw = [{"tokens": ["Berlin"], "tags": ["B-LOC"], "langs": ["de"], "spans": ["LOC: Berlin"]}]
    with mock_tfds({"test": raw}):
        assert load(sources.panx("de"), "test") == [{"idx": 0, "tokens": ["Berlin"], "tags": ["B-LOC"]}]


def test_copa_superglue_files_sample(sample_data: Path) -> None:
    spec = sources.copa()  # "auto": the sample has copa/{train,val}.jsonl
    train, val = load(spec, "train"), load(spec, "validation")
    assert (len(train), len(val)) == (44, 18)
    assert train == load(sources.copa(layout="superglue"), "train")
    assert train[0] == {
        "idx": 0,
        "context": "The kettle began to whistle. What was the cause?",
        "choices": ["The stove was cold.", "The water boiled."],
        "label": 1,
    }
    assert {ex["label"] for ex in train + val} == {0, 1}
    assert {ex["context"].rsplit(" ", 1)[1] for ex in train} == {"cause?", "effect?"}


def test_auto_layout_is_decided_when_the_data_is_read(catalog_data: Path, tmp_path: Path) -> None:
    """Specs are built (catalog registration) before gin binds data_dir.path; the read sees the binding."""
    copa, panx = sources.copa(), sources.panx("fr")
    gin.bind_parameter("data_dir.path", str(catalog_data))
    assert len(load(copa, "validation")) == 18 and len(load(panx, "validation")) == 5
    gin.bind_parameter("data_dir.path", str(tmp_path))  # no files there: TFDS
    raw = [{"premise": "It rained.", "choice1": "The grass got wet.", "choice2": "The grass burned.",
            "question": "effect", "idx": 0, "label": "choice1"}]
    with mock_tfds({"validation": raw}):
        assert load(copa, "validation") == [
            {"idx": 0, "context": "It rained. What was the effect?", "choices": ["The grass got wet.", "The grass burned."], "label": 0}
        ]


def test_registered_catalog_tasks_read_the_shipped_samples(sample_data: Path) -> None:
    import tasks  # noqa: F401  (registers the catalog)

    def count(task: str, split: str) -> int:
        source = seqio.get_mixture_or_task(task).source
        return sum(1 for _ in source.get_dataset(split, shuffle=False))

    assert (count("copa", "train"), count("copa", "validation")) == (44, 18)
    assert count("panx", "train") == len(load(sources.panx("en", layout="xtreme"), "train"))
    assert [count(f"panx.{lang}", "validation") for lang in ("en", "fr", "hi", "ru")] == [5, 5, 5, 5]
    assert [count(f"xcopa.{lang}", "validation") for lang in ("et", "id", "th", "zh")] == [5, 5, 5, 5]


@pytest.mark.parametrize("lang", ["et", "id", "th", "zh"])
def test_xcopa_samples(lang: str, sample_data: Path) -> None:
    spec = sources.xcopa(lang)
    val, test = load(spec, "validation"), load(spec, "test")
    assert len(val) == len(test) == 5
    assert [ex["label"] for ex in val + test] == [0, 0, 0, 0, 1, 1, 0, 0, 1, 0]
    assert val[0]["context"].endswith(" What was the cause?") and val[2]["context"].endswith(" What was the effect?")
    if lang == "th":
        assert val[0] == {
            "idx": 0,
            "context": "ไอศกรีมละลาย What was the cause?",
            "choices": ["มันถูกวางไว้กลางแดด", "มันถูกใส่ไว้ในช่องแช่แข็ง"],
            "label": 0,
        }


def test_xcopa_accepts_xtreme_loader_file_names(
    catalog_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "xcopa").mkdir()
    shutil.copy(catalog_data / "xcopa" / "val.zh.jsonl", tmp_path / "xcopa" / "val-zh.jsonl")
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(tmp_path))
    assert load(sources.xcopa("zh"), "validation")[1]["choices"] == ["开始下雨了。", "太阳出来了。"]


def test_socialiqa_samples(sample_data: Path) -> None:
    spec = sources.socialiqa()
    assert [ex["label"] for ex in load(spec, "train")] == [0, 1, 2, 0, 0]
    assert load(spec, "validation")[0] == {
        "idx": 0,
        "context": "Jordan lent Casey an umbrella during the storm. What will Casey want to do next?",
        "choices": ["return the umbrella later", "throw the umbrella away", "stay out in the rain"],
        "label": 0,
    }


def test_commonsenseqa_samples(sample_data: Path) -> None:
    spec = sources.commonsenseqa()
    assert [ex["label"] for ex in load(spec, "train")] == [1, 0, 3, 2, 4]
    assert load(spec, "validation")[3] == {
        "idx": 3,
        "context": "Where can you borrow a book for free?",
        "choices": ["bank", "market", "airport", "library", "factory"],
        "label": 3,
    }


def test_ccg_samples(sample_data: Path) -> None:
    spec = sources.ccg()
    assert len(spec.label_names) == 21 and spec.label_names[:3] == ("NP[nb]/N", "N", "S[dcl]\\NP")
    assert spec.splits == {"train": "train", "validation": "dev", "test": "test"}
    assert [len(ex["tokens"]) for ex in load(spec, "train")] == [7, 4, 6, 5, 12]
    assert load(spec, "validation")[0] == {
        "idx": 0,
        "tokens": ["John", "likes", "green", "apples", "."],
        "tags": ["N", "(S[dcl]\\NP)/NP", "N/N", "N", "."],
    }
    assert len(load(spec, "test")) == 5


def test_data_dir_from_gin_wins_over_env(catalog_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(tmp_path))
    gin.bind_parameter("data_dir.path", str(catalog_data))
    assert sources.data_dir() == str(catalog_data)
    assert len(load(sources.udpos("en"), "validation")) == 5


# --- missing and malformed data --------------------------------------------------------------
def read(spec: sources.SourceSpec, split: str) -> None:
    spec.source.get_dataset(split, shuffle=False)


def test_unset_data_dir_names_task_files_format_and_download() -> None:
    with pytest.raises(ConfigError) as e:
        read(sources.udpos("de"), "validation")
    msg = str(e.value)
    for part in (
        "udpos (de)",
        "udpos/dev-de.tsv",
        sources.ENV_DATA_DIR,
        "data_dir.path",
        "token<TAB>UPOS",
        "scripts/download_data.sh",
    ):
        assert part in msg


MISSING: dict[str, tuple[Callable[[], sources.SourceSpec], str, list[str], list[str]]] = {
    "udpos": (lambda: sources.udpos("kk"), "validation", ["udpos/dev-kk.tsv"], ["download_udpos", "kk has no dev"]),
    "panx": (lambda: sources.panx("sw", layout="xtreme"), "train", ["panx/train-sw.tsv"], ["AmazonPhotos.zip"]),
    "copa": (lambda: sources.copa(layout="superglue"), "validation", ["copa/val.jsonl"], ["COPA.zip", "'cause'|'effect'"]),
    "xcopa": (lambda: sources.xcopa("qu"), "test", ["xcopa/test.qu.jsonl", "xcopa/test-qu.jsonl"], ["download_xcopa"]),
    "socialiqa": (sources.socialiqa, "train", ["siqa/socialIQa_v1.4_trn.jsonl"], ["download_siqa", "correct"]),
    "commonsenseqa": (
        sources.commonsenseqa,
        "validation",
        ["commonsenseqa/dev_rand_split.jsonl"],
        ["answerKey", "jonathanherzig/commonsenseqa"],
    ),
}


@pytest.mark.parametrize("task", sorted(MISSING))
def test_missing_file_names_the_exact_paths(task: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    factory, split, rel_paths, hints = MISSING[task]
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(ConfigError) as e:
        read(factory(), split)
    msg = str(e.value)
    assert msg.startswith(task)
    for part in [str(tmp_path / p) for p in rel_paths] + hints:
        assert part in msg


def test_missing_ccg_explains_the_ldc_licence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(ConfigError) as e:
        sources.ccg()
    msg = str(e.value)
    for part in (
        str(tmp_path / "ccg" / "tags_to_id.json"),
        "LDC2005T13",
        "ccg_proc.py",
        "ccg.{train,dev,test}",
        "<TAB>",
    ):
        assert part in msg


def test_unknown_language_and_split() -> None:
    with pytest.raises(ConfigError, match="unknown language 'xx'"):
        sources.xnli("xx")
    with pytest.raises(ConfigError, match="Unknown split 'test'"):
        read(sources.commonsenseqa(), "test")


def test_malformed_tagging_file_points_at_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "udpos").mkdir()
    (tmp_path / "udpos" / "dev-en.tsv").write_text("The\tDET\ncat NOUN\n", encoding="utf-8")
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(InputError, match=r"dev-en.tsv:2: expected 'token<TAB>tag'"):
        read(sources.udpos("en"), "validation")


def test_ccg_tag_ids_must_be_dense(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ccg").mkdir()
    (tmp_path / "ccg" / "tags_to_id.json").write_text(json.dumps({"N": 0, "NP": 2}))
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(tmp_path))
    with pytest.raises(InputError, match="0..K-1"):
        sources.ccg()
