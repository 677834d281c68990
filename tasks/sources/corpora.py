"""Pretraining corpora, one source per language: mC4 (TFDS), CC-100 (release files) and wiki40b (TFDS).

Every source yields documents in the "text" schema {"idx", "text"}.

- mC4: TFDS `c4/multilingual` (as mT5 reads it): split `<lang>` is train, `<lang>-validation`
  validation. TFDS shards by file, so each host reads only its own files.
- CC-100 (Conneau et al. 2020; data.statmt.org/cc-100): its release layout, one xz-compressed
  text file per language, `<cc100 dir>/<lang>.txt.xz`, documents separated by blank lines.
  An xz stream cannot be entered at a byte offset, so reading is split by document index:
  every host decompresses its language files and keeps documents `i % hosts == host` (tokenizing
  only those). A host consumes ~16 KB/s of text at 4k tokens/s, so even 64 hosts each
  decompressing the whole stream (~64× that, ~1 MB/s) stay far below xz's ~50-100 MB/s.
  Every `cc100.validation_every`-th document (default 1000th) is validation. Document counts
  (the sampling rates need them) are read from `<cc100 dir>/counts.json`, written on first use.
- wiki40b: TFDS `wiki40b/<lang>` (train / validation / test); the structure markers
  (`_START_ARTICLE_`, `_START_SECTION_`, `_START_PARAGRAPH_`) are dropped and `_NEWLINE_`
  becomes a newline, so a document is its title, section titles and paragraphs, one per line.
"""

from __future__ import annotations

import json
import lzma
import os
import threading
from typing import Callable, Iterator, Sequence

import gin
import seqio
import tensorflow as tf
from tensorflow_datasets.text.c4 import MC4_LANGUAGES as _MC4_LANGUAGES
from tensorflow_datasets.text.wiki40b import WIKIPEDIA_LANGUAGES as _WIKI40B_LANGUAGES

from tasks.sources.common import SourceSpec, check_lang, from_tfds, how_tfds
from tasks.sources.files import data_dir
from xstilts_jax.errors import ConfigError

TEXT = "text"  # the canonical schema: {"idx", "text"}
MC4_VERSION = "c4/multilingual:3.1.0"
WIKI40B_VERSION = "1.3.0"
MC4_LANGS: tuple[str, ...] = tuple(_MC4_LANGUAGES)
WIKI40B_LANGS: tuple[str, ...] = tuple(_WIKI40B_LANGUAGES)
# data.statmt.org/cc-100: the 116 files of the release (`_rom` = romanized, `my_zaw` = Zawgyi Burmese).
CC100_LANGS: tuple[str, ...] = tuple(
    "af am ar as az be bg bn bn_rom br bs ca cs cy da de el en eo es et eu fa ff fi fr fy ga gd gl gn gu ha he "
    "hi hi_rom hr ht hu hy id ig is it ja jv ka kk km kn ko ku ky la lg li ln lo lt lv mg mk ml mn mr ms my "
    "my_zaw ne nl no ns om or pa pl ps pt qu rm ro ru sa si sc sd sk sl so sq sr ss su sv sw ta ta_rom te "
    "te_rom th tl tn tr ug uk ur ur_rom uz vi wo xh yi yo zh-Hans zh-Hant zu".split()
)
COUNTS_FILE = "counts.json"


def _text_only(ds: tf.data.Dataset, clean: Callable[[tf.Tensor], tf.Tensor] = tf.strings.strip) -> tf.data.Dataset:
    ds = ds.map(lambda ex: clean(ex["text"]), num_parallel_calls=tf.data.AUTOTUNE).filter(lambda t: tf.strings.length(t) > 0)
    return ds.enumerate().map(lambda i, t: {"idx": tf.cast(i, tf.int32), "text": t})


# --- mC4 ---------------------------------------------------------------------------------


def mc4(lang: str) -> SourceSpec:
    """mC4 in `lang` (TFDS `c4/multilingual`, the split named by the language)."""
    check_lang("mc4", lang, MC4_LANGS)
    splits = {"train": lang, "validation": f"{lang}-validation"}
    return SourceSpec(
        source=from_tfds(MC4_VERSION, splits),
        canonicalize=_text_only,
        schema=TEXT,
        label_names=(),
        splits=splits,
        citation="Xue et al. 2021, mT5 (mC4)",
        license="ODC-BY (Common Crawl terms of use)",
        how_to_obtain=how_tfds("c4/multilingual") + " (several TB: prepare with Apache Beam on a cluster)",
    )


# --- wiki40b -----------------------------------------------------------------------------


def clean_wiki40b(text: tf.Tensor) -> tf.Tensor:
    """wiki40b's marked-up text as plain lines: markers dropped, `_NEWLINE_` as a newline."""
    text = tf.strings.regex_replace(text, r"_START_(ARTICLE|SECTION|PARAGRAPH)_", "\n")
    text = tf.strings.regex_replace(text, "_NEWLINE_", "\n")
    return tf.strings.strip(tf.strings.regex_replace(text, r"\s*\n\s*", "\n"))


def wiki40b(lang: str) -> SourceSpec:
    """wiki40b in `lang` (TFDS `wiki40b/<lang>`), cleaned to plain text."""
    check_lang("wiki40b", lang, WIKI40B_LANGS)
    splits = {"train": "train", "validation": "validation", "test": "test"}
    return SourceSpec(
        source=from_tfds(f"wiki40b/{lang}:{WIKI40B_VERSION}", splits),
        canonicalize=lambda ds: _text_only(ds, clean_wiki40b),
        schema=TEXT,
        label_names=(),
        splits=splits,
        citation="Guo et al. 2020, Wiki-40B",
        license="CC BY-SA 3.0",
        how_to_obtain=how_tfds(f"wiki40b/{lang}"),
    )


# --- CC-100 ------------------------------------------------------------------------------


@gin.configurable("cc100")
def _cc100_config(directory: str | None = None, validation_every: int = 1000) -> tuple[str | None, int]:
    return directory, validation_every


def cc100_dir() -> str:
    """The folder of CC-100's `<lang>.txt.xz` files: gin `cc100.directory`, else `<data dir>/cc100`."""
    directory, _ = _cc100_config()
    if directory:
        return directory
    try:
        return os.path.join(data_dir(), "cc100")
    except ConfigError as e:
        raise ConfigError(f"cc100: no corpus folder. Bind gin `cc100.directory = '/data/cc100'` (holding <lang>.txt.xz): {e}") from None


def _validation_every() -> int:
    _, every = _cc100_config()
    if not isinstance(every, int) or every < 2:
        raise ConfigError(f"cc100.validation_every must be an int >= 2, got {every!r}.")
    return every


def cc100_file(lang: str) -> str:
    """The release file of `lang`, checked to exist."""
    path = os.path.join(cc100_dir(), f"{lang}.txt.xz")
    if not tf.io.gfile.exists(path):
        raise ConfigError(
            f"cc100.{lang}: {path} not found. Download it from https://data.statmt.org/cc-100/{lang}.txt.xz "
            "into the folder of gin `cc100.directory` (documents separated by blank lines, as released)."
        )
    return path


def read_cc100_documents(path: str) -> Iterator[str]:
    """The documents of one CC-100 file: runs of non-blank lines, joined by newlines."""
    with tf.io.gfile.GFile(path, "rb") as raw, lzma.open(raw, "rt", encoding="utf-8") as lines:
        doc: list[str] = []
        for line in lines:
            line = line.strip()
            if line:
                doc.append(line)
            elif doc:
                yield "\n".join(doc)
                doc = []
        if doc:
            yield "\n".join(doc)


_counts_lock = threading.Lock()


def cc100_document_count(lang: str) -> int:
    """Documents in `lang`'s file: from `counts.json` beside the files, else counted once and stored there."""
    path = cc100_file(lang)
    counts_path = os.path.join(cc100_dir(), COUNTS_FILE)
    with _counts_lock:
        counts = json.loads(tf.io.gfile.GFile(counts_path).read()) if tf.io.gfile.exists(counts_path) else {}
        if lang not in counts:
            print(f"cc100: counting the documents of {path} (once; stored in {counts_path}) ...", flush=True)
            counts[lang] = sum(1 for _ in read_cc100_documents(path))
            try:
                with tf.io.gfile.GFile(counts_path, "w") as f:
                    f.write(json.dumps(counts, indent=1, sort_keys=True))
            except (OSError, tf.errors.OpError) as e:
                print(f"cc100: could not store the counts in {counts_path} ({e}); they are counted again next time.")
        return int(counts[lang])


class CC100Source(seqio.DataSource):
    """One CC-100 language file, its documents split into train / validation by position and
    sharded by document index (`i % num_shards == index`) so each host keeps its own part."""

    def __init__(self, lang: str):
        self._lang = lang
        super().__init__(splits=("train", "validation"), num_input_examples=None)

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return True  # sharded by document index, any number of shards

    def list_shards(self, split: str) -> Sequence[str]:
        return [cc100_file(self._lang)]

    def num_input_examples(self, split: str = "train") -> int:
        n, every = cc100_document_count(self._lang), _validation_every()
        return n // every if split == "validation" else n - n // every

    def get_dataset(
        self, split: str = "train", shuffle: bool = True, seed: int | None = None,
        shard_info: seqio.ShardInfo | None = None, *args, **kwargs,
    ) -> tf.data.Dataset:
        del shuffle, seed, args, kwargs  # one file: document order is fixed (the task shuffles examples)
        if split not in self.splits:
            raise ConfigError(f"cc100.{self._lang}: unknown split {split!r}; CC-100 has 'train' and 'validation'.")
        path, every = cc100_file(self._lang), _validation_every()
        num_shards, index = (shard_info.num_shards, shard_info.index) if shard_info else (1, 0)
        held_out = split == "validation"

        def documents() -> Iterator[str]:
            kept = 0
            for i, doc in enumerate(read_cc100_documents(path)):
                if (i % every == every - 1) != held_out:
                    continue
                if kept % num_shards == index:
                    yield doc
                kept += 1

        ds = tf.data.Dataset.from_generator(documents, output_signature=tf.TensorSpec([], tf.string))
        return ds.map(lambda t: {"text": t})


def cc100(lang: str) -> SourceSpec:
    """CC-100 in `lang`, read from its release file `<cc100 dir>/<lang>.txt.xz`."""
    check_lang("cc100", lang, CC100_LANGS)
    return SourceSpec(
        source=CC100Source(lang),
        canonicalize=_text_only,
        schema=TEXT,
        label_names=(),
        splits={"train": "train", "validation": "validation"},
        citation="Conneau et al. 2020 (XLM-R); Wenzek et al. 2020 (CCNet)",
        license="Common Crawl terms of use",
        how_to_obtain="https://data.statmt.org/cc-100/<lang>.txt.xz into gin `cc100.directory` (default <data dir>/cc100)",
    )


def task_language(lang: str) -> str:
    """A corpus language code as it appears in a task name (seqio names allow no '-')."""
    return lang.replace("-", "_")

