"""XTREME / XTREME-R leaderboard submissions: each task's predictions rendered in the format its leaderboard reads.

The renderers live here; which target uses which format (and its official labels) is benchmark
knowledge on the target records (``TargetRecord.submission``, filled by the catalog). A predictions
file is named after an eval task, whose records give its target and language.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from xstilts_jax.data.task_records import get_task_record, registered_task_records
from xstilts_jax.evaluation.aggregation import Benchmark
from xstilts_jax.experiments.results.records import ResultsError
from xstilts_jax.experiments.targets import registered_targets, target_of_eval_task

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
    """How one task's predictions file becomes its leaderboard file ``test-<lang>.<extension>``.

    A target's record names its format (``TargetRecord.submission``, filled by the catalog).
    """

    extension: str
    predictions: str  # what ``<eval task>.json`` must contain
    render: Callable[[Any, str], str]


@dataclasses.dataclass(frozen=True)
class NoSubmissionFormat:
    """A leaderboard target whose file format is not known, and why (a submission of it is refused)."""

    reason: str


def label_format(official: Mapping[Any, Any], predictions: str, *, jsonl: bool = False) -> SubmissionFormat:
    """One label per example: ``official`` maps each accepted prediction to the official label, written
    one per line (``.tsv``) or as ``{"label": ...}`` JSON lines (``.jsonl``)."""
    if jsonl:
        return SubmissionFormat("jsonl", predictions, _labels(official, lambda label: json.dumps({"label": label})))
    return SubmissionFormat("tsv", predictions, _labels(official, str))


TAGS_FORMAT = SubmissionFormat("tsv", "a JSON list of sentences, each a list of tags", _tags)
QA_FORMAT = SubmissionFormat("json", "a JSON object {question id: answer text}", _id_map(_answer))
BITEXT_PAIRS_FORMAT = SubmissionFormat("tsv", "a JSON list of [source id, target id] pairs", _bucc)
RETRIEVED_INDEX_FORMAT = SubmissionFormat("tsv", "a JSON list of retrieved target indices", _tatoeba)
RANKING_FORMAT = SubmissionFormat("json", "a JSON object {mention id: [entity ids, best first]}", _id_map(_ranking))


def _leaderboard_targets() -> dict[str, SubmissionFormat | NoSubmissionFormat]:
    """Target name -> its submission format, for every registered target that has one."""
    return {name: record.submission for name, record in registered_targets().items() if record.submission is not None}


def _eval_task(file: Path) -> tuple[str, str | None]:
    """The eval task a predictions file holds and its split (None: the file names no split)."""
    stem = file.name[: -len(".json")]
    task, _, suffix = stem.rpartition(".")
    for name, file_split in ((stem, None), (task, suffix)):
        if name in registered_task_records() and target_of_eval_task(name) is not None:
            return name, file_split
    raise ResultsError(
        f"{file}: prediction files are named <task>.<lang>.json or <task>.<lang>.<split>.json after an eval task "
        f"of a registered target, e.g. xnli.de.json or xnli.de.test.json; {stem!r} names none"
    )


def _prediction_files(predictions_dir: Path, split: str) -> dict[str, Path]:
    """Eval task -> its predictions file: ``<task>.json``, or ``<task>.<split>.json`` as the evaluator
    names them (files of other splits are left out)."""
    if not predictions_dir.is_dir():
        raise ResultsError(f"predictions directory {predictions_dir} does not exist")
    chosen: dict[str, Path] = {}
    other_splits: set[str] = set()
    for file in sorted(predictions_dir.glob("*.json")):
        task, file_split = _eval_task(file)
        if file_split is not None and file_split != split:
            other_splits.add(file_split)
            continue
        if task in chosen:
            raise ResultsError(f"{chosen[task]} and {file} both hold {task} predictions; keep one")
        chosen[task] = file
    if not chosen:
        found = f" (found splits {sorted(other_splits)}; the leaderboard scores test-set predictions)"
        raise ResultsError(f"{predictions_dir} has no {split!r} prediction files" + (found if other_splits else ""))
    return chosen


def _read_predictions(predictions_dir: Path, split: str) -> dict[str, dict[str, str]]:
    """Target -> language -> rendered leaderboard file text, every file validated (target and language
    come from the eval task's records)."""
    formats = _leaderboard_targets()
    rendered: dict[str, dict[str, str]] = {}
    for task, file in _prediction_files(predictions_dir, split).items():
        target, language = target_of_eval_task(task).name, get_task_record(task).language
        fmt = formats.get(target)
        if isinstance(fmt, NoSubmissionFormat):
            raise ResultsError(f"{file}: cannot write a {target} submission: {fmt.reason}")
        if fmt is None:
            leaderboard = sorted(name for name, known in formats.items() if isinstance(known, SubmissionFormat))
            raise ResultsError(
                f"{file}: {target!r} is not a leaderboard task; the submission tasks are {leaderboard} "
                "(keep other predictions out of the predictions directory)"
            )
        try:
            predictions = json.loads(file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ResultsError(f"{file}: not valid UTF-8 JSON ({e})") from e
        try:
            rendered.setdefault(target, {})[language] = fmt.render(predictions, str(file))
        except ResultsError as e:
            raise ResultsError(f"{e}. {target} predictions files hold {fmt.predictions}") from e
    return rendered


def lacks(files: Sequence[Path], benchmark: Benchmark) -> dict[str, tuple[str, ...]]:
    """What a written submission lacks for evaluate.py to report ``benchmark``'s overall score: task ->
    its official languages without a ``<task>/test-<lang>.*`` file (all of them for an absent task)."""
    written: dict[str, set[str]] = {}
    for file in files:
        written.setdefault(file.parent.name, set()).add(file.name[len("test-") :].split(".")[0])
    gaps = {
        task: tuple(lang for lang in benchmark.languages[task] if lang not in written.get(task, set()))
        for task in benchmark.tasks
    }
    return {task: missing for task, missing in gaps.items() if missing}


def lacking_lines(files: Sequence[Path], benchmark: Benchmark) -> list[str]:
    """The listing of what a written submission lacks (``lacks``), one line per task: its missing official
    languages, "all languages", or, for a target no leaderboard file exists for, that it is never written and why."""
    written = {file.parent.name for file in files}
    formats = _leaderboard_targets()
    lines = []
    for task, languages in lacks(files, benchmark).items():
        known = formats.get(task)
        if isinstance(known, NoSubmissionFormat):
            lines.append(f"  {task}: never written: {known.reason}")
        else:
            lines.append(f"  {task}: {', '.join(languages) if task in written else 'all languages'}")
    return lines


def _check_replaceable(directory: Path) -> None:
    for entry in directory.iterdir():
        files = list(entry.iterdir()) if entry.is_dir() and entry.name in _leaderboard_targets() else None
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
    formats = _leaderboard_targets()
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
                (staging / task / f"test-{language}.{formats[task].extension}").write_text(
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
