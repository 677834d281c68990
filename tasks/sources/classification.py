"""Sentence-pair classification sources ("pair" schema): NLI, paraphrase and duplicate-question datasets."""

from __future__ import annotations

import tensorflow as tf

from tasks.sources.common import PAIR, Canonicalize, SourceSpec, canonical, check_lang, from_tfds, how_tfds
from tasks.sources.languages import PAWSX_LANGS, XNLI_LANGS
from xstilts_jax.errors import ConfigError

NLI_LABELS = ("entailment", "neutral", "contradiction")  # the ClassLabel order of every NLI source here
PAWSX_LABELS = ("different_meaning", "paraphrase")
QQP_LABELS = ("not_duplicate", "duplicate")


def _pair(key_a: str, key_b: str, num_labels: int) -> Canonicalize:
    return canonical(
        lambda ex: {"text_a": ex[key_a], "text_b": ex[key_b], "label": tf.cast(ex["label"], tf.int32)}, num_labels
    )


def mnli() -> SourceSpec:
    """MultiNLI; validation = the matched dev set (TFDS already drops the '-' no-consensus pairs)."""
    splits = {"train": "train", "validation": "validation_matched"}
    return SourceSpec(
        source=from_tfds("multi_nli:1.1.0", splits),
        canonicalize=_pair("premise", "hypothesis", 3),
        schema=PAIR,
        label_names=NLI_LABELS,
        splits=splits,
        citation="Williams et al. 2018, MultiNLI",
        license="OANC / CC BY-SA 3.0 and other permissive licenses (per genre)",
        how_to_obtain=how_tfds("multi_nli"),
    )


def snli() -> SourceSpec:
    """SNLI; pairs without a gold label (-1) are dropped."""
    splits = {"train": "train", "validation": "validation", "test": "test"}
    return SourceSpec(
        source=from_tfds("snli:1.1.0", splits),
        canonicalize=_pair("premise", "hypothesis", 3),
        schema=PAIR,
        label_names=NLI_LABELS,
        splits=splits,
        citation="Bowman et al. 2015, SNLI",
        license="CC BY-SA 4.0",
        how_to_obtain=how_tfds("snli"),
    )


def anli(round_: int) -> SourceSpec:
    """Adversarial NLI, one round (1, 2 or 3); TFDS labels e/n/c are entailment/neutral/contradiction."""
    if round_ not in (1, 2, 3):
        raise ConfigError(f"ANLI has rounds 1, 2 and 3, not {round_!r}.")
    splits = {"train": "train", "validation": "validation", "test": "test"}
    return SourceSpec(
        source=from_tfds(f"anli/r{round_}:0.1.0", splits),
        canonicalize=_pair("context", "hypothesis", 3),
        schema=PAIR,
        label_names=NLI_LABELS,
        splits=splits,
        citation="Nie et al. 2020, Adversarial NLI",
        license="CC BY-NC 4.0",
        how_to_obtain=how_tfds(f"anli/r{round_}"),
    )


def qqp() -> SourceSpec:
    """Quora Question Pairs (GLUE); the unlabelled GLUE test split is left out."""
    splits = {"train": "train", "validation": "validation"}
    return SourceSpec(
        source=from_tfds("glue/qqp:2.0.0", splits),
        canonicalize=_pair("question1", "question2", 2),
        schema=PAIR,
        label_names=QQP_LABELS,
        splits=splits,
        citation="Iyer et al. 2017, Quora Question Pairs; Wang et al. 2019, GLUE",
        license="Quora terms of service (non-commercial research)",
        how_to_obtain=how_tfds("glue/qqp"),
    )


def xnli(lang: str) -> SourceSpec:
    """XNLI dev/test in one language; English training data is MNLI (`mnli()`).

    TFDS `xnli` holds XNLI-1.0's dev and test (the files XTREME's preprocessing splits per language,
    test labels included), every language of a pair in one example: premise is a {lang: text}
    dict, hypothesis a {language: [...], translation: [...]} pair of lists.
    """
    check_lang("xnli", lang, XNLI_LANGS)

    def to_schema(ex: dict) -> dict:
        hyp = ex["hypothesis"]
        return {
            "text_a": ex["premise"][lang],
            "text_b": tf.boolean_mask(hyp["translation"], tf.equal(hyp["language"], lang))[0],
            "label": tf.cast(ex["label"], tf.int32),
        }

    splits = {"validation": "validation", "test": "test"}
    return SourceSpec(
        source=from_tfds("xnli:1.1.0", splits),
        canonicalize=canonical(to_schema, 3),
        schema=PAIR,
        label_names=NLI_LABELS,
        splits=splits,
        citation="Conneau et al. 2018, XNLI",
        license="CC BY-NC 4.0",
        how_to_obtain=how_tfds("xnli"),
    )


def pawsx(lang: str) -> SourceSpec:
    """PAWS-X in one language: dev_2k/test_2k everywhere, train (the human-labelled English set) for en only.

    TFDS `paws_x_wiki` reads the x-final release that XTREME reads; its non-English "train" is
    machine-translated (translate-train), so zero-shot transfer leaves it out. (TFDS
    `xtreme_pawsx` is only that translate-train data.)
    """
    check_lang("pawsx", lang, PAWSX_LANGS)
    splits = {"validation": "validation", "test": "test"} | ({"train": "train"} if lang == "en" else {})
    return SourceSpec(
        source=from_tfds(f"paws_x_wiki/{lang}:1.0.0", splits),
        canonicalize=_pair("sentence1", "sentence2", 2),
        schema=PAIR,
        label_names=PAWSX_LABELS,
        splits=splits,
        citation="Yang et al. 2019, PAWS-X",
        license="free for any use (acknowledge Google LLC)",
        how_to_obtain=how_tfds(f"paws_x_wiki/{lang}"),
    )
