"""Machine-translated English training data (XTREME's translate-train), one source per language.

XTREME translated MNLI, PAWS-X and SQuAD v1.1 into the target languages (google-research/xtreme
`scripts/download_data.sh` fetches them; TFDS serves the same files):

- MNLI → TFDS `xtreme_xnli` (one `train` split, every language of a pair in one example, as `xnli`);
- PAWS-X → TFDS `xtreme_pawsx/<lang>` (`train`);
- SQuAD v1.1 → TFDS `xquad/<lang>`, splits `translate-train` and `translate-dev`.
"""

from __future__ import annotations

import tensorflow as tf

from tasks.sources.classification import NLI_LABELS, PAWSX_LABELS, _pair
from tasks.sources.common import PAIR, SourceSpec, canonical, check_lang, from_tfds, how_tfds
from tasks.sources.languages import PAWSX_LANGS, XNLI_LANGS, XQUAD_LANGS_XTREME
from tasks.sources.qa import _tfds_qa

MNLI_TRANSLATED_LANGS: tuple[str, ...] = tuple(lang for lang in XNLI_LANGS if lang != "en")
PAWSX_TRANSLATED_LANGS: tuple[str, ...] = tuple(lang for lang in PAWSX_LANGS if lang != "en")
SQUAD_TRANSLATED_LANGS: tuple[str, ...] = tuple(lang for lang in XQUAD_LANGS_XTREME if lang != "en")
_CITATION = "Hu et al. 2020, XTREME (translate-train)"


def mnli_translated(lang: str) -> SourceSpec:
    """MNLI's training set machine-translated into `lang` (TFDS `xtreme_xnli`); pairs without `lang` are dropped."""
    check_lang("mnli_translated", lang, MNLI_TRANSLATED_LANGS)

    def to_schema(ex: dict) -> dict:
        hyp = ex["hypothesis"]
        found = tf.boolean_mask(hyp["translation"], tf.equal(hyp["language"], lang))
        return {
            "text_a": ex["premise"][lang],
            "text_b": tf.concat([found, [""]], 0)[0],
            "label": tf.where(tf.size(found) > 0, tf.cast(ex["label"], tf.int32), -1),  # -1: dropped below
        }

    splits = {"train": "train"}
    return SourceSpec(
        source=from_tfds("xtreme_xnli:1.1.0", splits),
        canonicalize=canonical(to_schema, 3),
        schema=PAIR,
        label_names=NLI_LABELS,
        splits=splits,
        citation=_CITATION,
        license="that of MNLI (OANC / CC BY-SA 3.0); translations by XTREME",
        how_to_obtain=how_tfds("xtreme_xnli"),
    )


def pawsx_translated(lang: str) -> SourceSpec:
    """PAWS-X's English training set machine-translated into `lang` (TFDS `xtreme_pawsx/<lang>`)."""
    check_lang("pawsx_translated", lang, PAWSX_TRANSLATED_LANGS)
    splits = {"train": "train"}
    return SourceSpec(
        source=from_tfds(f"xtreme_pawsx/{lang}:1.0.0", splits),
        canonicalize=_pair("sentence1", "sentence2", 2),
        schema=PAIR,
        label_names=PAWSX_LABELS,
        splits=splits,
        citation=_CITATION,
        license="free for any use (acknowledge Google LLC)",
        how_to_obtain=how_tfds(f"xtreme_pawsx/{lang}"),
    )


def squad_translated(lang: str) -> SourceSpec:
    """SQuAD v1.1 machine-translated into `lang` (TFDS `xquad/<lang>` translate-train / translate-dev)."""
    check_lang("squad_translated", lang, SQUAD_TRANSLATED_LANGS)
    splits = {"train": "translate-train", "validation": "translate-dev"}
    return _tfds_qa(f"xquad/{lang}:3.0.0", splits, citation=_CITATION, license="CC BY-SA 4.0", how_to_obtain=how_tfds(f"xquad/{lang}"))
