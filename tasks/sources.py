"""Raw data sources of the task catalog, each mapped onto one canonical schema.

A `SourceSpec` pairs a seqio `DataSource` with a `canonicalize` function that turns the source's
raw examples into one of three schemas (tf.string text, int32 ints):

- "pair":   {"idx", "text_a", "text_b", "label"}
- "choice": {"idx", "context", "choices": [C], "label"}   (C = len(label_names), fixed per dataset)
- "tags":   {"idx", "tokens": [n], "tags": [n]}
- "qa":     {"idx", "id", "question", "context", "answers": [n], "answer_starts": [n]}

`idx` is the example's position in its split as the source yields it unsharded and unshuffled
(`source.get_dataset(split, shuffle=False)`), counted before unlabelled examples are filtered out,
so it names the raw row. Sharded reads (one shard per host) restart the count in every shard.

Data comes from TFDS where TFDS has exactly the data XTREME / X-STILTs use, otherwise from files
in the layout that google-research/xtreme `scripts/download_data.sh` writes (its `download/`
folder), found through `data_dir()`. Factories never touch the disk, so the whole catalog can be
registered without data; file sources check their files when a split is read. `ccg()` is the
exception: its tag set is read from the data (see its docstring).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
from typing import Any, Callable, Mapping, Sequence

import gin
import seqio
import tensorflow as tf

from xstilts_jax.errors import ConfigError, InputError

Canonicalize = Callable[[tf.data.Dataset], tf.data.Dataset]

PAIR, CHOICE, TAGS, QA = "pair", "choice", "tags", "qa"

SCHEMAS: Mapping[str, Mapping[str, tf.TensorSpec]] = {
    PAIR: {
        "idx": tf.TensorSpec([], tf.int32),
        "text_a": tf.TensorSpec([], tf.string),
        "text_b": tf.TensorSpec([], tf.string),
        "label": tf.TensorSpec([], tf.int32),
    },
    CHOICE: {
        "idx": tf.TensorSpec([], tf.int32),
        "context": tf.TensorSpec([], tf.string),
        "choices": tf.TensorSpec([None], tf.string),  # static [C] in each dataset
        "label": tf.TensorSpec([], tf.int32),
    },
    TAGS: {
        "idx": tf.TensorSpec([], tf.int32),
        "tokens": tf.TensorSpec([None], tf.string),
        "tags": tf.TensorSpec([None], tf.string),
    },
    QA: {
        "idx": tf.TensorSpec([], tf.int32),
        "id": tf.TensorSpec([], tf.string),
        "question": tf.TensorSpec([], tf.string),
        "context": tf.TensorSpec([], tf.string),
        "answers": tf.TensorSpec([None], tf.string),  # [] = no answer (SQuAD 2.0)
        "answer_starts": tf.TensorSpec([None], tf.int32),  # character offsets into context
    },
}

# --- language lists --------------------------------------------------------------------------
# XTREME (Hu et al. 2020): google-research/xtreme `evaluate.py`, TASK2LANGS.
UDPOS_LANGS_XTREME: tuple[str, ...] = tuple(
    "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te th tl tr ur vi yo zh".split()
)
PANX_LANGS_XTREME: tuple[str, ...] = tuple(
    "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw yo my zh "
    "kk tr et fi hu".split()
)
XQUAD_LANGS_XTREME: tuple[str, ...] = tuple("ar de el en es hi ru th tr vi zh".split())
MLQA_LANGS: tuple[str, ...] = tuple("ar de en es hi vi zh".split())
TYDIQA_LANGS: tuple[str, ...] = tuple("ar bn en fi id ko ru sw te".split())
# XTREME-R (Ruder et al. 2021): google-research/xtreme `utils_preprocess.py`, UDPOS_LANGUAGES and
# PANX_LANGUAGES (the same lists `scripts/download_data.sh` downloads; UD v2.7 instead of v2.5).
UDPOS_LANGS_XTREME_R: tuple[str, ...] = UDPOS_LANGS_XTREME + ("lt", "pl", "uk", "wo", "ro")
PANX_LANGS_XTREME_R: tuple[str, ...] = PANX_LANGS_XTREME + ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")
XQUAD_LANGS_XTREME_R: tuple[str, ...] = tuple(sorted(XQUAD_LANGS_XTREME + ("ro",)))
XNLI_LANGS: tuple[str, ...] = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
PAWSX_LANGS: tuple[str, ...] = ("de", "en", "es", "fr", "ja", "ko", "zh")
# google-research/xtreme `scripts/download_data.sh` (download_xcopa) and `scripts/train_xcopa.sh`.
XCOPA_LANGS: tuple[str, ...] = tuple("et ht id it qu sw ta th tr vi zh".split())

# --- label and tag sets ----------------------------------------------------------------------
NLI_LABELS = ("entailment", "neutral", "contradiction")  # the ClassLabel order of every NLI source here
PAWSX_LABELS = ("different_meaning", "paraphrase")
QQP_LABELS = ("not_duplicate", "duplicate")
UPOS_TAGS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)  # fmt: skip
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # TFDS wikiann's ClassLabel order


def _choice_names(num_choices: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(num_choices))


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """A data source, how to map it onto a canonical schema, and what the README says about it."""

    source: seqio.DataSource
    canonicalize: Canonicalize
    schema: str
    label_names: tuple[str, ...]
    splits: Mapping[str, str]
    citation: str
    license: str
    how_to_obtain: str
    allow_no_answer: bool = False  # "qa" schema: unanswerable questions exist (SQuAD 2.0)


# --- data directory --------------------------------------------------------------------------
ENV_DATA_DIR = "XSTILTS_DATA_DIR"


@gin.configurable("data_dir")
def _configured_data_dir(path: str | None = None) -> str | None:
    return path


def data_dir() -> str:
    """Root of the file-based data (xtreme's `download/` folder plus `ccg/`, `commonsenseqa/`).

    Bind `data_dir.path` in gin, or set the environment variable XSTILTS_DATA_DIR.
    """
    # The check lives outside the gin configurable so its message is not wrapped by gin.
    path = _configured_data_dir() or os.environ.get(ENV_DATA_DIR)
    if not path:
        raise ConfigError(
            f"No data directory: bind gin `data_dir.path` or set the environment variable {ENV_DATA_DIR}."
        )
    return path


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Where a file-based task's files live under `data_dir()`, their format and how to get them."""

    task: str
    file_format: str
    how_to_obtain: str
    note: str = ""

    def find(self, *candidates: str) -> str:
        """The first existing path among `candidates` (relative to `data_dir()`), else a ConfigError."""
        help_text = f"Expected format: {self.file_format}\nHow to obtain: {self.how_to_obtain}" + (
            f"\nNote: {self.note}" if self.note else ""
        )
        try:
            root = data_dir()
        except ConfigError as e:
            raise ConfigError(
                f"{self.task}: {e} The task reads {' or '.join(candidates)} under it.\n{help_text}"
            ) from None
        paths = [os.path.join(root, c) for c in candidates]
        for p in paths:
            if tf.io.gfile.exists(p):
                return p
        raise ConfigError(f"{self.task}: data file not found; looked for: {', '.join(paths)}\n{help_text}")


def _file_source(read_split: Callable[[str], tf.data.Dataset], splits: Mapping[str, str]) -> seqio.DataSource:
    """A FunctionDataSource whose split names are ours; `read_split` gets the file's split name."""

    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
        del shuffle_files, seed  # one file per split: nothing to shuffle at file level
        if split not in splits:
            raise ConfigError(f"Unknown split {split!r}; this source has {sorted(splits)}.")
        return read_split(splits[split])

    return seqio.FunctionDataSource(dataset_fn, splits=tuple(splits))


def _check_layout(task: str, layout: str, files_name: str) -> str:
    """The layout name with the task's own name for its files ("xtreme", "superglue") mapped to "files"."""
    if layout in ("auto", "tfds"):
        return layout
    if layout == files_name:
        return "files"
    raise ConfigError(f"{task}: unknown layout {layout!r}; use 'auto', 'tfds' or {files_name!r}.")


class _FilesOrTfds(seqio.DataSource):
    """Reads a file layout when its files exist under `data_dir()`, else TFDS, deciding at read time.

    The choice cannot be made when the catalog registers its tasks: gin's `data_dir.path` is
    bound later, so the spec's canonicalizer must accept the raw examples of both. Reading a
    split the files lack is a ConfigError ending with `missing_split_help`.
    """

    def __init__(
        self,
        task: str,
        files: seqio.DataSource,
        tfds_source: seqio.DataSource,
        files_present: Callable[[], bool],
        missing_split_help: str = "",
    ):
        self._task, self._files, self.tfds_source = task, files, tfds_source
        self._files_present, self._help = files_present, missing_split_help
        super().__init__(splits=tfds_source.splits, num_input_examples=None)

    def reads_files(self) -> bool:
        """Whether a read now goes to the files (they exist under the configured data directory)."""
        return self._files_present()

    @property
    def supports_arbitrary_sharding(self) -> bool:
        return False

    def get_dataset(self, split: str = "train", shuffle: bool = True, seed: int | None = None, shard_info=None, *args, **kwargs):
        if self.reads_files():
            if split not in self._files.splits:
                raise ConfigError(
                    f"{self._task}: the file layout found under the data directory {data_dir()} has no {split!r} "
                    f"split (it has {list(self._files.splits)}). {self._help}"
                )
            return self._files.get_dataset(split, shuffle=shuffle, seed=seed)
        return self.tfds_source.get_dataset(split, shuffle=shuffle, seed=seed, shard_info=shard_info)

    def num_input_examples(self, split: str = "train") -> int | None:
        return None if self.reads_files() else self.tfds_source.num_input_examples(split)

    def list_shards(self, split: str) -> Sequence[str]:
        return self._files.list_shards(split) if self.reads_files() else self.tfds_source.list_shards(split)


def _pick_layout(
    layout: str,
    task: str,
    files: seqio.DataSource,
    tfds_source: seqio.DataSource,
    files_present: Callable[[], bool],
    missing_split_help: str = "",
) -> seqio.DataSource:
    """The source of a checked layout ("tfds", "files" or "auto")."""
    if layout == "tfds":
        return tfds_source
    if layout == "files":
        return files
    return _FilesOrTfds(task, files, tfds_source, files_present, missing_split_help)


def _exists_under_data_dir(*relative: str) -> bool:
    """Whether a data directory is configured and holds any of `relative` (checked when called)."""
    root = _configured_data_dir() or os.environ.get(ENV_DATA_DIR)
    return bool(root) and any(tf.io.gfile.exists(os.path.join(root, r)) for r in relative)


# --- file readers (Python parsing, then constant tensors: the files are at most a few MB) -----
def _read_text(path: str) -> str:
    with tf.io.gfile.GFile(path, "r") as f:
        return f.read()


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
    for lineno, line in enumerate(_read_text(path).split("\n"), start=1):
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
    for lineno, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        if len(fields) != 2 or len(fields[0].split(" ")) != len(fields[1].split()):
            raise InputError(
                f"{path}:{lineno}: expected 'tokens<TAB>supertags', one supertag per space-separated token."
            )
        sentences.append((fields[0].split(" "), fields[1].split()))
    return _token_tag_dataset(sentences)


def _read_jsonl(
    path: str, fields: Mapping[str, Callable[[dict], Any]], dtypes: Mapping[str, tf.DType]
) -> tf.data.Dataset:
    """One example per JSON line; `fields` maps each output feature to a getter on the parsed line."""
    columns: dict[str, list] = {k: [] for k in fields}
    for lineno, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            for key, get in fields.items():
                columns[key].append(get(row))
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise InputError(f"{path}:{lineno}: cannot read the fields {sorted(fields)}: {e!r}.") from None
    return tf.data.Dataset.from_tensor_slices(
        {k: tf.constant(v, dtypes[k], shape=_column_shape(v)) for k, v in columns.items()}
    )


def _column_shape(column: list) -> list[int]:
    return [len(column), *([len(column[0])] if column and isinstance(column[0], list) else [])]


# --- canonicalizers --------------------------------------------------------------------------
def _canonical(to_schema: Callable[[dict], dict], num_labels: int | None = None) -> Canonicalize:
    """Number the raw examples, map them with `to_schema` and, given `num_labels`, drop unlabelled ones."""

    def canonicalize(ds: tf.data.Dataset) -> tf.data.Dataset:
        ds = ds.enumerate().map(
            lambda i, ex: {"idx": tf.cast(i, tf.int32), **to_schema(ex)}, num_parallel_calls=tf.data.AUTOTUNE
        )
        if num_labels is None:
            return ds
        # Test splits without public labels (-1) and SNLI's "no gold label" (-1) are out of range.
        return ds.filter(lambda ex: (ex["label"] >= 0) & (ex["label"] < num_labels))

    return canonicalize


def _pair(key_a: str, key_b: str, num_labels: int) -> Canonicalize:
    return _canonical(
        lambda ex: {"text_a": ex[key_a], "text_b": ex[key_b], "label": tf.cast(ex["label"], tf.int32)}, num_labels
    )


def _choices(texts: Sequence[tf.Tensor] | tf.Tensor, num_choices: int) -> tf.Tensor:
    """The choice texts as a [num_choices] tensor with a static shape (checked when run)."""
    return tf.ensure_shape(tf.stack(texts) if isinstance(texts, (list, tuple)) else texts, [num_choices])


def _letter_index(letter: tf.Tensor, letters: tf.Tensor) -> tf.Tensor:
    """Position of `letter` in `letters` as int32, or -1 when absent (then filtered as unlabelled)."""
    hits = tf.equal(letters, letter)
    return tf.where(tf.reduce_any(hits), tf.cast(tf.argmax(tf.cast(hits, tf.int32)), tf.int32), -1)


def _copa_context(ex: dict) -> tf.Tensor:
    # XTREME-R's recipe (xtreme third_party/run_xcopa.py): "<premise> What was the cause?" / "... effect?".
    return tf.strings.join([ex["premise"], " What was the ", ex["question"], "?"])


def _copa_canonicalize() -> Canonicalize:
    return _canonical(
        lambda ex: {
            "context": _copa_context(ex),
            "choices": _choices([ex["choice1"], ex["choice2"]], 2),
            "label": tf.cast(ex["label"], tf.int32),
        },
        2,
    )


# --- TFDS sources ----------------------------------------------------------------------------
def _tfds(name: str, splits: Mapping[str, str]) -> seqio.TfdsDataSource:
    return seqio.TfdsDataSource(tfds_name=name, splits=dict(splits))


def _how_tfds(name: str) -> str:
    return f"TFDS `{name}`: downloaded and prepared on first use (or ahead of time with `tfds build`)."


def mnli() -> SourceSpec:
    """MultiNLI; validation = the matched dev set (TFDS already drops the '-' no-consensus pairs)."""
    splits = {"train": "train", "validation": "validation_matched"}
    return SourceSpec(
        source=_tfds("multi_nli:1.1.0", splits),
        canonicalize=_pair("premise", "hypothesis", 3),
        schema=PAIR,
        label_names=NLI_LABELS,
        splits=splits,
        citation="Williams et al. 2018, MultiNLI",
        license="OANC / CC BY-SA 3.0 and other permissive licenses (per genre)",
        how_to_obtain=_how_tfds("multi_nli"),
    )


def snli() -> SourceSpec:
    """SNLI; pairs without a gold label (-1) are dropped."""
    splits = {"train": "train", "validation": "validation", "test": "test"}
    return SourceSpec(
        source=_tfds("snli:1.1.0", splits),
        canonicalize=_pair("premise", "hypothesis", 3),
        schema=PAIR,
        label_names=NLI_LABELS,
        splits=splits,
        citation="Bowman et al. 2015, SNLI",
        license="CC BY-SA 4.0",
        how_to_obtain=_how_tfds("snli"),
    )


def anli(round_: int) -> SourceSpec:
    """Adversarial NLI, one round (1, 2 or 3); TFDS labels e/n/c are entailment/neutral/contradiction."""
    if round_ not in (1, 2, 3):
        raise ConfigError(f"ANLI has rounds 1, 2 and 3, not {round_!r}.")
    splits = {"train": "train", "validation": "validation", "test": "test"}
    return SourceSpec(
        source=_tfds(f"anli/r{round_}:0.1.0", splits),
        canonicalize=_pair("context", "hypothesis", 3),
        schema=PAIR,
        label_names=NLI_LABELS,
        splits=splits,
        citation="Nie et al. 2020, Adversarial NLI",
        license="CC BY-NC 4.0",
        how_to_obtain=_how_tfds(f"anli/r{round_}"),
    )


def qqp() -> SourceSpec:
    """Quora Question Pairs (GLUE); the unlabelled GLUE test split is left out."""
    splits = {"train": "train", "validation": "validation"}
    return SourceSpec(
        source=_tfds("glue/qqp:2.0.0", splits),
        canonicalize=_pair("question1", "question2", 2),
        schema=PAIR,
        label_names=QQP_LABELS,
        splits=splits,
        citation="Iyer et al. 2017, Quora Question Pairs; Wang et al. 2019, GLUE",
        license="Quora terms of service (non-commercial research)",
        how_to_obtain=_how_tfds("glue/qqp"),
    )


def hellaswag() -> SourceSpec:
    """HellaSwag: context = `ctx` (the dataset's ctx_a + " " + ctx_b), choices = the 4 endings."""
    splits = {"train": "train", "validation": "validation"}  # test labels are hidden (-1)
    return SourceSpec(
        source=_tfds("hellaswag:1.1.0", splits),
        canonicalize=_canonical(
            lambda ex: {
                "context": ex["context"],
                "choices": _choices(ex["endings"], 4),
                "label": tf.cast(ex["label"], tf.int32),
            },
            4,
        ),
        schema=CHOICE,
        label_names=_choice_names(4),
        splits=splits,
        citation="Zellers et al. 2019, HellaSwag",
        license="MIT",
        how_to_obtain=_how_tfds("hellaswag"),
    )


def cosmosqa() -> SourceSpec:
    """Cosmos QA: context = passage + " " + question, choices = answer0..answer3."""
    splits = {"train": "train", "validation": "validation"}  # test labels are hidden (-1)
    return SourceSpec(
        source=_tfds("cosmos_qa:1.0.0", splits),
        canonicalize=_canonical(
            lambda ex: {
                "context": tf.strings.join([ex["context"], ex["question"]], separator=" "),
                "choices": _choices([ex[f"answer{i}"] for i in range(4)], 4),
                "label": tf.cast(ex["label"], tf.int32),
            },
            4,
        ),
        schema=CHOICE,
        label_names=_choice_names(4),
        splits=splits,
        citation="Huang et al. 2019, Cosmos QA",
        license="CC BY 4.0",
        how_to_obtain=_how_tfds("cosmos_qa"),
    )


_COPA_LAYOUT = _Layout(
    task="copa",
    file_format=(
        "SuperGLUE COPA JSON lines, copa/train.jsonl and copa/val.jsonl: premise, choice1, choice2, "
        "question ('cause'|'effect'), label (0|1), idx."
    ),
    how_to_obtain=(
        "unpack train.jsonl and val.jsonl of SuperGLUE's COPA.zip (super.gluebenchmark.com/tasks) into "
        f"<data dir>/copa/; data dir = {ENV_DATA_DIR} or gin `data_dir.path`."
    ),
)


def copa(layout: str = "auto") -> SourceSpec:
    """English COPA (SuperGLUE): context = premise + " What was the cause?|effect?", choices = choice1/2.

    layout="tfds" reads TFDS `super_glue/copa`; layout="superglue" reads SuperGLUE's own download,
    `<data dir>/copa/{train,val}.jsonl`; "auto" (default) reads those files when either exists under
    the data directory at read time, else TFDS. SuperGLUE's test labels are hidden: no test split.
    """
    layout = _check_layout("copa", layout, "superglue")
    splits = {"train": "train", "validation": "validation"}
    tfds_source = _tfds("super_glue/copa:1.0.2", splits)
    files = _file_source(
        lambda s: _read_jsonl(_COPA_LAYOUT.find(f"copa/{s}.jsonl"), _COPA_FIELDS, _COPA_DTYPES),
        {"train": "train", "validation": "val"},
    )
    how = {
        "tfds": _how_tfds("super_glue/copa"),
        "files": "SuperGLUE COPA.zip: {train,val}.jsonl -> <data dir>/copa/",
    }
    return SourceSpec(
        source=_pick_layout(
            layout, "copa", files, tfds_source, lambda: _exists_under_data_dir("copa/train.jsonl", "copa/val.jsonl")
        ),
        canonicalize=_copa_canonicalize(),
        schema=CHOICE,
        label_names=_choice_names(2),
        splits={"train": "train", "validation": "val"} if layout == "files" else splits,
        citation="Roemmele et al. 2011, COPA; Wang et al. 2019, SuperGLUE",
        license="BSD 2-Clause",
        how_to_obtain=how.get(layout) or f"{how['files']} (read when present), else {how['tfds']}",
    )


def xnli(lang: str) -> SourceSpec:
    """XNLI dev/test in one language; English training data is MNLI (`mnli()`).

    TFDS `xnli` holds XNLI-1.0's dev and test (the files XTREME's preprocessing splits per language,
    test labels included), every language of a pair in one example: premise is a {lang: text}
    dict, hypothesis a {language: [...], translation: [...]} pair of lists.
    """
    _check_lang("xnli", lang, XNLI_LANGS)

    def to_schema(ex: dict) -> dict:
        hyp = ex["hypothesis"]
        return {
            "text_a": ex["premise"][lang],
            "text_b": tf.boolean_mask(hyp["translation"], tf.equal(hyp["language"], lang))[0],
            "label": tf.cast(ex["label"], tf.int32),
        }

    splits = {"validation": "validation", "test": "test"}
    return SourceSpec(
        source=_tfds("xnli:1.1.0", splits),
        canonicalize=_canonical(to_schema, 3),
        schema=PAIR,
        label_names=NLI_LABELS,
        splits=splits,
        citation="Conneau et al. 2018, XNLI",
        license="CC BY-NC 4.0",
        how_to_obtain=_how_tfds("xnli"),
    )


def pawsx(lang: str) -> SourceSpec:
    """PAWS-X in one language: dev_2k/test_2k everywhere, train (the human-labelled English set) for en only.

    TFDS `paws_x_wiki` reads the x-final release that XTREME reads; its non-English "train" is
    machine-translated (translate-train), so zero-shot transfer leaves it out. (TFDS
    `xtreme_pawsx` is only that translate-train data.)
    """
    _check_lang("pawsx", lang, PAWSX_LANGS)
    splits = {"validation": "validation", "test": "test"} | ({"train": "train"} if lang == "en" else {})
    return SourceSpec(
        source=_tfds(f"paws_x_wiki/{lang}:1.0.0", splits),
        canonicalize=_pair("sentence1", "sentence2", 2),
        schema=PAIR,
        label_names=PAWSX_LABELS,
        splits=splits,
        citation="Yang et al. 2019, PAWS-X",
        license="free for any use (acknowledge Google LLC)",
        how_to_obtain=_how_tfds(f"paws_x_wiki/{lang}"),
    )


# --- file-based sources ----------------------------------------------------------------------
_XTREME_DOWNLOAD = (
    "in a google-research/xtreme checkout run `bash scripts/download_data.sh` ({fn}) and point "
    f"{ENV_DATA_DIR} (or gin `data_dir.path`) at the `download/` folder it writes."
)


def _check_lang(task: str, lang: str, langs: Sequence[str]) -> None:
    if lang not in langs:
        raise ConfigError(f"{task}: unknown language {lang!r}; available: {', '.join(langs)}.")


def _tags_canonicalize() -> Canonicalize:
    return _canonical(lambda ex: {"tokens": ex["tokens"], "tags": ex["tags"]})


def udpos(lang: str) -> SourceSpec:
    """UD-POS from xtreme's `download/udpos/{train,dev}-{lang}.tsv` (train/validation).

    File-based rather than TFDS `xtreme_pos`: that builder has UD v2.5 only (no XTREME-R
    languages), swaps Tamil and Tagalog, and skips xtreme's conllu-to-conll conversion (fused
    multi-word forms). The layout's test files carry no tags, so there is no test split.
    """
    _check_lang("udpos", lang, UDPOS_LANGS_XTREME_R)
    layout = _Layout(
        task=f"udpos ({lang})",
        file_format="xtreme udpos TSV: one 'token<TAB>UPOS tag' per line, a blank line between sentences.",
        how_to_obtain=_XTREME_DOWNLOAD.format(fn="download_udpos; UD v2.5 for XTREME, v2.7 for XTREME-R"),
        note="some languages have no train or dev file (in UD v2.5, kk has no dev; th, tl and yo only test).",
    )
    splits = {"train": "train", "validation": "dev"}
    return SourceSpec(
        source=_file_source(lambda s: _read_token_tag_tsv(layout.find(f"udpos/{s}-{lang}.tsv")), splits),
        canonicalize=_tags_canonicalize(),
        schema=TAGS,
        label_names=UPOS_TAGS,
        splits=splits,
        citation="Nivre et al. 2020, Universal Dependencies (v2.5 XTREME / v2.7 XTREME-R)",
        license="per treebank (mostly CC BY-SA / CC BY-NC-SA)",
        how_to_obtain="xtreme `scripts/download_data.sh` (download_udpos) -> <data dir>/udpos/",
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
    _check_lang("panx", lang, PANX_LANGS_XTREME_R)
    layout = _check_layout("panx", layout, "xtreme")
    tfds_splits = {"train": "train", "validation": "validation", "test": "test"}
    file_splits = {"train": "train", "validation": "dev"}
    files = _Layout(
        task=f"panx ({lang})",
        file_format="xtreme panx TSV: one 'token<TAB>IOB2 tag' per line, a blank line between sentences.",
        how_to_obtain=_XTREME_DOWNLOAD.format(fn="download_panx, which needs AmazonPhotos.zip saved in download/"),
    )
    how = {
        "tfds": _how_tfds(f"wikiann/{lang}"),
        "files": "xtreme `scripts/download_data.sh` (download_panx, AmazonPhotos.zip by hand) -> <data dir>/panx/",
    }
    return SourceSpec(
        source=_pick_layout(
            layout,
            f"panx ({lang})",
            _file_source(lambda s: _read_token_tag_tsv(files.find(f"panx/{s}-{lang}.tsv")), file_splits),
            _tfds(f"wikiann/{lang}:1.0.0", tfds_splits),
            lambda: _exists_under_data_dir(*(f"panx/{s}-{lang}.tsv" for s in file_splits.values())),
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


_COPA_FIELDS = {
    "premise": lambda r: r["premise"],
    "choice1": lambda r: r["choice1"],
    "choice2": lambda r: r["choice2"],
    "question": lambda r: r["question"],
    "label": lambda r: int(r.get("label", -1)),
}
_COPA_DTYPES = {
    "premise": tf.string,
    "choice1": tf.string,
    "choice2": tf.string,
    "question": tf.string,
    "label": tf.int32,
}


def xcopa(lang: str) -> SourceSpec:
    """XCOPA validation/test from xtreme's `download/xcopa/{val,test}.{lang}.jsonl` (not in TFDS).

    Same mapping as `copa()`. xtreme's own loader (third_party/xcopa_data) reads
    `{val,test}-{lang}.jsonl` instead, so both names are accepted.
    """
    _check_lang("xcopa", lang, XCOPA_LANGS)
    layout = _Layout(
        task=f"xcopa ({lang})",
        file_format="XCOPA JSON lines: premise, choice1, choice2, question ('cause'|'effect'), label (0|1), idx.",
        how_to_obtain=_XTREME_DOWNLOAD.format(fn="download_xcopa"),
    )
    splits = {"validation": "val", "test": "test"}
    return SourceSpec(
        source=_file_source(
            lambda s: _read_jsonl(
                layout.find(f"xcopa/{s}.{lang}.jsonl", f"xcopa/{s}-{lang}.jsonl"), _COPA_FIELDS, _COPA_DTYPES
            ),
            splits,
        ),
        canonicalize=_copa_canonicalize(),
        schema=CHOICE,
        label_names=_choice_names(2),
        splits=splits,
        citation="Ponti et al. 2020, XCOPA",
        license="CC BY 4.0",
        how_to_obtain="xtreme `scripts/download_data.sh` (download_xcopa) -> <data dir>/xcopa/",
    )


def socialiqa() -> SourceSpec:
    """Social IQa from xtreme's `download/siqa/socialIQa_v1.4_{trn,dev}.jsonl` (not in TFDS).

    context = context + " " + question (XTREME-R's run_xcopa.py), choices = answerA..answerC,
    label = the position of `correct` (A/B/C).
    """
    layout = _Layout(
        task="socialiqa",
        file_format="Social IQa v1.4 JSON lines: context, question, answerA, answerB, answerC, correct ('A'|'B'|'C').",
        how_to_obtain=_XTREME_DOWNLOAD.format(fn="download_siqa"),
    )
    fields = {k: (lambda r, k=k: r[k]) for k in ("context", "question", "answerA", "answerB", "answerC", "correct")}
    letters = tf.constant(["A", "B", "C"])
    splits = {"train": "trn", "validation": "dev"}
    return SourceSpec(
        source=_file_source(
            lambda s: _read_jsonl(
                layout.find(f"siqa/socialIQa_v1.4_{s}.jsonl"), fields, dict.fromkeys(fields, tf.string)
            ),
            splits,
        ),
        canonicalize=_canonical(
            lambda ex: {
                "context": tf.strings.join([ex["context"], ex["question"]], separator=" "),
                "choices": _choices([ex["answerA"], ex["answerB"], ex["answerC"]], 3),
                "label": _letter_index(ex["correct"], letters),
            },
            3,
        ),
        schema=CHOICE,
        label_names=_choice_names(3),
        splits=splits,
        citation="Sap et al. 2019, Social IQa",
        license="no license stated by the authors (research use)",
        how_to_obtain="xtreme `scripts/download_data.sh` (download_siqa) -> <data dir>/siqa/",
    )


def _five(values: Any) -> list:
    values = list(values)
    if len(values) != 5:
        raise ValueError(f"expected 5 choices, got {len(values)}")
    return values


def commonsenseqa() -> SourceSpec:
    """CommonsenseQA from its release files `commonsenseqa/{train,dev}_rand_split.jsonl` (not in TFDS).

    context = question.stem, choices = the 5 choice texts in file order (A..E), label = the
    position of `answerKey`. The test file has no answers, so there is no test split.
    """
    layout = _Layout(
        task="commonsenseqa",
        file_format=(
            "CommonsenseQA JSON lines: {answerKey, id, question: {stem, choices: [{label, text}] x5}} "
            "(train_rand_split.jsonl, dev_rand_split.jsonl)."
        ),
        how_to_obtain=(
            "download train_rand_split.jsonl and dev_rand_split.jsonl from the CommonsenseQA release "
            f"(github.com/jonathanherzig/commonsenseqa) into <data dir>/commonsenseqa/; data dir = {ENV_DATA_DIR} "
            "or gin `data_dir.path`."
        ),
    )
    fields = {
        "stem": lambda r: r["question"]["stem"],
        "choice_labels": lambda r: _five(c["label"] for c in r["question"]["choices"]),
        "choice_texts": lambda r: _five(c["text"] for c in r["question"]["choices"]),
        "answer_key": lambda r: r.get("answerKey", ""),
    }
    splits = {"train": "train", "validation": "dev"}
    return SourceSpec(
        source=_file_source(
            lambda s: _read_jsonl(
                layout.find(f"commonsenseqa/{s}_rand_split.jsonl"), fields, dict.fromkeys(fields, tf.string)
            ),
            splits,
        ),
        canonicalize=_canonical(
            lambda ex: {
                "context": ex["stem"],
                "choices": _choices(ex["choice_texts"], 5),
                "label": _letter_index(ex["answer_key"], ex["choice_labels"]),
            },
            5,
        ),
        schema=CHOICE,
        label_names=_choice_names(5),
        splits=splits,
        citation="Talmor et al. 2019, CommonsenseQA",
        license="MIT",
        how_to_obtain="CommonsenseQA release: {train,dev}_rand_split.jsonl -> <data dir>/commonsenseqa/",
    )


_CCG_LAYOUT = _Layout(
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
        source=_file_source(lambda s: _read_ccg(_CCG_LAYOUT.find(f"ccg/ccg.{s}")), splits),
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


# --- span QA -----------------------------------------------------------------------------------
def _squad_canonicalize(id_prefix: str | None = None) -> Canonicalize:
    """SQuAD-like examples (TFDS `squadlike_features`: id, context, question, answers {text,
    answer_start}) → the "qa" schema; `id_prefix` keeps only ids that start with it."""
    to_qa = _canonical(
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


def read_squad_json(path: str) -> tf.data.Dataset:
    """A SQuAD-format JSON file ({"data": [{"paragraphs": [{"context", "qas": [...]}]}]}) as
    TFDS-style squadlike examples, one per question, in file order."""
    try:
        articles = json.loads(_read_text(path))["data"]
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
    about.setdefault("how_to_obtain", _how_tfds(name.split(":")[0]))
    return _qa_spec(_tfds(name, splits), splits, _squad_canonicalize(id_prefix), **about)


_SQUAD_SPLITS = {"train": "train", "validation": "validation"}


def squad() -> SourceSpec:
    """SQuAD v1.1 (TFDS `squad/v1.1`, 3.0.0: answer spans re-aligned): train and dev."""
    return _tfds_qa("squad/v1.1:3.0.0", _SQUAD_SPLITS, citation="Rajpurkar et al. 2016, SQuAD v1.1", license="CC BY-SA 4.0")


def squad_v2() -> SourceSpec:
    """SQuAD 2.0 (TFDS `squad/v2.0`): unanswerable questions have no answers (plausible answers unused)."""
    return _tfds_qa(
        "squad/v2.0:3.0.0", _SQUAD_SPLITS, citation="Rajpurkar et al. 2018, SQuAD 2.0", license="CC BY-SA 4.0",
        allow_no_answer=True,
    )  # fmt: skip


def xquad(lang: str) -> SourceSpec:
    """XQuAD test set in one language (there is no dev set); English training data is SQuAD v1.1.

    TFDS `xquad/{lang}` for XTREME's 11 languages; Romanian (XTREME-R) is not in TFDS and is read
    from the xtreme layout, `download/xquad/xquad.ro.json`.
    """
    _check_lang("xquad", lang, XQUAD_LANGS_XTREME_R)
    splits = {"test": "test"}
    about = {"citation": "Artetxe et al. 2020, XQuAD", "license": "CC BY-SA 4.0"}
    if lang in XQUAD_LANGS_XTREME:
        return _tfds_qa(f"xquad/{lang}:3.0.0", splits, how_to_obtain=_how_tfds("xquad"), **about)
    layout = _Layout(
        task=f"xquad ({lang})",
        file_format="SQuAD v1.1 JSON: {data: [{paragraphs: [{context, qas: [{id, question, answers}]}]}]}.",
        how_to_obtain=(
            f"download https://raw.githubusercontent.com/deepmind/xquad/master/xquad.{lang}.json into "
            f"<data dir>/xquad/; data dir = {ENV_DATA_DIR} or gin `data_dir.path`."
        ),
    )
    return _qa_spec(
        _file_source(lambda s: read_squad_json(layout.find(f"xquad/xquad.{lang}.json")), splits),
        splits,
        _squad_canonicalize(),
        how_to_obtain=f"github.com/deepmind/xquad: xquad.{lang}.json -> <data dir>/xquad/",
        **about,
    )


def mlqa(lang: str) -> SourceSpec:
    """MLQA dev and test with context and question in the same language (TFDS `mlqa/{lang}`)."""
    _check_lang("mlqa", lang, MLQA_LANGS)
    splits = {"validation": "validation", "test": "test"}
    return _tfds_qa(f"mlqa/{lang}:1.0.0", splits, citation="Lewis et al. 2020, MLQA", license="CC BY-SA 3.0")


_TYDIQA_ABOUT = {"citation": "Clark et al. 2020, TyDi QA (GoldP)", "license": "Apache 2.0"}


def tydiqa(lang: str) -> SourceSpec:
    """TyDiQA-GoldP dev in one language (TFDS `tydi_qa/goldp` split `validation-{lang}`), which
    XTREME scores as its test set; English training data is `tydiqa_train()`."""
    _check_lang("tydiqa", lang, TYDIQA_LANGS)
    return _tfds_qa("tydi_qa/goldp:3.0.0", {"validation": f"validation-{lang}"}, **_TYDIQA_ABOUT)


def tydiqa_train() -> SourceSpec:
    """TyDiQA-GoldP English training data: the `english-` ids of the GoldP train set (as xtreme's
    `utils_preprocess.py` splits it by language), validated on the English dev set."""
    return _tfds_qa(
        "tydi_qa/goldp:3.0.0",
        {"train": "train", "validation": "validation-en"},
        id_prefix="english-",
        how_to_obtain=_how_tfds("tydi_qa/goldp") + " English rows of its train split.",
        **_TYDIQA_ABOUT,
    )


# --- registry --------------------------------------------------------------------------------
SOURCES: Mapping[str, Callable[..., SourceSpec]] = {
    "mnli": mnli,
    "snli": snli,
    "anli_r1": functools.partial(anli, 1),
    "anli_r2": functools.partial(anli, 2),
    "anli_r3": functools.partial(anli, 3),
    "qqp": qqp,
    "hellaswag": hellaswag,
    "cosmosqa": cosmosqa,
    "commonsenseqa": commonsenseqa,
    "socialiqa": socialiqa,
    "copa": copa,
    "ccg": ccg,
    "xnli": xnli,
    "pawsx": pawsx,
    "xcopa": xcopa,
    "udpos": udpos,
    "panx": panx,
    "squad": squad,
    "squad_v2": squad_v2,
    "xquad": xquad,
    "mlqa": mlqa,
    "tydiqa": tydiqa,
    "tydiqa_train": tydiqa_train,
}
"""Every source by name; the multilingual ones (keys of LANGUAGES) take the language as argument."""

LANGUAGES: Mapping[str, tuple[str, ...]] = {
    "xnli": XNLI_LANGS,
    "pawsx": PAWSX_LANGS,
    "xcopa": XCOPA_LANGS,
    "udpos": UDPOS_LANGS_XTREME_R,
    "panx": PANX_LANGS_XTREME_R,
    "xquad": XQUAD_LANGS_XTREME_R,
    "mlqa": MLQA_LANGS,
    "tydiqa": TYDIQA_LANGS,
}
