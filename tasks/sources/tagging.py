"""Token-tagging sources ("tags" schema): UD-POS, PAN-X and CCG supertagging."""

from __future__ import annotations

import itertools
import json
from typing import Sequence

import tensorflow as tf

from tasks.sources.common import TAGS, Canonicalize, SourceSpec, canonical, check_lang, from_tfds, how_tfds
from tasks.sources.files import (
    ENV_DATA_DIR,
    XTREME_DOWNLOAD,
    Layout,
    check_layout,
    exists_under_data_dir,
    file_source,
    pick_layout,
    read_text,
)
from tasks.sources import ud
from tasks.sources.languages import PANX_LANGS_XTREME_R, UDPOS_LANGS_XTREME_R
from xstilts_jax.errors import InputError

UPOS_TAGS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # TFDS wikiann's ClassLabel order


def _token_tag_dataset(sentences: Sequence[tuple[Sequence[str], Sequence[str]]]) -> tf.data.Dataset:
    """{"tokens": [n], "tags": [n]} examples from (tokens, tags) pairs, in order."""
    tokens = [t for toks, _ in sentences for t in toks]
    tags = [t for _, tgs in sentences for t in tgs]
    lengths = [len(toks) for toks, _ in sentences]
    starts = [0, *itertools.accumulate(lengths)][: len(lengths)]
    flat_tokens = tf.constant(tokens, tf.string, shape=[len(tokens)])
    flat_tags = tf.constant(tags, tf.string, shape=[len(tags)])
    rows = tf.data.Dataset.from_tensor_slices(
        (tf.constant(starts, tf.int64, shape=[len(starts)]), tf.constant(lengths, tf.int64, shape=[len(lengths)]))
    )
    return rows.map(lambda s, n: {"tokens": flat_tokens[s : s + n], "tags": flat_tags[s : s + n]})


def _read_token_tag_tsv(path: str) -> tf.data.Dataset:
    """xtreme's tagging TSV: `token<TAB>tag` per line, a blank line between sentences."""
    sentences, tokens, tags = [], [], []
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags))
            tokens, tags = [], []
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise InputError(f"{path}:{lineno}: expected 'token<TAB>tag', got {line!r}.")
        tokens.append(fields[0])
        tags.append(fields[1].strip())
    if tokens:
        sentences.append((tokens, tags))
    return _token_tag_dataset(sentences)


def _read_ccg(path: str) -> tf.data.Dataset:
    """jiant's CCG format: `space-separated tokens<TAB>space-separated supertags`, one sentence a line."""
    sentences = []
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2 or len(fields[0].split(" ")) != len(fields[1].split()):
            raise InputError(
                f"{path}:{lineno}: expected 'tokens<TAB>supertags', one supertag per space-separated token."
            )
        sentences.append((fields[0].split(" "), fields[1].split()))
    return _token_tag_dataset(sentences)


def _tags_canonicalize() -> Canonicalize:
    return canonical(lambda ex: {"tokens": ex["tokens"], "tags": ex["tags"]})


def udpos(lang: str) -> SourceSpec:
    """UD-POS: train/validation from xtreme's `download/udpos/{train,dev}-{lang}.tsv`, test from the UD release.

    xtreme's test TSVs carry no tags, so the test split is read from the release's
    `ud-treebanks-v{2.5|2.7}/*/{lang}_*-ud-test.conllu` files, converted as xtreme converts them
    (`tasks.sources.ud`), so kk, th, tl and yo, which have no dev file, are scored on test like
    every other language: the `udpos` target record names "test" as its scoring split.

    File-based rather than TFDS `xtreme_pos`: that builder has UD v2.5 only (no XTREME-R
    languages), swaps Tamil and Tagalog, and skips xtreme's conllu-to-conll conversion (fused
    multi-word forms).
    """
    check_lang("udpos", lang, UDPOS_LANGS_XTREME_R)
    layout = Layout(
        task=f"udpos ({lang})",
        file_format="xtreme udpos TSV: one 'token<TAB>UPOS tag' per line, a blank line between sentences.",
        how_to_obtain=XTREME_DOWNLOAD.format(fn="function download_udpos; UD v2.5 for XTREME, v2.7 for XTREME-R"),
        note=(
            "some languages have no train or dev file (in UD v2.5, kk has no dev; th, tl and yo only test): "
            "score them on the test split, read from the UD release."
        ),
    )
    splits = {"train": "train", "validation": "dev", "test": "test"}

    def read(split: str) -> tf.data.Dataset:
        if split == "test":
            return _token_tag_dataset(ud.read_test(lang))
        return _read_token_tag_tsv(layout.find(f"udpos/{split}-{lang}.tsv"))

    return SourceSpec(
        source=file_source(read, splits),
        canonicalize=_tags_canonicalize(),
        schema=TAGS,
        label_names=UPOS_TAGS,
        splits=splits,
        citation="Nivre et al. 2020, Universal Dependencies (v2.5 XTREME / v2.7 XTREME-R)",
        license="per treebank (mostly CC BY-SA / CC BY-NC-SA)",
        how_to_obtain=(
            "xtreme `scripts/download_data.sh` (function download_udpos) -> <data dir>/udpos/; test: "
            f"{ud.UD_RELEASES[ud.ud_version(lang)]} unpacked into <data dir>/"
        ),
    )


_PANX_NO_TEST = (
    "That is xtreme's layout, panx/{{train,dev}}-{lang}.tsv: its preprocessing strips the PAN-X test tags. "
    "Score the 'validation' split, or read TFDS `wikiann/{lang}` (test tags kept) with "
    "`panx('{lang}', layout='tfds')` or by removing panx/*-{lang}.tsv from the data directory."
)


def _panx_canonicalize() -> Canonicalize:
    """Tags as strings: the files' strings as they are, TFDS wikiann's ClassLabel ids by name."""
    names = tf.constant(PANX_TAGS)
    tags_canonicalize = _tags_canonicalize()

    def canonicalize(ds: tf.data.Dataset) -> tf.data.Dataset:
        if ds.element_spec["tags"].dtype.is_integer:
            ds = ds.map(lambda ex: {"tokens": ex["tokens"], "tags": tf.gather(names, ex["tags"])})
        return tags_canonicalize(ds)

    return canonicalize


def panx(lang: str, layout: str = "auto") -> SourceSpec:
    """PAN-X (WikiANN NER, the balanced splits of Rahimi et al. 2019), from TFDS or xtreme's files.

    layout="tfds" reads TFDS `wikiann/{lang}`: the same archive of Rahimi et al. that xtreme's
    `download_panx` unpacks, tokens split off the `lang:` prefix the same way, with test tags kept
    and a download that needs no manual step. layout="xtreme" reads
    `download/panx/{train,dev}-{lang}.tsv`; xtreme's preprocessing strips the test tags, so that
    layout has no test split. layout="auto" (default) reads the xtreme files when one of the
    language's exists under the data directory at read time (reading test then is a ConfigError),
    else TFDS; the choice is made per read because gin's `data_dir.path` arrives after the catalog
    registered its tasks.
    """
    check_lang("panx", lang, PANX_LANGS_XTREME_R)
    layout = check_layout("panx", layout, "xtreme")
    tfds_splits = {"train": "train", "validation": "validation", "test": "test"}
    file_splits = {"train": "train", "validation": "dev"}
    files = Layout(
        task=f"panx ({lang})",
        file_format="xtreme panx TSV: one 'token<TAB>IOB2 tag' per line, a blank line between sentences.",
        how_to_obtain=XTREME_DOWNLOAD.format(fn="download_panx, which needs AmazonPhotos.zip saved in download/"),
    )
    how = {
        "tfds": how_tfds(f"wikiann/{lang}"),
        "files": "xtreme `scripts/download_data.sh` (download_panx, AmazonPhotos.zip by hand) -> <data dir>/panx/",
    }
    return SourceSpec(
        source=pick_layout(
            layout,
            f"panx ({lang})",
            file_source(lambda s: _read_token_tag_tsv(files.find(f"panx/{s}-{lang}.tsv")), file_splits),
            from_tfds(f"wikiann/{lang}:1.0.0", tfds_splits),
            lambda: exists_under_data_dir(*(f"panx/{s}-{lang}.tsv" for s in file_splits.values())),
            _PANX_NO_TEST.format(lang=lang),
        ),
        canonicalize=_panx_canonicalize(),
        schema=TAGS,
        label_names=PANX_TAGS,
        splits=file_splits if layout == "files" else tfds_splits,
        citation="Pan et al. 2017, WikiANN; Rahimi et al. 2019 (splits)",
        license="derived from Wikipedia (CC BY-SA); no separate data license",
        how_to_obtain=how.get(layout) or f"{how['files']} (read when present), else {how['tfds']}",
    )


_CCG_LAYOUT = Layout(
    task="ccg",
    file_format=(
        "jiant's CCG files: ccg/ccg.{train,dev,test} with one sentence a line, 'space-separated tokens<TAB>"
        "space-separated CCGbank supertags' (one per token), and ccg/tags_to_id.json mapping every supertag "
        "to an integer id 0..K-1 (K = 1363 in jiant's export)."
    ),
    how_to_obtain=(
        "CCGbank is licensed by the LDC (LDC2005T13) and cannot be redistributed. With a licence, run jiant's "
        "scripts/ccg/ccg_proc.py inside ccgbank_1_1/data/AUTO (it writes ccg.train from sections 00-18, ccg.dev "
        "from 19-21, ccg.test from 22-24: the leaf (<L ...>) words and their categories), write tags_to_id.json "
        "from the supertags of the three files, and put all four in <data dir>/ccg/; data dir = "
        f"{ENV_DATA_DIR} or gin `data_dir.path`."
    ),
)


def ccg() -> SourceSpec:
    """CCG supertagging (CCGbank via jiant's files): train/validation/test, string supertags.

    The tag set is read from `ccg/tags_to_id.json` now (label_names in id order), so calling this
    needs the data: register it lazily or only where CCGbank is available. The splits are jiant's
    (sections 00-18 / 19-21 / 22-24), not the 02-21 / 00 / 23 of the parsing literature.
    """
    with tf.io.gfile.GFile(_CCG_LAYOUT.find("ccg/tags_to_id.json"), "r") as f:
        tags_to_id = {tag: int(i) for tag, i in json.load(f).items()}
    label_names = tuple(sorted(tags_to_id, key=tags_to_id.__getitem__))
    if sorted(tags_to_id.values()) != list(range(len(label_names))):
        raise InputError("ccg/tags_to_id.json: ids must be exactly 0..K-1, one per supertag.")
    splits = {"train": "train", "validation": "dev", "test": "test"}
    return SourceSpec(
        source=file_source(lambda s: _read_ccg(_CCG_LAYOUT.find(f"ccg/ccg.{s}")), splits),
        canonicalize=_tags_canonicalize(),
        schema=TAGS,
        label_names=label_names,
        splits=splits,
        citation="Hockenmaier & Steedman 2007, CCGbank (LDC2005T13)",
        license="LDC User Agreement (licensed; not redistributable)",
        how_to_obtain=(
            "LDC2005T13 + jiant scripts/ccg/ccg_proc.py -> <data dir>/ccg/ (ccg.{train,dev,test}, tags_to_id.json)"
        ),
    )
