"""Span QA metrics equal to the official scripts: SQuAD v1.1, SQuAD 2.0 and MLQA.

Every metric fn has seqio's signature ``fn(targets, predictions)``: ``targets[i]`` is the list of
gold answer texts of example i (empty: unanswerable, SQuAD 2.0 only), ``predictions[i]`` the
predicted text ("" = no answer); or both are keyed by question id (``{id: [answers]}``, ``{id:
text}``), as span decoding gives them and the official scripts read them, and are paired by id.
Scores are percentages, summed and divided in the scripts' order so values match them bit for bit.

- ``squad_v1``: SQuAD v1.1 ``evaluate-v1.1.py`` (google-research/xtreme
  ``third_party/evaluate_squad.py``), which XTREME uses for XQuAD and TyDiQA-GoldP: lowercase,
  drop ASCII punctuation, drop English articles, split on whitespace; EM and token F1, each the
  maximum over the gold answers.
- ``squad_v2``: SQuAD 2.0 ``evaluate-v2.0.py`` without a no-answer probability file: gold
  answers that normalize to nothing are dropped (none left: the gold is ""), F1 with an empty
  side is 1 only when both are empty, and ``has_answer_*`` / ``no_answer_*`` split the scores
  by whether the question has answers (``HasAns_*`` / ``NoAns_*`` there).
  ``squad_v2_best_thresholds`` adds the script's ``best_exact`` / ``best_f1`` and thresholds from
  per-question no-answer probabilities; ``squad_v2_thresholds`` is its metric fn, which reads them
  from the decoder's ``aux_values`` (seqio's ``(targets, predictions, aux_values)`` form).
- ``mlqa(lang)``: MLQA's ``mlqa_evaluation_v1.py`` (xtreme ``third_party/evaluate_mlqa.py``):
  Unicode punctuation, the language's articles, and for Chinese one token per CJK character.
"""

from __future__ import annotations

import collections
import functools
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

MetricFn = Callable[[Sequence[Sequence[str]], Sequence[str]], dict[str, float]]

_ASCII_PUNCTUATION = frozenset(string.punctuation)
_ENGLISH_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
# MLQA: articles per language (none for Hindi and Chinese).
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": _ENGLISH_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # The script's pattern is "\sال^|ال"; its first branch can never match (`^` after text), so
    # every "ال" is replaced by a space.
    "ar": re.compile("ال"),
    "zh": None,
}
_MLQA_WHITESPACE_LANGS = frozenset(["en", "es", "hi", "vi", "de", "ar"])
_CJK = re.compile("[\u4e00-\u9fa5]")


def _by_id(targets: Any, predictions: Any, *per_question: Mapping[str, Any]) -> tuple[list[Any], ...]:
    """Id-keyed targets and predictions (and any other per-question mappings) as lists in the targets'
    order; lists pass through. Every question needs its prediction and no prediction may name an unknown id."""
    if not isinstance(targets, Mapping) and not isinstance(predictions, Mapping) and not per_question:
        return list(targets), list(predictions)
    keyed = [("targets", targets), ("predictions", predictions)] + [("per-question values", m) for m in per_question]
    for name, values in keyed:
        if not isinstance(values, Mapping):
            raise ValueError(f"{name} must be keyed by question id like the targets, got a {type(values).__name__}")
    for name, values in keyed[1:]:
        if values.keys() != targets.keys():
            missing, extra = sorted(set(targets) - set(values)), sorted(set(values) - set(targets))
            raise ValueError(f"{name} and targets name different questions (missing: {missing[:3]}, unknown: {extra[:3]})")
    return tuple([values[qid] for qid in targets] for _, values in keyed)


def _check(targets: Sequence[Any], predictions: Sequence[Any]) -> None:
    if len(targets) != len(predictions):
        raise ValueError(f"got {len(targets)} targets but {len(predictions)} predictions; score them as pairs")
    if not targets:
        raise ValueError("no examples to score: targets and predictions are empty")
    for i, (gold, pred) in enumerate(zip(targets, predictions)):
        if isinstance(gold, str) or not all(isinstance(g, str) for g in gold):
            raise ValueError(f"example {i}: gold answers must be a list of strings, got {gold!r}")
        if not isinstance(pred, str):
            raise ValueError(f"example {i}: prediction must be a string, got {pred!r}")


def normalize_squad(text: str) -> str:
    """SQuAD's answer normalization: lowercase, no ASCII punctuation, no a/an/the, single spaces."""
    text = "".join(c for c in text.lower() if c not in _ASCII_PUNCTUATION)
    return " ".join(_ENGLISH_ARTICLES.sub(" ", text).split())


def _token_f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    common = collections.Counter(prediction_tokens) & collections.Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0
    precision = 1.0 * same / len(prediction_tokens)
    recall = 1.0 * same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def _max_em_f1(normalize: Callable[[str], str], prediction: str, golds: Sequence[str], index: int) -> tuple[bool, float]:
    if not golds:
        raise ValueError(f"example {index}: no gold answers; an unanswerable question needs the squad_v2 metric")
    pred = normalize(prediction)
    exact = max(pred == normalize(g) for g in golds)
    f1 = max(_token_f1(pred.split(), normalize(g).split()) for g in golds)
    return exact, f1


def _em_f1(normalize: Callable[[str], str], targets: Sequence[Sequence[str]], predictions: Sequence[str]) -> dict[str, float]:
    targets, predictions = _by_id(targets, predictions)
    _check(targets, predictions)
    exact_match = f1 = 0
    for i, (golds, prediction) in enumerate(zip(targets, predictions)):
        e, f = _max_em_f1(normalize, prediction, golds, i)
        exact_match += e
        f1 += f
    return {"exact_match": 100.0 * exact_match / len(targets), "f1": 100.0 * f1 / len(targets)}


def squad_v1(targets: Sequence[Sequence[str]], predictions: Sequence[str]) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1 (SQuAD, XQuAD, TyDiQA-GoldP)."""
    return _em_f1(normalize_squad, targets, predictions)


def _v2_tokens(text: str) -> list[str]:
    return normalize_squad(text).split() if text else []


def _v2_f1(gold: str, prediction: str) -> float:
    gold_tokens, pred_tokens = _v2_tokens(gold), _v2_tokens(prediction)
    if not gold_tokens or not pred_tokens:
        return int(gold_tokens == pred_tokens)
    return _token_f1(pred_tokens, gold_tokens)


def _v2_raw(targets: Sequence[Sequence[str]], predictions: Sequence[str]) -> tuple[list[int], list[float]]:
    """Per-question exact match and F1 (``get_raw_scores`` of evaluate-v2.0.py)."""
    _check(targets, predictions)
    exact: list[int] = []
    f1: list[float] = []
    for golds, prediction in zip(targets, predictions):
        kept = [g for g in golds if normalize_squad(g)] or [""]
        exact.append(max(int(normalize_squad(g) == normalize_squad(prediction)) for g in kept))
        f1.append(max(_v2_f1(g, prediction) for g in kept))
    return exact, f1


def squad_v2(targets: Sequence[Sequence[str]], predictions: Sequence[str]) -> dict[str, float]:
    """SQuAD 2.0 exact match and F1, overall and split by has-answer / no-answer questions."""
    targets, predictions = _by_id(targets, predictions)
    exact, f1 = _v2_raw(targets, predictions)
    scores = {"exact_match": 100.0 * sum(exact) / len(exact), "f1": 100.0 * sum(f1) / len(f1)}
    for name, wanted in (("has_answer", True), ("no_answer", False)):
        rows = [i for i, golds in enumerate(targets) if bool(golds) == wanted]
        if rows:
            scores[f"{name}_exact_match"] = 100.0 * sum(exact[i] for i in rows) / len(rows)
            scores[f"{name}_f1"] = 100.0 * sum(f1[i] for i in rows) / len(rows)
    return scores


def _best_threshold(
    targets: Sequence[Sequence[str]], predictions: Sequence[str], raw: Sequence[float], no_answer: Sequence[float]
) -> tuple[float, float]:
    # evaluate-v2.0.py find_best_thresh: start from answering nothing (every no-answer question right),
    # then, by increasing no-answer probability, switch each question to its prediction.
    score = best = sum(1 for golds in targets if not golds)
    threshold = 0.0
    for i in sorted(range(len(targets)), key=lambda i: no_answer[i]):
        score += raw[i] if targets[i] else (-1 if predictions[i] else 0)
        if score > best:
            best, threshold = score, no_answer[i]
    return 100.0 * best / len(targets), threshold


def squad_v2_best_thresholds(
    targets: Sequence[Sequence[str]], predictions: Sequence[str], no_answer_probabilities: Sequence[float]
) -> dict[str, float]:
    """SQuAD 2.0's ``best_exact`` / ``best_f1`` and their thresholds, as evaluate-v2.0.py computes them with a
    no-answer probability file: the scores had every question whose no-answer probability exceeds the
    threshold been answered "" (``no_answer_probabilities[i]`` is question i's)."""
    if len(no_answer_probabilities) != len(targets):
        raise ValueError(
            f"squad_v2_best_thresholds: {len(no_answer_probabilities)} no-answer probabilities for "
            f"{len(targets)} questions; give one per question"
        )
    exact, f1 = _v2_raw(targets, predictions)
    best_exact, exact_threshold = _best_threshold(targets, predictions, exact, no_answer_probabilities)
    best_f1, f1_threshold = _best_threshold(targets, predictions, f1, no_answer_probabilities)
    return {
        "best_exact": best_exact,
        "best_exact_thresh": exact_threshold,
        "best_f1": best_f1,
        "best_f1_thresh": f1_threshold,
    }


def squad_v2_thresholds(
    targets: Mapping[str, Sequence[str]], predictions: Mapping[str, str], aux_values: Mapping[str, Any]
) -> dict[str, float]:
    """``squad_v2_best_thresholds`` as a seqio metric fn: the no-answer scores come from the span
    decoder's ``aux_values["no_answer_score"]`` ({question id: score}), as evaluate-v2.0.py reads
    them from ``--na-prob-file``."""
    if "no_answer_score" not in aux_values:
        raise ValueError(
            f"squad_v2_thresholds needs aux_values['no_answer_score'] from span decoding; got {sorted(aux_values)}"
        )
    targets, predictions, no_answer = _by_id(targets, predictions, aux_values["no_answer_score"])
    return squad_v2_best_thresholds(targets, predictions, no_answer)


def _is_mlqa_punctuation(c: str) -> bool:
    return c in _ASCII_PUNCTUATION or unicodedata.category(c).startswith("P")


def _mixed_segmentation(text: str) -> list[str]:
    """Whitespace tokens, with every CJK character and punctuation mark a token of its own."""
    tokens: list[str] = []
    pending = ""
    for c in text:
        if _CJK.match(c) or _is_mlqa_punctuation(c):
            tokens.extend(pending.split())
            pending = ""
            tokens.append(c)
        else:
            pending += c
    tokens.extend(pending.split())
    return tokens


def _check_mlqa_language(lang: str) -> None:
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA normalization knows the languages {sorted(_MLQA_ARTICLES)}, not {lang!r}")


def normalize_mlqa(text: str, lang: str) -> str:
    """MLQA's language-aware normalization (lowercase, Unicode punctuation, articles, tokenization)."""
    _check_mlqa_language(lang)
    text = "".join(c for c in text.lower() if not _is_mlqa_punctuation(c))
    articles = _MLQA_ARTICLES[lang]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = text.split() if lang in _MLQA_WHITESPACE_LANGS else _mixed_segmentation(text)
    return " ".join(t for t in tokens if t.strip())


def mlqa_em_f1(targets: Sequence[Sequence[str]], predictions: Sequence[str], lang: str = "en") -> dict[str, float]:
    """MLQA exact match and F1 for context language `lang`."""
    _check_mlqa_language(lang)
    return _em_f1(functools.partial(normalize_mlqa, lang=lang), targets, predictions)


def mlqa(lang: str) -> MetricFn:
    """The MLQA metric fn of one language (seqio signature)."""
    _check_mlqa_language(lang)
    return functools.partial(mlqa_em_f1, lang=lang)
