"""Official-equivalent metrics for label, choice and tag tasks.

Ground truth: google-research/xtreme ``evaluate.py``. Its ``METRIC_FUNCTION`` table scores
``pawsx``/``xnli``/``tatoeba`` with ``accuracy`` and ``panx``/``udpos`` with ``f1`` (seqeval's
``f1_score``/``precision_score``/``recall_score`` in their default, conlleval-compatible mode);
``third_party/run_tag.py`` scores its dev sets the same way and ``third_party/run_xcopa.py`` uses
accuracy for XCOPA. Span QA and retrieval metrics live in their own modules.

Every public function has seqio's metric-fn signature ``fn(targets, predictions) -> dict[str, float]``
and returns percentages (0-100), as XTREME reports them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np


def _check_counts(targets: Sequence[Any], predictions: Sequence[Any]) -> None:
    if len(targets) != len(predictions):
        raise ValueError(f"got {len(targets)} targets but {len(predictions)} predictions; score them as pairs")
    if len(targets) == 0:
        raise ValueError("no examples to score: targets and predictions are empty")


def _label(value: Any, index: int) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"example {index}: label {value!r} is a {type(value).__name__}; expected a str or a number")


def accuracy(targets: Sequence[Any], predictions: Sequence[Any]) -> dict[str, float]:
    """Percentage of predictions equal to their target (XNLI, PAWS-X, XCOPA; ``evaluate.py:accuracy``).

    Labels may be strings, bytes (decoded as UTF-8) or numbers; a string compared with a number is an
    error, not a miss.
    """
    _check_counts(targets, predictions)
    correct = 0
    for index, (target, prediction) in enumerate(zip(targets, predictions)):
        target, prediction = _label(target, index), _label(prediction, index)
        if isinstance(target, str) != isinstance(prediction, str):
            raise ValueError(
                f"example {index}: target {target!r} and prediction {prediction!r} have different label types; "
                "map both to the same label space before scoring"
            )
        correct += int(target == prediction)
    # Same operation order as evaluate.py (fraction first, then * 100), so values match bit for bit.
    return {"accuracy": correct / len(predictions) * 100}


def _tag_sequences(
    targets: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]
) -> tuple[list[list[str]], list[list[str]]]:
    _check_counts(targets, predictions)
    y_true: list[list[str]] = []
    y_pred: list[list[str]] = []
    for index, (target, prediction) in enumerate(zip(targets, predictions)):
        if len(target) != len(prediction):
            raise ValueError(
                f"example {index}: target has {len(target)} tags but prediction has {len(prediction)}; "
                "predictions must be aligned to the target words"
            )
        y_true.append([_tag(tag, index) for tag in target])
        y_pred.append([_tag(tag, index) for tag in prediction])
    return y_true, y_pred


def _tag(value: Any, index: int) -> str:
    tag = value.decode("utf-8") if isinstance(value, bytes) else value
    # seqeval reads tag[0] as the chunk prefix, so an empty tag would crash deep inside it.
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"example {index}: tag {value!r} is not a non-empty string")
    return tag


def _seqeval_scores(targets: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, float]:
    # Imported here: seqeval pulls in scikit-learn, about two seconds of import time.
    from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

    y_true, y_pred = _tag_sequences(targets, predictions)
    with warnings.catch_warnings():
        # seqeval warns "<tag> seems not to be NE tag" for every bare (POS) tag; the scores are unaffected.
        warnings.simplefilter("ignore", UserWarning)
        # One micro-averaged call gives exactly the values of evaluate.py's three separate calls.
        # zero_division=0 returns what the default "warn" returns (0.0) without warning.
        precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=0)
    return {"f1": float(f1) * 100, "precision": float(precision) * 100, "recall": float(recall) * 100}


def span_f1(targets: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, float]:
    """Entity-level micro F1, precision and recall over tag sequences (WikiANN/PAN-X NER; ``evaluate.py:f1``).

    seqeval's default mode, as XTREME calls it: chunks follow conlleval's rules, so IOB2 (``B-``/``I-``),
    IOB1 (an ``I-`` after ``O`` or after another type opens a chunk) and IOBES (``E-``/``S-`` close one)
    are all read leniently rather than rejected. Entities never cross examples. With no entity in
    either targets or predictions every score is 0.0, which is what the official scorer prints.
    """
    return _seqeval_scores(targets, predictions)


def pos_f1(targets: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, float]:
    """UD-POS score exactly as XTREME reports it: seqeval chunk F1 over bare UPOS tags, not token accuracy.

    ``evaluate.py`` maps ``udpos`` to the same ``f1`` function as ``panx`` and feeds it the raw tags
    (``NOUN``, ``VERB``, ...). seqeval then takes each tag's first character as a chunk prefix and the
    rest as the type, so a run of identical tags is one chunk (``NOUN NOUN`` is a single "OUN" span) and
    tags starting with ``S``/``I`` (``SCONJ``, ``SYM``, ``INTJ``) follow IOBES/IOB rules. The published
    UD-POS numbers are this quantity, so it is reproduced rather than replaced by tag accuracy.
    """
    return _seqeval_scores(targets, predictions)
