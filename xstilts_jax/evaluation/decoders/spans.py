"""Span decoding (label kind "span", extractive QA): start/end logits of every window of an example → the answer text.

A QA example is featurized into windows (question + part of the context); each window's task
features carry `idx` (the example), `window`, `offsets` [len, 2] (per token, the character span
of the context it came from; -1 outside the context), `allow_no_answer` and the strings
`context` and `answers`. The forward pass keeps the `n_best_size` best start and end tokens
per window (`jax.lax.top_k`, on device); on the host every pair with both tokens in the context,
start <= end and at most `max_answer_length` tokens is a candidate scored start + end logit. The
example's answer is its best candidate over all windows, cut from the original context by
character offsets (exact for scripts without spaces). Where the data has unanswerable
questions (SQuAD 2.0), the answer is "" when the smallest no-answer score over the windows
(first token start + end) exceeds the best candidate's score by more than
`null_score_diff_threshold` (Hugging Face / XTREME `run_squad.py`).

Gold and predictions are keyed by question id, as SQuAD's scripts and the XTREME leaderboard
files key them: `{id: [gold answers]}` and `{id: answer text}` (the evaluator writes the latter as
the predictions file). The auxiliary value `no_answer_score` is `{id: smallest no-answer score
minus best candidate score}` (Hugging Face's "null odds"; the best candidate's score counts as 0
when no window has one): the per-question value that evaluate-v2.0.py reads from its
`--na-prob-file` to find the best no-answer threshold (`qa_metrics.squad_v2_thresholds`).

Multi-host: each host reads its own data shard twice (window metadata, then the forward pass) and
decodes its own examples, whose windows all come from one source example; the per-host answers
are gathered in process order. Gold answer lists and predicted texts are scored by
`evaluation.qa_metrics` (SQuAD v1.1, SQuAD 2.0, MLQA).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import seqio

from xstilts_jax.data.batches import default_length
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import ConfigError, InputError
from xstilts_jax.evaluation.forward import EvalSettings, forward_batches, gather_in_order
from xstilts_jax.models.model import Model

# (score, character start, character end) of one answer candidate.
Candidate = tuple[float, int, int]
NO_ANSWER_SCORE = "no_answer_score"  # the auxiliary value's name (see the module docstring)


def window_candidates(
    start_index: np.ndarray,
    start_score: np.ndarray,
    end_index: np.ndarray,
    end_score: np.ndarray,
    offsets: np.ndarray,
    max_answer_length: int,
) -> list[Candidate]:
    """Valid answer candidates of one window from its best start and end tokens.

    offsets: [len, 2] character span per token, -1 outside the context (tokens past `len`, e.g.
    padding, are never valid).
    """
    out = []
    n = len(offsets)
    for s, s_score in zip(start_index.tolist(), start_score.tolist()):
        if s >= n or offsets[s, 0] < 0:
            continue
        for e, e_score in zip(end_index.tolist(), end_score.tolist()):
            if e >= n or offsets[e, 0] < 0 or e < s or e - s + 1 > max_answer_length:
                continue
            char_start, char_end = int(offsets[s, 0]), int(offsets[e, 1])
            if char_end > char_start:
                out.append((s_score + e_score, char_start, char_end))
    return out


def best_answer(
    context: str,
    candidates: Sequence[Candidate],
    null_scores: Sequence[float],
    allow_no_answer: bool,
    null_score_diff_threshold: float = 0.0,
) -> str:
    """The answer text of one example from the candidates and no-answer scores of all its windows."""
    best = max(candidates, key=lambda c: c[0], default=None)
    if best is None:
        return ""
    if allow_no_answer and no_answer_score(candidates, null_scores) > null_score_diff_threshold:
        return ""
    return context[best[1] : best[2]]


def no_answer_score(candidates: Sequence[Candidate], null_scores: Sequence[float]) -> float:
    """The smallest no-answer score of an example's windows minus its best candidate's score (0 without one)."""
    return min(null_scores) - max((c[0] for c in candidates), default=0.0)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


@dataclasses.dataclass
class _Example:
    id: str
    context: str
    answers: list[str]
    allow_no_answer: bool
    candidates: list[Candidate] = dataclasses.field(default_factory=list)
    null_scores: list[float] = dataclasses.field(default_factory=list)


def _read_windows(task: str, split: str, length: int) -> tuple[dict[int, _Example], dict[tuple[int, int], np.ndarray]]:
    """This host's examples and per-window offsets, from the task's own features.

    Evaluation gives each host the examples with `idx % hosts == host` (`data/batches.host_batches`).
    """
    hosts, host = jax.process_count(), jax.process_index()
    ds = seqio.get_mixture_or_task(task).get_dataset(
        {"inputs": length}, split=split, shuffle=False, num_epochs=1, trim_output_features=False, try_in_mem_cache=False
    )
    if hosts > 1:
        ds = ds.filter(lambda ex: ex["idx"] % hosts == host)
    missing = {"idx", "id", "window", "offsets", "context", "answers", "allow_no_answer"} - set(ds.element_spec)
    if missing:
        raise ConfigError(
            f"Task {task!r} is scored by span decoding but its features lack {sorted(missing)}; featurize it with "
            "the catalog's QA preprocessor (tasks.qa_features.encode_qa)."
        )
    examples: dict[int, _Example] = {}
    offsets: dict[tuple[int, int], np.ndarray] = {}
    for row in ds.as_numpy_iterator():
        idx = int(row["idx"])
        if idx not in examples:
            examples[idx] = _Example(
                _text(row["id"]), _text(row["context"]), [_text(a) for a in row["answers"]], bool(row["allow_no_answer"])
            )
        offsets[(idx, int(row["window"]))] = row["offsets"]
    return examples, offsets


@dataclasses.dataclass(frozen=True)
class TopK:
    """The forward's selection for span heads: the `k` best start and end tokens and the no-answer score.

    A frozen dataclass, so equal `k` reuse one compiled forward."""

    k: int

    def __call__(self, outputs: Mapping[str, jax.Array]) -> Mapping[str, jax.Array]:
        start_score, start_index = jax.lax.top_k(outputs["start_logits"], self.k)
        end_score, end_index = jax.lax.top_k(outputs["end_logits"], self.k)
        return {
            "start_score": start_score,
            "start_index": start_index,
            "end_score": end_score,
            "end_index": end_index,
            "null_score": outputs["no_answer_score"],
        }


def decode_spans(
    model: Model, task: str, split: str, settings: EvalSettings
) -> tuple[dict[str, list[str]], dict[str, str], dict[str, dict[str, float]]]:
    """Gold answer lists, predicted answer texts and no-answer scores of every question of a span QA
    task, each keyed by question id (in example order)."""
    info = get_task_record(task)
    length = settings.length or default_length(task, settings.input_lengths)
    decoding = settings.spans
    examples, offsets = _read_windows(task, split, length)
    select = TopK(min(decoding.n_best_size, length))
    for batch, out in forward_batches(model, task, split, info.head, settings, select):
        for r, (idx, window) in enumerate(zip(batch["idx"].tolist(), batch["window"].tolist())):
            example = examples[idx]
            example.candidates += window_candidates(
                out["start_index"][r],
                out["start_score"][r],
                out["end_index"][r],
                out["end_score"][r],
                offsets[(idx, window)],
                decoding.max_answer_length,
            )
            example.null_scores.append(float(out["null_score"][r]))
    local = {
        idx: [
            ex.id,
            ex.answers,
            best_answer(ex.context, ex.candidates, ex.null_scores, ex.allow_no_answer, decoding.null_score_diff_threshold),
            no_answer_score(ex.candidates, ex.null_scores),
        ]
        for idx, ex in examples.items()
    }
    rows = gather_in_order(local)
    ids = [row[0] for row in rows]
    if len(set(ids)) != len(ids):
        repeated = next(i for i in ids if ids.count(i) > 1)
        raise InputError(
            f"{task} {split}: question id {repeated!r} is used by {ids.count(repeated)} questions; ids key the "
            "predictions (SQuAD format), so each question needs its own."
        )
    gold = {qid: answers for qid, answers, _, _ in rows}
    predicted = {qid: text for qid, _, text, _ in rows}
    return gold, predicted, {NO_ANSWER_SCORE: {qid: score for qid, _, _, score in rows}}
