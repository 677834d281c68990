"""Multiple-choice sources ("choice" schema): COPA and XCOPA, HellaSwag, Cosmos QA, Social IQa, CommonsenseQA."""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

import tensorflow as tf

from tasks.sources.common import (
    CHOICE,
    Canonicalize,
    SourceSpec,
    canonical,
    check_lang,
    choice_names,
    from_tfds,
    how_tfds,
)
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
from tasks.sources.languages import XCOPA_LANGS
from xstilts_jax.errors import InputError


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
    return canonical(
        lambda ex: {
            "context": _copa_context(ex),
            "choices": _choices([ex["choice1"], ex["choice2"]], 2),
            "label": tf.cast(ex["label"], tf.int32),
        },
        2,
    )


class BadField(ValueError):
    """A field holds a value the dataset does not allow; the message names the field and what is allowed."""


def _read_jsonl(
    path: str,
    fields: Mapping[str, Callable[[dict], Any]],
    dtypes: Mapping[str, tf.DType],
    task: str,
    check: Callable[[str, dict[str, list]], None] | None = None,
) -> tf.data.Dataset:
    """One example per JSON line; `fields` maps each output feature to a getter on the parsed line.

    A getter raises `BadField` for a value the dataset does not allow (an unknown label), so no
    row is dropped silently; `check(path, columns)` then sees the whole file (blanked gold).
    """
    columns: dict[str, list] = {k: [] for k in fields}
    for lineno, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            for key, get in fields.items():
                columns[key].append(get(row))
        except BadField as e:
            raise InputError(f"{path}:{lineno}: {task}: {e}.") from None
        except (ValueError, KeyError, TypeError, IndexError) as e:
            raise InputError(f"{path}:{lineno}: {task}: cannot read the fields {sorted(fields)}: {e!r}.") from None
    if check is not None:
        check(path, columns)
    return tf.data.Dataset.from_tensor_slices(
        {k: tf.constant(v, dtypes[k], shape=_column_shape(v)) for k, v in columns.items()}
    )


def _one_of(row: dict, field: str, allowed: Sequence[Any], fix: str) -> Any:
    """`row[field]` when it is one of `allowed`, else BadField naming the field, the value and `fix`."""
    value = row[field]
    if value not in allowed or isinstance(value, bool):
        raise BadField(f"field {field!r} is {value!r}; allowed: {', '.join(map(repr, allowed))}; {fix}")
    return value


def _column_shape(column: list) -> list[int]:
    return [len(column), *([len(column[0])] if column and isinstance(column[0], list) else [])]


def hellaswag() -> SourceSpec:
    """HellaSwag: context = `ctx` (the dataset's ctx_a + " " + ctx_b), choices = the 4 endings."""
    splits = {"train": "train", "validation": "validation"}  # test labels are hidden (-1)
    return SourceSpec(
        source=from_tfds("hellaswag:1.1.0", splits),
        canonicalize=canonical(
            lambda ex: {
                "context": ex["context"],
                "choices": _choices(ex["endings"], 4),
                "label": tf.cast(ex["label"], tf.int32),
            },
            4,
        ),
        schema=CHOICE,
        label_names=choice_names(4),
        splits=splits,
        citation="Zellers et al. 2019, HellaSwag",
        license="MIT",
        how_to_obtain=how_tfds("hellaswag"),
    )


def cosmosqa() -> SourceSpec:
    """Cosmos QA: context = passage + " " + question, choices = answer0..answer3."""
    splits = {"train": "train", "validation": "validation"}  # test labels are hidden (-1)
    return SourceSpec(
        source=from_tfds("cosmos_qa:1.0.0", splits),
        canonicalize=canonical(
            lambda ex: {
                "context": tf.strings.join([ex["context"], ex["question"]], separator=" "),
                "choices": _choices([ex[f"answer{i}"] for i in range(4)], 4),
                "label": tf.cast(ex["label"], tf.int32),
            },
            4,
        ),
        schema=CHOICE,
        label_names=choice_names(4),
        splits=splits,
        citation="Huang et al. 2019, Cosmos QA",
        license="CC BY 4.0",
        how_to_obtain=how_tfds("cosmos_qa"),
    )


_COPA_FORMAT = "JSON lines: premise, choice1, choice2, question ('cause'|'effect'), label (0|1), idx"
_COPA_LAYOUT = Layout(
    task="copa",
    file_format=(
        f"SuperGLUE COPA {_COPA_FORMAT}: copa/{{train,val}}.jsonl (SuperGLUE's COPA.zip) or "
        "xcopa/{train,val}-en.jsonl (the same files as xtreme's download_xcopa renames them)."
    ),
    how_to_obtain=(
        "unpack train.jsonl and val.jsonl of https://dl.fbaipublicfiles.com/glue/superglue/data/v2/COPA.zip into "
        f"<data dir>/copa/, or run xtreme's download_xcopa; data dir = {ENV_DATA_DIR} or gin `data_dir.path`."
    ),
)
_COPA_FILES = {"train": ("copa/train.jsonl", "xcopa/train-en.jsonl"), "val": ("copa/val.jsonl", "xcopa/val-en.jsonl")}


def copa(layout: str = "auto") -> SourceSpec:
    """English COPA (SuperGLUE): context = premise + " What was the cause?|effect?", choices = choice1/2.

    layout="tfds" reads TFDS `super_glue/copa`; layout="superglue" reads SuperGLUE's own files,
    `<data dir>/copa/{train,val}.jsonl`, or the same files as xtreme's `download_xcopa` names them,
    `xcopa/{train,val}-en.jsonl`; "auto" (default) reads those files when one exists under the data
    directory at read time, else TFDS. SuperGLUE's test labels are hidden: no test split.
    """
    layout = check_layout("copa", layout, "superglue")
    splits = {"train": "train", "validation": "validation"}
    tfds_source = from_tfds("super_glue/copa:1.0.2", splits)
    files = file_source(
        lambda s: _read_jsonl(_COPA_LAYOUT.find(*_COPA_FILES[s]), _COPA_FIELDS, _COPA_DTYPES, "copa"),
        {"train": "train", "validation": "val"},
    )
    how = {
        "tfds": how_tfds("super_glue/copa"),
        "files": "SuperGLUE COPA.zip: {train,val}.jsonl -> <data dir>/copa/ (or xtreme's xcopa/{train,val}-en.jsonl)",
    }
    return SourceSpec(
        source=pick_layout(
            layout, "copa", files, tfds_source, lambda: exists_under_data_dir(*_COPA_FILES["train"], *_COPA_FILES["val"])
        ),
        canonicalize=_copa_canonicalize(),
        schema=CHOICE,
        label_names=choice_names(2),
        splits={"train": "train", "validation": "val"} if layout == "files" else splits,
        citation="Roemmele et al. 2011, COPA; Wang et al. 2019, SuperGLUE",
        license="BSD 2-Clause",
        how_to_obtain=how.get(layout) or f"{how['files']} (read when present), else {how['tfds']}",
    )


_COPA_FIELDS = {
    "premise": lambda r: r["premise"],
    "choice1": lambda r: r["choice1"],
    "choice2": lambda r: r["choice2"],
    "question": lambda r: _one_of(r, "question", ("cause", "effect"), "COPA asks for the cause or the effect"),
    "label": lambda r: _one_of(r, "label", (0, 1), "label is the correct alternative: 0 = choice1, 1 = choice2"),
}
_COPA_DTYPES = {
    "premise": tf.string,
    "choice1": tf.string,
    "choice2": tf.string,
    "question": tf.string,
    "label": tf.int32,
}
XCOPA_RELEASE = "https://raw.githubusercontent.com/cambridgeltl/xcopa/master/data/{lang}/{split}.{lang}.jsonl"


def _refuse_blanked_xcopa(lang: str, split: str) -> Callable[[str, dict[str, list]], None]:
    """A check for `_read_jsonl`: xtreme's `utils_preprocess.py` (xcopa_preprocess) sets every test label to 0."""

    def check(path: str, columns: dict[str, list]) -> None:
        labels = columns["label"]
        if split == "test" and labels and not any(labels):
            raise InputError(
                f"{path}: xcopa ({lang}): every 'label' is 0, as xtreme's utils_preprocess.py (xcopa_preprocess) "
                f"blanks the test gold, so accuracy would be the share of 0 predictions. Download the labelled "
                f"original {XCOPA_RELEASE.format(lang=lang, split=split)} into <data dir>/xcopa/ (it is read first)."
            )

    return check


def xcopa(lang: str) -> SourceSpec:
    """XCOPA validation/test in one language (not in TFDS); same mapping as `copa()`.

    Reads the XCOPA release's files, `xcopa/{val,test}.{lang}.jsonl` (or its `data/` folder copied
    as `xcopa/{lang}/`), else xtreme's `download_xcopa` layout `xcopa/{val,test}-{lang}.jsonl`,
    whose test labels are all 0 (blanked by xtreme's preprocessing): such a file is refused.
    """
    check_lang("xcopa", lang, XCOPA_LANGS)
    layout = Layout(
        task=f"xcopa ({lang})",
        file_format=f"XCOPA {_COPA_FORMAT}.",
        how_to_obtain=(
            f"download {XCOPA_RELEASE.format(lang=lang, split='{val,test}')} into <data dir>/xcopa/; xtreme's "
            "`scripts/download_data.sh` (function download_xcopa) writes {val,test}-<lang>.jsonl, but blanks the "
            f"test labels; data dir = {ENV_DATA_DIR} or gin `data_dir.path`."
        ),
    )
    splits = {"validation": "val", "test": "test"}

    def read(split: str) -> tf.data.Dataset:
        path = layout.find(f"xcopa/{split}.{lang}.jsonl", f"xcopa/{lang}/{split}.{lang}.jsonl", f"xcopa/{split}-{lang}.jsonl")
        return _read_jsonl(path, _COPA_FIELDS, _COPA_DTYPES, f"xcopa ({lang})", _refuse_blanked_xcopa(lang, split))

    return SourceSpec(
        source=file_source(read, splits),
        canonicalize=_copa_canonicalize(),
        schema=CHOICE,
        label_names=choice_names(2),
        splits=splits,
        citation="Ponti et al. 2020, XCOPA",
        license="CC BY 4.0",
        how_to_obtain="XCOPA release github.com/cambridgeltl/xcopa data/<lang>/{val,test}.<lang>.jsonl -> <data dir>/xcopa/",
    )


_SIQA_LETTERS = ("A", "B", "C")


def socialiqa() -> SourceSpec:
    """Social IQa from xtreme's `download/siqa/socialIQa_v1.4_{trn,dev}.jsonl` (not in TFDS).

    context = context + " " + question (XTREME-R's run_xcopa.py), choices = answerA..answerC,
    label = the position of `correct` (A/B/C).
    """
    layout = Layout(
        task="socialiqa",
        file_format="Social IQa v1.4 JSON lines: context, question, answerA, answerB, answerC, correct ('A'|'B'|'C').",
        how_to_obtain=XTREME_DOWNLOAD.format(fn="download_siqa"),
    )
    fields = {k: (lambda r, k=k: r[k]) for k in ("context", "question", "answerA", "answerB", "answerC")}
    fields["correct"] = lambda r: _one_of(r, "correct", _SIQA_LETTERS, "the answer is the letter of answerA..answerC")
    letters = tf.constant(_SIQA_LETTERS)
    splits = {"train": "trn", "validation": "dev"}
    return SourceSpec(
        source=file_source(
            lambda s: _read_jsonl(
                layout.find(f"siqa/socialIQa_v1.4_{s}.jsonl"), fields, dict.fromkeys(fields, tf.string), "socialiqa"
            ),
            splits,
        ),
        canonicalize=canonical(
            lambda ex: {
                "context": tf.strings.join([ex["context"], ex["question"]], separator=" "),
                "choices": _choices([ex["answerA"], ex["answerB"], ex["answerC"]], 3),
                "label": _letter_index(ex["correct"], letters),
            },
            3,
        ),
        schema=CHOICE,
        label_names=choice_names(3),
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
    layout = Layout(
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
        "answer_key": lambda r: _one_of(
            r, "answerKey", [c["label"] for c in r["question"]["choices"]], "answerKey is the label of one choice"
        ),
    }
    splits = {"train": "train", "validation": "dev"}
    return SourceSpec(
        source=file_source(
            lambda s: _read_jsonl(
                layout.find(f"commonsenseqa/{s}_rand_split.jsonl"), fields, dict.fromkeys(fields, tf.string),
                "commonsenseqa",
            ),
            splits,
        ),
        canonicalize=canonical(
            lambda ex: {
                "context": ex["stem"],
                "choices": _choices(ex["choice_texts"], 5),
                "label": _letter_index(ex["answer_key"], ex["choice_labels"]),
            },
            5,
        ),
        schema=CHOICE,
        label_names=choice_names(5),
        splits=splits,
        citation="Talmor et al. 2019, CommonsenseQA",
        license="MIT",
        how_to_obtain="CommonsenseQA release: {train,dev}_rand_split.jsonl -> <data dir>/commonsenseqa/",
    )
