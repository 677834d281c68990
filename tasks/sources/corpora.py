"""Pretraining corpora, one source per language: mC4 (TFDS), CC-100 (release files) and wiki40b (TFDS).

Every source yields documents in the "text" schema {"idx", "text"}.

- mC4: TFDS `c4/multilingual` (as mT5 reads it): split `<lang>` is train, `<lang>-validation`
  validation. TFDS shards by file, so each host reads only its own files.
- CC-100 (Conneau et al. 2020; data.statmt.org/cc-100): its release layout, one xz-compressed
  text file per language, `<cc100 dir>/<lang>.txt.xz`, documents separated by blank lines.
  An xz stream cannot be entered at a byte offset, and a Python generator over it cannot be
  checkpointed, so each language is decompressed once (`prepare_cc100`: on first use, or
  `xstilts-jax prepare cc100.<lang>`) into TFRecord document shards, `cc100.shard_files`
  (default 256) per split, under `<cc100 dir>/prepared/<lang>/` (gin `cc100.prepared_directory`).
  tf.data reads them natively, so a resumed run restores its iterator instead of replaying, and
  each host reads only its own files. Every `cc100.validation_every`-th document (default 1000th)
  is validation. Document counts (the sampling rates need them) are kept in
  `<cc100 dir>/counts.json`, written by the preparation.
- wiki40b: TFDS `wiki40b/<lang>` (train / validation / test); the structure markers
  (`_START_ARTICLE_`, `_START_SECTION_`, `_START_PARAGRAPH_`) are dropped and `_NEWLINE_`
  becomes a newline, so a document is its title, section titles and paragraphs, one per line.
"""

from __future__ import annotations

import json
import lzma
import os
import threading
import uuid
from typing import Callable, Iterator, Sequence

import gin
import jax
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
PREPARED_FILE = "prepared.json"  # a language's preparation marker, written last
SPLITS = ("train", "validation")


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
def _cc100_config(
    directory: str | None = None, validation_every: int = 1000, prepared_directory: str | None = None, shard_files: int = 256
) -> tuple[str | None, int, str | None, int]:
    return directory, validation_every, prepared_directory, shard_files


def cc100_dir() -> str:
    """The folder of CC-100's `<lang>.txt.xz` files: gin `cc100.directory`, else `<data dir>/cc100`."""
    directory = _cc100_config()[0]
    if directory:
        return directory
    try:
        return os.path.join(data_dir(), "cc100")
    except ConfigError as e:
        raise ConfigError(f"cc100: no corpus folder. Bind gin `cc100.directory = '/data/cc100'` (holding <lang>.txt.xz): {e}") from None


def _validation_every() -> int:
    every = _cc100_config()[1]
    if not isinstance(every, int) or every < 2:
        raise ConfigError(f"cc100.validation_every must be an int >= 2, got {every!r}.")
    return every


def _shard_files() -> int:
    files = _cc100_config()[3]
    if not isinstance(files, int) or files < 1:
        raise ConfigError(f"cc100.shard_files must be an int >= 1, got {files!r}.")
    return files


def prepared_dir(lang: str) -> str:
    """Where `lang`'s document shards lie: `<gin cc100.prepared_directory, else <cc100 dir>/prepared>/<lang>`."""
    return os.path.join(_cc100_config()[2] or os.path.join(cc100_dir(), "prepared"), lang)


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


_lock = threading.Lock()  # one preparation / counts.json update at a time in a process


def _read_json(path: str) -> dict:
    return json.loads(tf.io.gfile.GFile(path).read()) if tf.io.gfile.exists(path) else {}


def _write_json(path: str, value: dict) -> None:
    """Write `value` to `path` whole: a temporary file renamed over it, so a reader never sees half of it."""
    partial = f"{path}.partial-{uuid.uuid4().hex}"
    with tf.io.gfile.GFile(partial, "w") as f:
        f.write(json.dumps(value, indent=1, sort_keys=True))
    tf.io.gfile.rename(partial, path, overwrite=True)


def _store_count(lang: str, documents: int) -> None:
    counts_path = os.path.join(cc100_dir(), COUNTS_FILE)
    try:
        _write_json(counts_path, {**_read_json(counts_path), lang: documents})
    except (OSError, tf.errors.OpError) as e:
        print(f"cc100: could not store the counts in {counts_path} ({e}); they are read from the prepared shards.")


def _shard_name(split: str, k: int, files: int) -> str:
    return f"{split}-{k:05d}-of-{files:05d}.tfrecord"


def _prepared(lang: str) -> dict | None:
    """The marker of `lang`'s complete preparation for the bound `cc100.validation_every`, if there is one."""
    marker = _read_json(os.path.join(prepared_dir(lang), PREPARED_FILE))
    return marker if marker.get("validation_every") == _validation_every() else None


def prepare_cc100(lang: str) -> dict:
    """Decompress `lang`'s release file once into document shards tf.data reads natively; returns the marker.

    Documents go round robin into `cc100.shard_files` TFRecord files per split (train document k into
    file k % files), written under a fresh attempt folder; the marker `prepared.json` (attempt,
    files, counts) is written last, so an interrupted preparation is never read and is redone.
    A multi-host process does not prepare (each host would write its own copy): it asks for
    `xstilts-jax prepare` first.
    """
    with _lock:
        if (marker := _prepared(lang)) is not None:
            return marker
        path, every, files = cc100_file(lang), _validation_every(), _shard_files()
        if jax.process_count() > 1:  # every host would decompress and write its own copy of the language
            raise ConfigError(
                f"cc100.{lang}: its document shards are not prepared under {prepared_dir(lang)}; prepare them once before "
                f"a multi-host run: `xstilts-jax prepare cc100.{task_language(lang)} --gin.cc100.directory=\"'{cc100_dir()}'\"`."
            )
        attempt = f"shards-{uuid.uuid4().hex[:12]}"
        folder = os.path.join(prepared_dir(lang), attempt)
        print(f"cc100: preparing {path} into {files} document shards per split in {folder} (once) ...", flush=True)
        try:
            tf.io.gfile.makedirs(folder)
            writers = {split: [tf.io.TFRecordWriter(os.path.join(folder, _shard_name(split, k, files))) for k in range(files)]
                       for split in SPLITS}
            counts = dict.fromkeys(SPLITS, 0)
            for i, doc in enumerate(read_cc100_documents(path)):
                split = "validation" if i % every == every - 1 else "train"
                writers[split][counts[split] % files].write(doc.encode("utf-8"))
                counts[split] += 1
            for split_writers in writers.values():
                for writer in split_writers:
                    writer.close()
            marker = {"attempt": attempt, "files": files, "validation_every": every, "documents": sum(counts.values()), **counts}
            _write_json(os.path.join(prepared_dir(lang), PREPARED_FILE), marker)
        except (lzma.LZMAError, EOFError, UnicodeDecodeError) as e:
            raise ConfigError(
                f"cc100.{lang}: {path} cannot be read as UTF-8 xz text ({type(e).__name__}: {e}); download it again "
                f"from https://data.statmt.org/cc-100/{lang}.txt.xz."
            ) from None
        except (OSError, tf.errors.OpError) as e:
            raise ConfigError(
                f"cc100.{lang}: cannot write its document shards under {prepared_dir(lang)} ({str(e).splitlines()[0]}); "
                "bind gin `cc100.prepared_directory` to a writable folder."
            ) from None
        _store_count(lang, marker["documents"])  # under the lock: counts.json is read, updated and rewritten
        return marker


def cc100_document_count(lang: str) -> int:
    """Documents in `lang`'s file: from `counts.json` beside the files, else by preparing its shards (which stores it there)."""
    path = cc100_file(lang)
    counts = _read_json(os.path.join(cc100_dir(), COUNTS_FILE))
    if lang in counts:
        return int(counts[lang])
    print(f"cc100: counting the documents of {path} by preparing its shards ...", flush=True)
    return int(prepare_cc100(lang)["documents"])


READ_BUFFER = 64 << 10  # bytes per open shard file: a host may hold 256 files x 116 languages open at once


def _interleaved(files: Sequence[str]) -> tf.data.Dataset:
    """The records of `files` round robin (one from each in turn): document order, as prepared."""
    names = tf.data.Dataset.from_tensor_slices(list(files))
    return names.interleave(
        lambda name: tf.data.TFRecordDataset(name, buffer_size=READ_BUFFER), cycle_length=len(files), block_length=1
    )


class CC100Source(seqio.DataSource):
    """One CC-100 language, read from its prepared document shards (`prepare_cc100`, made on first
    use) with tf.data's TFRecord reader, so its iterator state checkpoints. Train / validation are
    split by document position; a shard of the data keeps documents `k % num_shards == index` of
    its split, by reading only its own files when the number of shards divides the files."""

    def __init__(self, lang: str):
        self._lang = lang
        super().__init__(splits=SPLITS, num_input_examples=None)

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return True  # any number of shards: by file where it divides the files, else by document

    def prepare(self) -> str:
        """Make the document shards (`xstilts-jax prepare cc100.<lang>`); returns their folder."""
        return os.path.join(prepared_dir(self._lang), prepare_cc100(self._lang)["attempt"])

    def list_shards(self, split: str) -> Sequence[str]:
        marker = prepare_cc100(self._lang)
        folder = os.path.join(prepared_dir(self._lang), marker["attempt"])
        return [os.path.join(folder, _shard_name(split, k, marker["files"])) for k in range(marker["files"])]

    def num_input_examples(self, split: str = "train") -> int:
        n, every = cc100_document_count(self._lang), _validation_every()
        return n // every if split == "validation" else n - n // every

    def get_dataset(
        self, split: str = "train", shuffle: bool = True, seed: int | None = None,
        shard_info: seqio.ShardInfo | None = None, *args, **kwargs,
    ) -> tf.data.Dataset:
        del shuffle, seed, args, kwargs  # document order is fixed (the task shuffles examples)
        if split not in self.splits:
            raise ConfigError(f"cc100.{self._lang}: unknown split {split!r}; CC-100 has 'train' and 'validation'.")
        files = self.list_shards(split)
        num_shards, index = (shard_info.num_shards, shard_info.index) if shard_info else (1, 0)
        if len(files) % num_shards == 0:  # document k lies in file k % files: its own files hold k % num_shards == index
            ds = _interleaved(files[index::num_shards])
        else:
            ds = _interleaved(files).shard(num_shards, index)
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
        how_to_obtain=(
            "https://data.statmt.org/cc-100/<lang>.txt.xz into gin `cc100.directory` (default <data dir>/cc100); "
            "decompressed into document shards on first use, or ahead with `xstilts-jax prepare cc100.<lang>`"
        ),
    )


def task_language(lang: str) -> str:
    """A corpus language code as it appears in a task name (seqio names allow no '-')."""
    return lang.replace("-", "_")

