"""The catalog: every intermediate and target task, per-language eval tasks, mixtures and target records.

Tasks that share a label space share a head (`nli` for MNLI, SNLI, ANLI and XNLI), so a
model trained on MNLI can be scored on XNLI in every language with the same head.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Iterator, Mapping, Sequence

from tasks import corpora, mlm, retrieval, sources
from tasks.sources import translated
from tasks.registry import (
    MetricFn,
    register_data_described_task,
    register_intermediate_mixture,
    register_mixture,
    register_source_task,
)
from tasks.sources import SourceSpec
from xstilts_jax.data.task_records import pending_record_errors
from xstilts_jax.evaluation import metrics, qa_metrics
from xstilts_jax.experiments.results.submission import QA_FORMAT, TAGS_FORMAT, SubmissionFormat, label_format
from xstilts_jax.experiments.targets import Recipe, TargetRecord, register_target


def tag_accuracy(targets: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, float]:
    """Per-word accuracy over tag sequences (CCG supertagging reports accuracy)."""
    flat_t, flat_p = [], []
    for i, (t, p) in enumerate(zip(targets, predictions, strict=True)):
        if len(t) != len(p):
            raise ValueError(f"example {i}: target has {len(t)} tags but prediction has {len(p)}")
        flat_t.extend(t)
        flat_p.extend(p)
    return metrics.accuracy(flat_t, flat_p)


ACCURACY: list[MetricFn] = [metrics.accuracy]
QA_RECIPE = Recipe(epochs=2, batch_size=16)

# Leaderboard file formats (google-research/xtreme evaluate.py): the official labels each accepted prediction becomes.
_NLI = ("entailment", "neutral", "contradiction")
XNLI_SUBMISSION = label_format({x: x for x in _NLI}, f"a JSON list of labels from {list(_NLI)}")
# PAWS-X label 1 means paraphrase; the catalog's label names are accepted as well as 0/1.
PAWSX_SUBMISSION = label_format(
    {0: "0", 1: "1", "0": "0", "1": "1", "different_meaning": "0", "paraphrase": "1"},
    'a JSON list of 0/1 (or "different_meaning"/"paraphrase")',
)
XCOPA_SUBMISSION = label_format({0: 0, 1: 1, "0": 0, "1": 1}, "a JSON list of chosen alternatives, 0 or 1", jsonl=True)


@dataclasses.dataclass(frozen=True)
class Intermediate:
    """An English intermediate task: its source and head."""

    source: Callable[[], SourceSpec]
    head: str
    metric_fns: Sequence[MetricFn] = tuple(ACCURACY)
    # Set when the spec can only be built from the data (its schema and splits, known without it).
    described_by_data: tuple[str, tuple[str, ...]] | None = None


INTERMEDIATE: dict[str, Intermediate] = {
    "mnli": Intermediate(sources.mnli, "nli"),
    "snli": Intermediate(sources.snli, "nli"),
    "anli_r1": Intermediate(functools.partial(sources.anli, 1), "nli"),
    "anli_r2": Intermediate(functools.partial(sources.anli, 2), "nli"),
    "anli_r3": Intermediate(functools.partial(sources.anli, 3), "nli"),
    "qqp": Intermediate(sources.qqp, "qqp"),
    "hellaswag": Intermediate(sources.hellaswag, "hellaswag"),
    "cosmosqa": Intermediate(sources.cosmosqa, "cosmosqa"),
    "commonsenseqa": Intermediate(sources.commonsenseqa, "commonsenseqa"),
    "socialiqa": Intermediate(sources.socialiqa, "socialiqa"),
    "ccg": Intermediate(sources.ccg, "ccg", (tag_accuracy,), (sources.TAGS, ("train", "validation", "test"))),
    # Span QA: SQuAD v1.1 is also the English training data of XQuAD and MLQA (head "squad").
    "squad": Intermediate(sources.squad, "squad", (qa_metrics.squad_v1,)),
    # SQuAD 2.0 also records evaluate-v2.0.py's best_exact / best_f1 and their no-answer thresholds.
    "squad_v2": Intermediate(sources.squad_v2, "squad_v2", (qa_metrics.squad_v2, qa_metrics.squad_v2_thresholds)),
}

# ANLI+ (Nie et al. 2020; X-STILTs' "ANLI+"): the three ANLI rounds with MNLI and SNLI, one task.
ANLI_PLUS: tuple[str, ...] = ("anli_r1", "anli_r2", "anli_r3", "mnli", "snli")
INTERMEDIATE["anli_plus"] = Intermediate(
    lambda: sources.concatenated([INTERMEDIATE[t].source() for t in ANLI_PLUS], "Nie et al. 2020, ANLI+"), "nli"
)

# The paper's nine intermediate tasks (Phang et al. 2020, X-STILTs); SocialIQA is the optional tenth.
XSTILTS9: tuple[str, ...] = (
    "anli_plus", "ccg", "commonsenseqa", "cosmosqa", "hellaswag", "mnli", "qqp", "squad", "squad_v2",
)
INTERMEDIATE_MIXTURES: dict[str, tuple[str, ...]] = {
    "xstilts9": XSTILTS9,
    "xstilts9_siqa": (*XSTILTS9, "socialiqa"),
    "all": (*XSTILTS9, "socialiqa"),  # the name earlier releases used: every intermediate task, ANLI+ as one
}


@dataclasses.dataclass(frozen=True)
class Target:
    """A zero-shot target: the English training task, one eval task per language, the dev task whose
    `headline` metric picks the checkpoint, and the recipe of its training phase."""

    train_task: str
    languages: tuple[str, ...]
    eval_source: Callable[[str], SourceSpec]
    head: str
    metric_fns: Sequence[MetricFn]
    dev_task: str
    headline: str  # the dev task's metric that picks the checkpoint, e.g. "accuracy"
    recipe: Recipe
    train_source: Callable[[], SourceSpec] | None = None  # None: the train task is an intermediate task
    # Metric fns that depend on the eval language (MLQA's normalization); used instead of metric_fns.
    language_metric_fns: Callable[[str], Sequence[MetricFn]] | None = None
    submission: SubmissionFormat | None = None  # its XTREME leaderboard file format
    split: str | None = None  # the split its eval tasks are scored on (None: dev where they have it)

    def metrics_for(self, lang: str) -> Sequence[MetricFn]:
        """The metric fns of the eval task in `lang`."""
        return self.metric_fns if self.language_metric_fns is None else self.language_metric_fns(lang)

    def record(self, name: str) -> TargetRecord:
        """The engine's record of this target, registered as `name`."""
        return TargetRecord(
            name=name,
            train_task=self.train_task,
            eval_tasks={lang: f"{name}.{lang}" for lang in sorted(self.languages)},
            dev_tasks=(self.dev_task,),
            best_metric=f"eval/{self.dev_task}/{self.headline}",
            recipe=self.recipe,
            submission=self.submission,
            split=self.split,
        )


# DESIGN.md: lr 1e-5; batch 32 for classification and tagging, 16 for QA; epochs XNLI 2, PAWS-X 5,
# UD-POS / PAN-X 10, QA 2; XCOPA (400 English COPA examples) 10, our choice. Input lengths are the
# train tasks' defaults (256 classification and tagging, 384 QA).
TARGETS: dict[str, Target] = {
    # XNLI: train on MNLI (English), score accuracy in 15 languages; the English XNLI dev set picks the checkpoint.
    "xnli": Target(
        "mnli",
        sources.XNLI_LANGS,
        sources.xnli,
        "nli",
        ACCURACY,
        "xnli.en",
        "accuracy",
        Recipe(epochs=2),
        submission=XNLI_SUBMISSION,
    ),
    "pawsx": Target(
        "pawsx",
        sources.PAWSX_LANGS,
        sources.pawsx,
        "pawsx",
        ACCURACY,
        "pawsx.en",
        "accuracy",
        Recipe(epochs=5),
        functools.partial(sources.pawsx, "en"),
        submission=PAWSX_SUBMISSION,
    ),
    # XCOPA: train on English COPA; XTREME-R's recipe trains on SocialIQA first, which the
    # framework names as an explicit intermediate step (`socialiqa`) so no gain is counted twice.
    "xcopa": Target(
        "copa",
        sources.XCOPA_LANGS,
        sources.xcopa,
        "copa",
        ACCURACY,
        "copa",
        "accuracy",
        Recipe(epochs=10),
        sources.copa,
        submission=XCOPA_SUBMISSION,
    ),
    # UD-POS is scored on the tagged test sets of the UD releases (xtreme's test files have no
    # tags), so kk, th, tl and yo, which have no dev set, are scored too; udpos.en's dev set picks the checkpoint.
    "udpos": Target(
        "udpos",
        sources.UDPOS_LANGS_XTREME_R,
        sources.udpos,
        "udpos",
        [metrics.pos_f1],
        "udpos.en",
        "f1",
        Recipe(epochs=10),
        functools.partial(sources.udpos, "en"),
        submission=TAGS_FORMAT,
        split="test",
    ),
    "panx": Target(
        "panx",
        sources.PANX_LANGS_XTREME_R,
        sources.panx,
        "panx",
        [metrics.span_f1],
        "panx.en",
        "f1",
        Recipe(epochs=10),
        functools.partial(sources.panx, "en"),
        submission=TAGS_FORMAT,
    ),
    # Span QA (XTREME): XQuAD and MLQA are scored zero-shot after SQuAD v1.1 (its dev set picks the
    # checkpoint); TyDiQA-GoldP trains on its own English data (X-STILTs), each with the official
    # metric of its scorer. XQuAD has no dev set: its test sets are scored (the record says so).
    "xquad": Target(
        "squad",
        sources.XQUAD_LANGS_XTREME_R,
        sources.xquad,
        "squad",
        (qa_metrics.squad_v1,),
        "squad",
        "f1",
        QA_RECIPE,
        submission=QA_FORMAT,
    ),
    "mlqa": Target(
        "squad",
        sources.MLQA_LANGS,
        sources.mlqa,
        "squad",
        (),
        "squad",
        "f1",
        QA_RECIPE,
        language_metric_fns=lambda lang: (qa_metrics.mlqa(lang),),
        submission=QA_FORMAT,
    ),
    "tydiqa": Target(
        "tydiqa",
        sources.TYDIQA_LANGS,
        sources.tydiqa,
        "tydiqa",
        (qa_metrics.squad_v1,),
        "tydiqa.en",
        "f1",
        QA_RECIPE,
        sources.tydiqa_train,
        submission=QA_FORMAT,
    ),
}


# The paper's translate-train alternative (Phang et al. 2020): intermediate training on the English
# training data together with XTREME's machine translations of it into the target languages.
TRANSLATED: dict[str, tuple[str, Callable[[str], SourceSpec], tuple[str, ...], str, Sequence[MetricFn]]] = {
    # name: (English task, translated source, languages, head, metrics)
    "mnli": ("mnli", translated.mnli_translated, translated.MNLI_TRANSLATED_LANGS, "nli", ACCURACY),
    "pawsx": ("pawsx", translated.pawsx_translated, translated.PAWSX_TRANSLATED_LANGS, "pawsx", ACCURACY),
    "squad": ("squad", translated.squad_translated, translated.SQUAD_TRANSLATED_LANGS, "squad", (qa_metrics.squad_v1,)),
}


def register_translate_train() -> None:
    """`<task>_translated.<lang>` training tasks and `intermediate.<task>_translate_train` mixtures
    (the English task and every translation, proportional to their examples)."""
    for name, (english, source, langs, head, metric_fns) in TRANSLATED.items():
        members = [english]
        for lang in langs:
            task = f"{name}_translated.{lang}"
            register_source_task(task, source(lang), head=head, metric_fns=metric_fns, role="train", language=lang)
            members.append(task)
        register_intermediate_mixture(f"{name}_translate_train", members, rate="proportional")


class _Unavailable(Mapping[str, str]):
    """Registered tasks whose data is not found now (CCG's tag set comes from its licensed files):
    name -> what is missing and how to supply it. Checked on every access, so data configured
    after import (gin `data_dir.path`) counts."""

    def __getitem__(self, name: str) -> str:
        return pending_record_errors()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(pending_record_errors())

    def __len__(self) -> int:
        return len(pending_record_errors())


UNAVAILABLE: Mapping[str, str] = _Unavailable()


def register_all() -> None:
    """Register every task and mixture of the catalog (called once, on import of `tasks`)."""
    for name, task in INTERMEDIATE.items():
        if task.described_by_data is None:
            register_source_task(name, task.source(), head=task.head, metric_fns=task.metric_fns, role="train")
        else:
            schema, splits = task.described_by_data
            register_data_described_task(
                name, task.source, schema=schema, splits=splits, head=task.head, metric_fns=task.metric_fns
            )

    for target_name, target in TARGETS.items():
        if target.train_source is not None:
            spec = target.train_source()
            register_source_task(target.train_task, spec, head=target.head, metric_fns=target.metric_fns, role="train")
        record = target.record(target_name)
        for lang, name in record.eval_tasks.items():
            metric_fns = target.metrics_for(lang)
            register_source_task(
                name, target.eval_source(lang), head=target.head, metric_fns=metric_fns, role="eval", language=lang
            )
        register_target(record)
        eval_tasks = list(record.eval_tasks.values())
        register_mixture(f"{target_name}.all_langs", eval_tasks, rate="equal")
        # Only the English task has a training split; the eval tasks ride along for scoring.
        register_mixture(f"{target_name}.zeroshot", [target.train_task, *eval_tasks], rate="equal")

    for name, members in INTERMEDIATE_MIXTURES.items():
        register_intermediate_mixture(name, members)  # sampled as X-STILTs (registry.INTERMEDIATE_MIXING_RATE)
    register_translate_train()
    mlm.register_mlm_tasks(metric_fns=(tag_accuracy,))  # `mlm`: masked-LM pretraining; masked-token accuracy
    corpora.register_corpus_tasks(metric_fns=(tag_accuracy,))  # mc4.<lang>, cc100.<lang>, wiki40b.<lang> + mixtures
    retrieval.register_retrieval_tasks()  # BUCC, Tatoeba, LAReQA, Mewsli-X (tasks/retrieval.py)
