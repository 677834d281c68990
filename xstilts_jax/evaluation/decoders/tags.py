"""Tag decoding (label kind "tags"): token predictions → per-sentence word tags.

Tagging tasks label each word's first subword (-1 elsewhere) and may split a long
sentence into pieces (features `idx`, `word_start`, `num_words`). `decode_tags` reduces
a piece's token predictions to word predictions with `first_subword_predictions`, and
`rejoin_tag_predictions` reassembles the pieces of each sentence in word order. Gold and
predicted tag names are scored by `evaluation.metrics.span_f1` (NER) or `pos_f1` (UD-POS).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from xstilts_jax.data.label_kinds import IGNORE_LABEL
from xstilts_jax.data.task_records import get_task_record
from xstilts_jax.errors import InputError
from xstilts_jax.evaluation.decoders.labels import argmax, label_names
from xstilts_jax.evaluation.forward import EvalSettings, forward_batches, gather_in_order
from xstilts_jax.models.model import Model


def first_subword_predictions(token_predictions: Sequence[int], labels: Sequence[int]) -> list[int]:
    """The predicted tags at the positions whose label is not -1 (each word's first subword), in order."""
    if len(token_predictions) != len(labels):
        raise InputError(
            f"first_subword_predictions: {len(token_predictions)} token predictions but {len(labels)} labels; "
            "pass the predictions and labels of the same padded row."
        )
    return [int(p) for p, label in zip(token_predictions, labels) if int(label) != IGNORE_LABEL]


def rejoin_tag_predictions(pieces: Iterable[Mapping]) -> dict[int, list[int]]:
    """Sentence idx → word predictions in word order, from pieces in any order.

    Each piece is {"idx", "word_start", "num_words", "word_predictions"} (one prediction
    per word of the piece). The pieces of a sentence must cover words 0, 1, ... without a
    gap or an overlap; a missing last piece cannot be detected here.
    """
    by_sentence: dict[int, list[tuple[int, int, list[int]]]] = defaultdict(list)
    for piece in pieces:
        idx, start, count = int(piece["idx"]), int(piece["word_start"]), int(piece["num_words"])
        predictions = [int(p) for p in piece["word_predictions"]]
        if len(predictions) != count:
            raise InputError(
                f"rejoin_tag_predictions: a piece of sentence {idx} starting at word {start} has num_words={count} "
                f"but {len(predictions)} word predictions."
            )
        by_sentence[idx].append((start, count, predictions))
    sentences = {}
    for idx, parts in sorted(by_sentence.items()):
        words: list[int] = []
        previous_start = None
        for start, count, predictions in sorted(parts, key=lambda part: (part[0], part[1])):
            if start != len(words) or start == previous_start:  # the second test catches repeated empty pieces
                problem = "a gap" if start > len(words) else "an overlap"
                raise InputError(
                    f"rejoin_tag_predictions: sentence {idx} has {problem} at word {min(start, len(words))}: a piece "
                    f"starts at word {start} after {len(words)} words; are pieces missing or repeated?"
                )
            words.extend(predictions)
            previous_start = start
        sentences[idx] = words
    return sentences


def decode_tags(model: Model, task: str, split: str, settings: EvalSettings) -> tuple[list[Any], list[Any]]:
    """Gold and predicted tag names per sentence: each word's first-subword prediction, pieces re-joined."""
    info = get_task_record(task)
    gold_pieces: list[dict[str, Any]] = []
    pred_pieces: list[dict[str, Any]] = []
    for batch, out in forward_batches(model, task, split, info.head, settings, argmax):
        for r in range(len(batch["idx"])):
            labels = batch["labels"][r]
            piece = {"idx": int(batch["idx"][r]), "word_start": int(batch["word_start"][r]), "num_words": int(batch["num_words"][r])}
            gold_pieces.append(dict(piece, word_predictions=first_subword_predictions(labels, labels)))
            pred_pieces.append(dict(piece, word_predictions=first_subword_predictions(out["prediction"][r], labels)))
    # the pieces of a sentence are on the host that read the sentence: re-join there, then gather
    gold, pred = rejoin_tag_predictions(gold_pieces), rejoin_tag_predictions(pred_pieces)
    return label_names(info, gather_in_order(gold)), label_names(info, gather_in_order(pred))
