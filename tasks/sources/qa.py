"""Extractive span-QA sources ("qa" schema): SQuAD, XQuAD, MLQA and TyDiQA-GoldP."""

from __future__ import annotations

import json
from typing import Any, Mapping

import seqio
import tensorflow as tf

from tasks.sources.common import QA, Canonicalize, SourceSpec, canonical, check_lang, from_tfds, how_tfds
from tasks.sources.files import ENV_DATA_DIR, CountedSource, Layout, file_source, read_text
from tasks.sources.languages import MLQA_LANGS, TYDIQA_LANGS, XQUAD_LANGS_XTREME, XQUAD_LANGS_XTREME_R
from xstilts_jax.errors import InputError


def _squad_canonicalize(id_prefix: str | None = None) -> Canonicalize:
    """SQuAD-like examples (TFDS `squadlike_features`: id, context, question, answers {text,
    answer_start}) → the "qa" schema; `id_prefix` keeps only ids that start with it."""
    to_qa = canonical(
        lambda ex: {
            "id": ex["id"],
            "question": ex["question"],
            "context": ex["context"],
            "answers": ex["answers"]["text"],
            "answer_starts": tf.cast(ex["answers"]["answer_start"], tf.int32),
        }
    )
    if id_prefix is None:
        return to_qa
    return lambda ds: to_qa(ds).filter(lambda ex: tf.strings.regex_full_match(ex["id"], f"{id_prefix}.*"))


def read_squad_json(path: str, how_to_get_original: str = "use the original release") -> tf.data.Dataset:
    """A SQuAD-format JSON file ({"data": [{"paragraphs": [{"context", "qas": [...]}]}]}) as
    TFDS-style squadlike examples, one per question, in file order.

    A question with an empty answer text (gold stripped) is refused, the error ending with `how_to_get_original`.
    """
    try:
        articles = json.loads(read_text(path))["data"]
        rows = [
            {
                "id": str(qa["id"]),
                "context": paragraph["context"],
                "question": qa["question"],
                "answers": {
                    "text": [a["text"] for a in qa.get("answers", [])],
                    "answer_start": [int(a["answer_start"]) for a in qa.get("answers", [])],
                },
            }
            for article in articles
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        ]
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path}: not a SQuAD-format JSON file ({e!r}); expected data/paragraphs/qas.") from None
    blank = next((r["id"] for r in rows if "" in r["answers"]["text"]), None)
    if blank is not None:
        raise InputError(
            f"{path}: question {blank!r} has an empty gold answer (field 'answers[].text'), as in files that xtreme's "
            f"utils_preprocess.py (remove_qa_test_annotations) stripped; {how_to_get_original}"
        )
    signature = {
        "id": tf.TensorSpec([], tf.string),
        "context": tf.TensorSpec([], tf.string),
        "question": tf.TensorSpec([], tf.string),
        "answers": {"text": tf.TensorSpec([None], tf.string), "answer_start": tf.TensorSpec([None], tf.int32)},
    }
    return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=signature)


def _qa_spec(source: seqio.DataSource, splits: Mapping[str, str], canonicalize: Canonicalize, **about: Any) -> SourceSpec:
    return SourceSpec(source=source, canonicalize=canonicalize, schema=QA, label_names=(), splits=splits, **about)


def _tfds_qa(name: str, splits: Mapping[str, str], id_prefix: str | None = None, **about: Any) -> SourceSpec:
    """A SQuAD-like TFDS dataset `name` ("builder/config:version") as a "qa" spec."""
    about.setdefault("how_to_obtain", how_tfds(name.split(":")[0]))
    return _qa_spec(from_tfds(name, splits), splits, _squad_canonicalize(id_prefix), **about)


_SQUAD_SPLITS = {"train": "train", "validation": "validation"}


def squad() -> SourceSpec:
    """SQuAD v1.1 (TFDS `squad/v1.1`, 3.0.0: answer spans re-aligned): train and dev."""
    return _tfds_qa("squad/v1.1:3.0.0", _SQUAD_SPLITS, citation="Rajpurkar et al. 2016, SQuAD v1.1", license="CC BY-SA 4.0")


def squad_v2() -> SourceSpec:
    """SQuAD 2.0 (TFDS `squad/v2.0`): unanswerable questions have no answers (plausible answers unused)."""
    return _tfds_qa(
        "squad/v2.0:3.0.0", _SQUAD_SPLITS, citation="Rajpurkar et al. 2018, SQuAD 2.0", license="CC BY-SA 4.0",
        allow_no_answer=True,
    )


def xquad(lang: str) -> SourceSpec:
    """XQuAD test set in one language (there is no dev set); English training data is SQuAD v1.1.

    TFDS `xquad/{lang}` for XTREME's 11 languages; Romanian (XTREME-R) is not in TFDS and is read
    from the xtreme layout, `download/xquad/xquad.ro.json`.
    """
    check_lang("xquad", lang, XQUAD_LANGS_XTREME_R)
    splits = {"test": "test"}
    about = {"citation": "Artetxe et al. 2020, XQuAD", "license": "CC BY-SA 4.0"}
    if lang in XQUAD_LANGS_XTREME:
        return _tfds_qa(f"xquad/{lang}:3.0.0", splits, how_to_obtain=how_tfds("xquad"), **about)
    release = f"https://raw.githubusercontent.com/deepmind/xquad/master/xquad.{lang}.json"
    layout = Layout(
        task=f"xquad ({lang})",
        file_format="SQuAD v1.1 JSON: {data: [{paragraphs: [{context, qas: [{id, question, answers}]}]}]}.",
        how_to_obtain=(
            f"download {release} into "
            f"<data dir>/xquad/; data dir = {ENV_DATA_DIR} or gin `data_dir.path`."
        ),
    )
    return _qa_spec(
        file_source(lambda s: read_squad_json(layout.find(f"xquad/xquad.{lang}.json"), f"download {release}"), splits),
        splits,
        _squad_canonicalize(),
        how_to_obtain=f"github.com/deepmind/xquad: xquad.{lang}.json -> <data dir>/xquad/",
        **about,
    )


def mlqa(lang: str) -> SourceSpec:
    """MLQA dev and test with context and question in the same language (TFDS `mlqa/{lang}`)."""
    check_lang("mlqa", lang, MLQA_LANGS)
    splits = {"validation": "validation", "test": "test"}
    return _tfds_qa(f"mlqa/{lang}:1.0.0", splits, citation="Lewis et al. 2020, MLQA", license="CC BY-SA 3.0")


_TYDIQA_ENGLISH = "english-"  # id prefix of the English rows
_TYDIQA_ABOUT = {"citation": "Clark et al. 2020, TyDi QA (GoldP)", "license": "Apache 2.0"}


def tydiqa(lang: str) -> SourceSpec:
    """TyDiQA-GoldP dev in one language (TFDS `tydi_qa/goldp` split `validation-{lang}`), which
    XTREME scores as its test set; English training data is `tydiqa_train()`."""
    check_lang("tydiqa", lang, TYDIQA_LANGS)
    return _tfds_qa("tydi_qa/goldp:3.0.0", {"validation": f"validation-{lang}"}, **_TYDIQA_ABOUT)


def tydiqa_train() -> SourceSpec:
    """TyDiQA-GoldP English training data: the `english-` ids of the GoldP train set (as xtreme's
    `utils_preprocess.py` splits it by language), validated on the English dev set. Its example
    count (proportional mixing) is the number of English rows, not the whole train split's."""
    name, splits = "tydi_qa/goldp:3.0.0", {"train": "train", "validation": "validation-en"}
    english = f"{_TYDIQA_ENGLISH}.*"
    return _qa_spec(
        CountedSource(from_tfds(name, splits), counts=lambda ex: tf.strings.regex_full_match(ex["id"], english)),
        splits,
        _squad_canonicalize(id_prefix=_TYDIQA_ENGLISH),
        how_to_obtain=how_tfds("tydi_qa/goldp") + " English rows of its train split.",
        **_TYDIQA_ABOUT,
    )
