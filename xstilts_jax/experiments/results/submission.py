"""XTREME / XTREME-R leaderboard submissions: each task's predictions rendered in the format its leaderboard reads."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from xstilts_jax.experiments.results.records import ResultsError

# Formats from google-research/xtreme `evaluate.py` (its READER_FUNCTION per task and `get_suffix`) and
# `mock_test_data/predictions/`: one line per example for label tasks, one tag per line with a blank
# line between sentences for tagging, SQuAD-style {id: answer} JSON for QA, {mention id: ranked entity
# ids} JSON for Mewsli-X, JSON lines with a "label" for XCOPA, and "<src id>\t<trg id>" pairs for BUCC.


def _fail(where: str, message: str) -> ResultsError:
    return ResultsError(f"{where}: {message}")


def _example_list(predictions: Any, where: str) -> list[Any]:
    if not isinstance(predictions, list) or not predictions:
        raise _fail(where, "expected a non-empty JSON list of predictions, one per example in dataset order")
    return predictions


def _field(value: Any, where: str) -> str:
    # evaluate.py strips each line and splits BUCC lines on tabs, so a field must survive both.
    if not isinstance(value, str) or not value or value != value.strip() or any(c in value for c in "\t\n\r"):
        raise _fail(where, f"{value!r} is not a non-empty string without tabs, newlines or edge spaces")
    return value


def _labels(official: Mapping[Any, Any], line: Callable[[Any], str]) -> Callable[[Any, str], str]:
    """A writer for one label per example: ``official`` maps each accepted prediction to the official label."""

    def render(predictions: Any, where: str) -> str:
        lines = []
        for index, prediction in enumerate(_example_list(predictions, where)):
            hashable = isinstance(prediction, (str, int)) and not isinstance(prediction, bool)
            if not hashable or prediction not in official:
                raise _fail(where, f"example {index}: {prediction!r} is not one of {sorted(official, key=str)}")
            lines.append(line(official[prediction]) + "\n")
        return "".join(lines)

    return render


def _tatoeba(predictions: Any, where: str) -> str:
    lines = []
    for index, prediction in enumerate(_example_list(predictions, where)):
        if isinstance(prediction, bool) or not isinstance(prediction, int) or prediction < 0:
            raise _fail(where, f"example {index}: {prediction!r} is not the index of a retrieved target sentence")
        lines.append(f"{prediction}\n")
    return "".join(lines)


def _bucc(predictions: Any, where: str) -> str:
    lines = []
    for index, pair in enumerate(_example_list(predictions, where)):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _fail(where, f"item {index}: {pair!r} is not a [source id, target id] pair")
        lines.append("\t".join(_field(value, f"{where}, item {index}") for value in pair) + "\n")
    return "".join(lines)


def _tags(predictions: Any, where: str) -> str:
    sentences = []
    for index, tags in enumerate(_example_list(predictions, where)):
        # A blank line separates sentences, so an empty sentence cannot be written.
        if not isinstance(tags, list) or not tags:
            raise _fail(where, f"sentence {index}: {tags!r} is not a non-empty list of tags")
        sentences.append("".join(_field(tag, f"{where}, sentence {index}") + "\n" for tag in tags))
    return "\n".join(sentences)


def _id_map(check_value: Callable[[Any, str], Any]) -> Callable[[Any, str], str]:
    def render(predictions: Any, where: str) -> str:
        if not isinstance(predictions, dict) or not predictions:
            raise _fail(where, "expected a non-empty JSON object keyed by example id (a list has no ids)")
        for key, value in predictions.items():
            _field(key, f"{where}, an id")
            check_value(value, f"{where}, id {key!r}")
        return json.dumps(predictions, ensure_ascii=False) + "\n"

    return render


def _answer(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _fail(where, f"{value!r} is not an answer string")


def _ranking(value: Any, where: str) -> None:
    if not isinstance(value, list) or not value:
        raise _fail(where, f"{value!r} is not a non-empty list of entity ids, best first")
    for entity in value:
        _field(entity, where)


@dataclasses.dataclass(frozen=True)
class SubmissionFormat:
    """How one task's predictions file becomes its leaderboard file ``test-<lang>.<extension>``."""

    extension: str
    predictions: str  # what ``<task>.<lang>.json`` must contain
    render: Callable[[Any, str], str]


_QA_FORMAT = SubmissionFormat("json", "a JSON object {question id: answer text}", _id_map(_answer))
_NLI = ("entailment", "neutral", "contradiction")
SUBMISSION_FORMATS: Mapping[str, SubmissionFormat] = {
    "xnli": SubmissionFormat("tsv", f"a JSON list of labels from {list(_NLI)}", _labels({x: x for x in _NLI}, str)),
    # PAWS-X label 1 means paraphrase; the catalog's label names are accepted as well as 0/1.
    "pawsx": SubmissionFormat(
        "tsv",
        'a JSON list of 0/1 (or "different_meaning"/"paraphrase")',
        _labels({0: "0", 1: "1", "0": "0", "1": "1", "different_meaning": "0", "paraphrase": "1"}, str),
    ),
    "xcopa": SubmissionFormat(
        "jsonl",
        "a JSON list of chosen alternatives, 0 or 1",
        _labels({0: 0, 1: 1, "0": 0, "1": 1}, lambda label: json.dumps({"label": label})),
    ),
    "udpos": SubmissionFormat("tsv", "a JSON list of sentences, each a list of tags", _tags),
    "panx": SubmissionFormat("tsv", "a JSON list of sentences, each a list of tags", _tags),
    "xquad": _QA_FORMAT,
    "mlqa": _QA_FORMAT,
    "tydiqa": _QA_FORMAT,
    "bucc2018": SubmissionFormat("tsv", "a JSON list of [source id, target id] pairs", _bucc),
    "tatoeba": SubmissionFormat("tsv", "a JSON list of retrieved target indices", _tatoeba),
    "mewslix": SubmissionFormat(
        "json", "a JSON object {mention id: [entity ids, best first]}", _id_map(_ranking)
    ),
}
_UNCONFIRMED_FORMATS = {
    "lareqa": "google-research/xtreme's evaluate.py has no LAReQA reader and lists no LAReQA languages, "
    "so its leaderboard file format is not known",
}


def _prediction_files(predictions_dir: Path, split: str) -> dict[tuple[str, str], Path]:
    """(task, language) -> its predictions file: ``<task>.<lang>.json``, or ``<task>.<lang>.<split>.json``
    as the evaluator names them (files of other splits are left out)."""
    if not predictions_dir.is_dir():
        raise ResultsError(f"predictions directory {predictions_dir} does not exist")
    chosen: dict[tuple[str, str], Path] = {}
    other_splits: set[str] = set()
    for file in sorted(predictions_dir.glob("*.json")):
        parts = file.name.split(".")[:-1]
        if len(parts) not in (2, 3) or not all(parts):
            raise ResultsError(
                f"{file}: prediction files are named <task>.<lang>.json or <task>.<lang>.<split>.json, "
                "e.g. xnli.de.json or xnli.de.test.json"
            )
        if len(parts) == 3 and parts[2] != split:
            other_splits.add(parts[2])
            continue
        key = (parts[0], parts[1])
        if key in chosen:
            raise ResultsError(f"{chosen[key]} and {file} both hold {key[0]}.{key[1]} predictions; keep one")
        chosen[key] = file
    if not chosen:
        found = f" (found splits {sorted(other_splits)}; the leaderboard scores test-set predictions)"
        raise ResultsError(f"{predictions_dir} has no {split!r} prediction files" + (found if other_splits else ""))
    return chosen


def _read_predictions(predictions_dir: Path, split: str) -> dict[str, dict[str, str]]:
    """task -> language -> rendered leaderboard file text, every file validated."""
    rendered: dict[str, dict[str, str]] = {}
    for (task, language), file in _prediction_files(predictions_dir, split).items():
        if task in _UNCONFIRMED_FORMATS:
            raise ResultsError(f"{file}: cannot write a {task} submission: {_UNCONFIRMED_FORMATS[task]}")
        if task not in SUBMISSION_FORMATS:
            raise ResultsError(
                f"{file}: {task!r} is not a leaderboard task; the submission tasks are {sorted(SUBMISSION_FORMATS)} "
                "(keep other predictions out of the predictions directory)"
            )
        try:
            predictions = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ResultsError(f"{file}: not valid UTF-8 JSON ({e})") from e
        fmt = SUBMISSION_FORMATS[task]
        try:
            rendered.setdefault(task, {})[language] = fmt.render(predictions, str(file))
        except ResultsError as e:
            raise ResultsError(f"{e}. {task} predictions files hold {fmt.predictions}") from e
    return rendered


def _check_replaceable(directory: Path) -> None:
    for entry in directory.iterdir():
        files = list(entry.iterdir()) if entry.is_dir() and entry.name in SUBMISSION_FORMATS else None
        if files is None or any(not f.is_file() or not f.name.startswith("test-") for f in files):
            raise ResultsError(
                f"will not replace {directory}: {entry} is not part of a leaderboard submission; remove it yourself"
            )


def write_submission(
    directory: str | os.PathLike[str],
    predictions_dir: str | os.PathLike[str],
    *,
    split: str = "test",
    expected_languages: Mapping[str, Sequence[str]] | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write predictions files as the leaderboard folder (see ``ResultsStore.write_submission``)."""
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise ResultsError(f"submission directory {directory} already exists; pass overwrite=True (--overwrite)")
    if directory.exists() and not directory.is_dir():
        raise ResultsError(f"submission path {directory} is a file, not a directory")
    rendered = _read_predictions(Path(predictions_dir), split)
    if expected_languages is not None:
        for task, languages in rendered.items():
            if task not in expected_languages:
                raise ResultsError(f"expected_languages has no entry for task {task!r}; give its official languages")
            missing = [lang for lang in expected_languages[task] if lang not in languages]
            if missing:
                raise ResultsError(
                    f"{task}: no predictions for languages {missing}; expected a {task}.<lang> predictions file "
                    f"for each in {predictions_dir}"
                )
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        for task, languages in rendered.items():
            (staging / task).mkdir()
            for language, text in languages.items():
                (staging / task / f"test-{language}.{SUBMISSION_FORMATS[task].extension}").write_text(
                    text, encoding="utf-8"
                )
        if directory.exists():
            _check_replaceable(directory)
            shutil.rmtree(directory)
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(directory.glob("*/test-*"))
