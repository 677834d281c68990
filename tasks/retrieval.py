"""Retrieval tasks: BUCC 2018, Tatoeba, LAReQA (XQuAD-R) and Mewsli-X.

Names follow the catalog's scheme (`tasks/registry.py`): `<family>.<lang>` eval tasks, their
`<family>.all_langs` mixture, and for the dual-encoder families an English training task
`<family>` (no `.zeroshot` mixture: seqio mixes only tasks with the same features).

- `bucc2018.{de,fr,ru,zh}` (label kind "mining"): sentences of `<lang>` mined against English by
  ratio margin, the threshold tuned on dev; F1. Zero-shot: no training of its own.
- `tatoeba.<lang>` (XTREME-R's 41 languages, "nearest"): each `<lang>` sentence's nearest English
  sentence by cosine (xtreme `evaluate_retrieval.py`'s direction), as its line in xtreme's sorted
  English file (the official labels' numbering); accuracy. Zero-shot.
- `lareqa.<lang>` (XQuAD-R's 11, "ranking"): questions in `<lang>` ranked against the answer
  sentences of all 11 languages; mAP@20. `lareqa` trains the dual encoder on SQuAD v1.1
  (question, answer sentence + paragraph) pairs.
- `mewslix.<lang>` (11, "ranking"): WikiNews mentions in `<lang>` ranked against Mewsli-X's
  entity candidate set; MRR@20. `mewslix` trains the dual encoder on English Wikipedia
  mention–entity pairs.

BUCC and Tatoeba share the parameter-free `sentence_embedding` head: mean pooling of hidden
state round(14/24 × depth) (X-STILTs: layer 14 of XLM-R Large's 24; gin
`embedding_representation` overrides it). LAReQA and Mewsli-X each train a `dual_encoder`
head (mean pooling of the last layer, in-batch negatives). Examples are single texts (a query
or a candidate, numbered by `idx`); which is which and the gold come from the readers in
`tasks/sources/retrieval.py`, carried by each task's record (`TaskRecord.retrieval_reader`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping, Sequence

import seqio
import tensorflow as tf

from tasks import preprocessors
from tasks.registry import register_mixture, scoring_split
from tasks.sources import retrieval as rs
from tasks.sources import SourceSpec
from tasks.sources.files import file_source
from tasks.vocabulary import MODEL_VOCABULARY
from xstilts_jax.data.label_kinds import LABEL_KINDS
from xstilts_jax.data.task_records import TaskRecord, register_task
from xstilts_jax.errors import InputError, MissingSplitError
from xstilts_jax.evaluation import metrics
from xstilts_jax.evaluation.retrieval import RetrievalSplit
from xstilts_jax.evaluation.retrieval_metrics import bucc_f1, map_at_20, mrr_at_20
from xstilts_jax.experiments.results.submission import (
    BITEXT_PAIRS_FORMAT,
    RANKING_FORMAT,
    RETRIEVED_INDEX_FORMAT,
    NoSubmissionFormat,
    SubmissionFormat,
)
from xstilts_jax.experiments.targets import TargetRecord, register_target
from xstilts_jax.models.heads import HeadSpec

BUCC_LANGS: tuple[str, ...] = ("de", "fr", "ru", "zh")
TATOEBA_LANGS: tuple[str, ...] = tuple(rs.TATOEBA_CODES)
LAREQA_LANGS: tuple[str, ...] = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
# google-research/xtreme `third_party/utils_mewslix.py`: MENTION_LANGUAGES.
MEWSLIX_LANGS: tuple[str, ...] = ("ar", "de", "en", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk")

SENTENCE_EMBEDDING = HeadSpec("embedding", pooling="mean", layer_fraction=14 / 24)
DUAL_ENCODER = HeadSpec("dual_encoder", pooling="mean")

EvalReader = Callable[[str, str], rs.EvalData]  # (lang, file split) -> EvalData
PairReader = Callable[[str], Sequence[rs.Pair]]  # file split -> pairs


@dataclasses.dataclass(frozen=True)
class Family:
    """A retrieval target: its languages, label kind, head, metrics, readers and what the README says."""

    languages: tuple[str, ...]
    label_kind: str
    head: str
    spec: HeadSpec
    metric_fns: tuple[Callable[..., dict[str, float]], ...]
    read_eval: EvalReader
    eval_splits: Mapping[str, str]  # our split -> the files' split name
    citation: str
    license: str
    how_to_obtain: str
    read_train: PairReader | None = None
    train_splits: Mapping[str, str] = dataclasses.field(default_factory=dict)
    train_citation: str = ""
    train_how_to_obtain: str = ""
    submission: SubmissionFormat | NoSubmissionFormat | None = None  # its XTREME leaderboard file format
    # XTREME-R's input lengths (google-research/xtreme scripts/run_eval_*.sh), None: the run's / 512
    query_length: int | None = None
    candidate_length: int | None = None
    shared_candidates: bool = False  # every language searches the same candidate set (embedded once)
    scoring_split: str | None = None  # the target's split (None: its tasks', dev where they have it)


FAMILIES: dict[str, Family] = {
    "bucc2018": Family(
        BUCC_LANGS, "mining", "sentence_embedding", SENTENCE_EMBEDDING, (bucc_f1,), rs.bucc,
        {"validation": "dev", "test": "test"},
        "Zweigenbaum et al. 2018, BUCC shared task", "research use (BUCC 2018 shared task data)",
        rs.BUCC_LAYOUT.how_to_obtain, submission=BITEXT_PAIRS_FORMAT,
        # xtreme's run_bucc2018.sh / evaluate_retrieval.py: the threshold tuned on dev is applied to test
        scoring_split="test",
    ),
    "tatoeba": Family(
        TATOEBA_LANGS, "nearest", "sentence_embedding", SENTENCE_EMBEDDING, (metrics.accuracy,), rs.tatoeba,
        {"test": "test"},
        "Artetxe & Schwenk 2019, LASER Tatoeba test sets", "CC BY 2.0 FR (Tatoeba)", rs.TATOEBA_LAYOUT.how_to_obtain,
        submission=RETRIEVED_INDEX_FORMAT,
    ),
    "lareqa": Family(
        LAREQA_LANGS, "ranking", "lareqa", DUAL_ENCODER, (map_at_20,),
        functools.partial(rs.lareqa, LAREQA_LANGS), {"test": "test"},
        "Roy et al. 2020, LAReQA (XQuAD-R)", "CC BY-SA 4.0", rs.LAREQA_LAYOUT.how_to_obtain,
        read_train=rs.squad_pairs, train_splits={"train": "train", "validation": "dev"},
        train_citation="Rajpurkar et al. 2016, SQuAD v1.1 (question, answer sentence + paragraph)",
        train_how_to_obtain=rs.SQUAD_LAYOUT.how_to_obtain,
        # scripts/run_eval_lareqa.sh: MAX_QUERY_LEN=96, MAX_ANSWER_LEN=256 (answer sentence + paragraph)
        query_length=96, candidate_length=256, shared_candidates=True,
        # A named choice (README "Scoring against the official evaluate.py"): no file is invented for it.
        submission=NoSubmissionFormat(
            "google-research/xtreme's evaluate.py has no LAReQA reader and lists no LAReQA languages "
            "(XTREME_R_TASK2LANGS['lareqa'] is empty), so no leaderboard file format exists; its mAP@20 is in the "
            "run's own scores (`results --aggregate`)"
        ),
    ),
    "mewslix": Family(
        MEWSLIX_LANGS, "ranking", "mewslix", DUAL_ENCODER, (mrr_at_20,), rs.mewslix,
        {"validation": "dev", "test": "test"},
        "Botha et al. 2020 / Ruder et al. 2021, Mewsli-X", "CC BY 4.0 (WikiNews: CC BY 2.5; Wikipedia: CC BY-SA 3.0)",
        rs.MEWSLIX_LAYOUT.how_to_obtain,
        read_train=rs.wikipedia_pairs, train_splits={"train": "train", "validation": "dev"},
        train_citation="Mewsli-X English Wikipedia mention-entity pairs",
        train_how_to_obtain=rs.MEWSLIX_LAYOUT.how_to_obtain, submission=RANKING_FORMAT,
        # scripts/run_eval_mewslix.sh: MAX_SEQ_LEN=64 for mentions and entity descriptions alike
        query_length=64, candidate_length=64, shared_candidates=True,
    ),
}


# --- sources -----------------------------------------------------------------------------------
def _eval_dataset(data: rs.EvalData) -> tf.data.Dataset:
    n = len(data.texts)
    return tf.data.Dataset.from_tensor_slices(
        {
            "idx": tf.range(n, dtype=tf.int32),
            "text": tf.constant(data.texts, tf.string, shape=[n]),
            "context": tf.constant(data.contexts, tf.string, shape=[n]),
        }
    )


def _pairs_dataset(pairs: Sequence[rs.Pair]) -> tf.data.Dataset:
    n = len(pairs)
    columns = list(zip(*pairs)) if pairs else [(), (), ()]
    return tf.data.Dataset.from_tensor_slices(
        {
            "idx": tf.range(n, dtype=tf.int32),
            "query": tf.constant(columns[0], tf.string, shape=[n]),
            "text": tf.constant(columns[1], tf.string, shape=[n]),
            "context": tf.constant(columns[2], tf.string, shape=[n]),
        }
    )


def _spec(read: Callable[[str], tf.data.Dataset], splits: Mapping[str, str], schema: str, family: Family, citation: str, how: str) -> SourceSpec:
    """A file source (our split -> the files' split name -> dataset) with what the README says about it."""
    return SourceSpec(
        source=file_source(read, splits),
        canonicalize=lambda ds: ds,
        schema=schema,
        label_names=(),
        splits=dict(splits),
        citation=citation,
        license=family.license,
        how_to_obtain=how,
    )


def eval_source(family: Family, lang: str) -> SourceSpec:
    """The source of `<family>.<lang>`: every query and candidate text of a split, by idx."""
    read = lambda file_split: _eval_dataset(family.read_eval(lang, file_split))  # noqa: E731
    return _spec(read, family.eval_splits, "retrieval", family, family.citation, family.how_to_obtain)


def train_source(family: Family) -> SourceSpec:
    """The source of a dual-encoder family's English training pairs."""
    assert family.read_train is not None
    read_train = family.read_train
    read = lambda file_split: _pairs_dataset(read_train(file_split))  # noqa: E731
    return _spec(read, family.train_splits, "pairs", family, family.train_citation, family.train_how_to_obtain)


def _split_reader(family_name: str, family: Family, task: str, lang: str) -> Callable[[str], RetrievalSplit]:
    def read(split: str) -> RetrievalSplit:
        if split not in family.eval_splits:
            raise InputError(f"{task}: no split {split!r}; it has {sorted(family.eval_splits)}.")
        data = family.read_eval(lang, family.eval_splits[split])
        if data.split is None:
            raise MissingSplitError(f"{task} {split}: no gold to score against. {data.missing_gold}")
        shared = family_name if family.shared_candidates else None
        return dataclasses.replace(
            data.split, query_length=family.query_length, candidate_length=family.candidate_length, candidate_set=shared
        )

    return read


# --- preprocessors -----------------------------------------------------------------------------
def _encode(vocab: seqio.Vocabulary, text: tf.Tensor, context: tf.Tensor, length: int | None) -> tf.Tensor:
    """`<s> text </s>`, or the pair `<s> text </s></s> context </s>` (longest-first truncated) when context is set."""
    a, b = vocab.encode_tf(text), vocab.encode_tf(context)
    return tf.cond(
        tf.strings.length(context) > 0,
        lambda: vocab.encode_for_model_tf(a, b, length)[0],
        lambda: vocab.encode_for_model_tf(a, None, length)[0],
    )


def encode_texts(dataset: tf.data.Dataset, output_features: preprocessors.OutputFeatures, sequence_length: preprocessors.Lengths) -> tf.data.Dataset:
    """{"idx", "text", "context"} → inputs [len], idx."""
    vocab = output_features["inputs"].vocabulary
    length = None if sequence_length is None else sequence_length.get("inputs")
    return dataset.map(
        lambda ex: {"inputs": _encode(vocab, ex["text"], ex["context"], length), "idx": ex["idx"]},
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def encode_pairs(dataset: tf.data.Dataset, output_features: preprocessors.OutputFeatures, sequence_length: preprocessors.Lengths) -> tf.data.Dataset:
    """{"idx", "query", "text", "context"} → inputs [2, len] (query; candidate), targets 0 (a real pair), idx."""
    vocab = output_features["inputs"].vocabulary
    length = None if sequence_length is None else sequence_length.get("inputs")

    def encode(ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        query = _encode(vocab, ex["query"], tf.constant(""), length)
        candidate = _encode(vocab, ex["text"], ex["context"], length)
        inputs = tf.ragged.stack([query, candidate]).with_row_splits_dtype(tf.int64)
        return {"inputs": inputs, "targets": tf.constant(0, tf.int32), "idx": ex["idx"]}

    return dataset.map(encode, num_parallel_calls=tf.data.AUTOTUNE)


# --- registration ------------------------------------------------------------------------------
def _register(
    name: str,
    spec: SourceSpec,
    family: Family,
    *,
    kind: str,
    role: str,
    language: str,
    metric_fns: Sequence,
    reader: Callable[[str], RetrievalSplit] | None = None,
) -> None:
    ranks = LABEL_KINDS[kind].ranks
    features = {"inputs": seqio.Feature(vocabulary=MODEL_VOCABULARY, add_eos=False, dtype=tf.int32, rank=ranks["inputs"])}
    if "targets" in ranks:
        features["targets"] = seqio.Feature(
            vocabulary=seqio.PassThroughVocabulary(size=0), add_eos=False, dtype=tf.int32, rank=ranks["targets"]
        )
    encode = encode_pairs if kind == "pairs" else encode_texts
    task = seqio.Task(
        name,
        source=spec.source,
        preprocessors=[encode, functools.partial(preprocessors.add_head_id, head=family.head)],
        output_features=features,
        metric_fns=list(metric_fns),
    )
    record = TaskRecord(
        name,
        family.head,
        family.spec,
        kind,
        role=role,
        language=language,
        scoring_split=scoring_split(spec.source),
        retrieval_reader=reader,
    )
    register_task(record, task)


def register_retrieval_tasks() -> None:
    """Register every retrieval eval task, the dual-encoder training tasks, their mixtures and targets."""
    for name, family in FAMILIES.items():
        eval_tasks = {}
        for lang in sorted(family.languages):
            task = f"{name}.{lang}"
            spec = eval_source(family, lang)
            reader = _split_reader(name, family, task, lang)
            kind = family.label_kind
            _register(task, spec, family, kind=kind, role="eval", language=lang, metric_fns=family.metric_fns, reader=reader)
            eval_tasks[lang] = task
        register_mixture(f"{name}.all_langs", list(eval_tasks.values()), rate="equal")
        if family.read_train is not None:
            # No `<family>.zeroshot` mixture: training pairs and eval texts have different features.
            _register(name, train_source(family), family, kind="pairs", role="train", language="en", metric_fns=())
        train_task = name if family.read_train is not None else None
        register_target(TargetRecord(name, train_task, eval_tasks, submission=family.submission, split=family.scoring_split))


def source_rows() -> list[tuple[str, SourceSpec, str]]:
    """(task, source, role) rows for `python -m tasks`' sources table."""
    rows = []
    for name, family in FAMILIES.items():
        rows.append((f"{name}.<lang>", eval_source(family, family.languages[0]), f"target, {len(family.languages)} languages"))
        if family.read_train is not None:
            rows.append((name, train_source(family), f"English training data of `{name}`"))
    return rows
