"""`xstilts-jax vocab`: a SentencePiece vocabulary for a new rung, trained with language sampling, or XLM-R's.

XLM-R (Conneau et al. 2020) trains one SentencePiece unigram model of 250k pieces on sentences
drawn from every language with the pretraining's language sampling (α = 0.3). This command does
the same on the catalog's corpus tasks (`cc100.<lang>`, `mc4.<lang>`, `wiki40b.<lang>`, or a
mixture of them): language l gets round(sentences × q_l) lines, q_l ∝ n_l^α over the tasks'
training documents (`xstilts_jax.data.sampling`), read from the start of its training split
(cycled when a language has fewer lines than its quota). The model uses SentencePiece's ids
unk/bos/eos = 0/1/2, as XLM-R's does, so `XlmrSentencePieceVocabulary` maps it to fairseq ids
(`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3, pieces + 1, `<mask>` last): 250,000 pieces give the
published vocabulary of 250,002.

`--reuse DIR` instead copies XLM-R's own `sentencepiece.bpe.model` from a checkpoint directory.

    xstilts-jax vocab --out runs/vocab250k --tasks cc100 --vocab_size 250000 --sentences 20000000 \\
        --gin.cc100.directory="'/data/cc100'"
    xstilts-jax vocab --out runs/vocab --reuse /ckpt/xlm-roberta-large
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import seqio
import sentencepiece
import tensorflow as tf

from xstilts_jax.data.sampling import language_rates
from xstilts_jax.data.vocabularies import SPM_FILE, load_vocabulary
from xstilts_jax.errors import ConfigError
from xstilts_jax.gin_utils import add_gin_flags, parse_gin, split_gin_overrides
from xstilts_jax.tools.list_tasks import import_modules

# SentencePiece's own ids that XLM-R's model has (XlmrSentencePieceVocabulary maps them to fairseq's).
_XLMR_IDS = {"unk_id": 0, "bos_id": 1, "eos_id": 2, "pad_id": -1}


def sentence_quotas(counts: Mapping[str, int], alpha: float, sentences: int) -> dict[str, int]:
    """Lines per language: round(sentences × q_l), q_l ∝ n_l^α; at least one each."""
    return {name: max(1, round(sentences * q)) for name, q in language_rates(counts, alpha).items()}


def task_lines(task: str) -> Iterator[str]:
    """A corpus task's training text, one non-empty line at a time, from the start of its train split.

    The task's first preprocessor maps its source onto the "text" schema (every corpus task in the
    catalog is built so); its documents are split into lines."""
    provider = seqio.get_mixture_or_task(task)
    dataset = provider.preprocessors[0](provider.source.get_dataset("train", shuffle=False))
    if "text" not in dataset.element_spec:
        raise ConfigError(f"vocab: task {task!r} is not a text corpus task (no 'text' feature); name cc100/mc4/wiki40b tasks.")
    for ex in dataset.as_numpy_iterator():
        for line in ex["text"].decode("utf-8").splitlines():
            if line.strip():
                yield line.strip()


def sampled_lines(tasks: Sequence[str], alpha: float, sentences: int) -> tuple[dict[str, int], Iterator[str]]:
    """(quota per task, the lines): each task's quota of lines, cycling a task whose text is shorter."""
    counts = {t: seqio.get_mixture_or_task(t).source.num_input_examples("train") for t in tasks}
    quotas = sentence_quotas(counts, alpha, sentences)

    def lines() -> Iterator[str]:
        for task, quota in quotas.items():
            first = list(itertools.islice(task_lines(task), quota))
            if not first:
                raise ConfigError(f"vocab: task {task!r} has no text in its train split.")
            yield from itertools.islice(itertools.cycle(first), quota)

    return quotas, lines()


def train_sentencepiece(lines: Iterable[str], out_dir: Path, vocab_size: int, character_coverage: float = 0.9995) -> Path:
    """Train a unigram SentencePiece model with XLM-R's control ids on `lines`; writes `out_dir/sentencepiece.bpe.model`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        text = Path(tmp) / "sentences.txt"
        with text.open("w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        sentencepiece.SentencePieceTrainer.train(
            input=str(text), model_prefix=f"{tmp}/spm", vocab_size=vocab_size, model_type="unigram",
            character_coverage=character_coverage, input_sentence_size=0, shuffle_input_sentence=True,
            minloglevel=2, **_XLMR_IDS,
        )
        Path(f"{tmp}/spm.model").replace(out_dir / SPM_FILE)
    return out_dir / SPM_FILE


def reuse_xlmr(checkpoint_dir: str, out_dir: Path) -> Path:
    """Copy XLM-R's `sentencepiece.bpe.model` from `checkpoint_dir` into `out_dir`."""
    source = f"{checkpoint_dir.rstrip('/')}/{SPM_FILE}"
    if not tf.io.gfile.exists(source):
        raise ConfigError(f"vocab --reuse: {source} not found; give a converted or Hugging Face XLM-R directory.")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tf.io.gfile.GFile(source, "rb") as f:
        (out_dir / SPM_FILE).write_bytes(f.read())
    return out_dir / SPM_FILE


def _expand(names: Sequence[str]) -> list[str]:
    found: list[str] = []
    for name in names:
        if name not in seqio.MixtureRegistry.names() and name not in seqio.TaskRegistry.names():
            raise ConfigError(f"vocab: {name!r} is no task or mixture; `xstilts-jax tasks` lists them (e.g. cc100.en, cc100).")
        found += [t.name for t in seqio.get_subtasks(seqio.get_mixture_or_task(name)) if t.name not in found]
    return found


def main(argv: Sequence[str]) -> int:
    """Train (or copy) the vocabulary, then load it as the model will and print its special ids."""
    argv, bindings = split_gin_overrides(list(argv))
    parser = argparse.ArgumentParser(prog="xstilts-jax vocab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="directory for sentencepiece.bpe.model")
    parser.add_argument("--tasks", nargs="+", default=None, help="corpus tasks or mixtures, e.g. cc100 or cc100.en cc100.sw")
    parser.add_argument("--alpha", type=float, default=0.3, help="language sampling exponent (XLM-R: 0.3)")
    parser.add_argument("--sentences", type=int, default=20_000_000, help="lines to train on, over all languages")
    parser.add_argument("--vocab_size", type=int, default=250_000, help="SentencePiece pieces (XLM-R: 250,000)")
    parser.add_argument("--character_coverage", type=float, default=0.9995, help="SentencePiece's share of characters kept")
    parser.add_argument("--reuse", default=None, help="copy XLM-R's sentencepiece.bpe.model from this checkpoint directory")
    parser.add_argument("--module_import", action="append", default=None, help="catalog module to import (default: tasks)")
    add_gin_flags(parser)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.reuse:
        path = reuse_xlmr(args.reuse, out)
    else:
        if not args.tasks:
            raise ConfigError("vocab: name corpus --tasks (e.g. --tasks cc100), or --reuse an XLM-R checkpoint directory.")
        import_modules(args.module_import or ["tasks"])
        parse_gin(args.gin_file or [], bindings, args.gin_search_path)
        quotas, lines = sampled_lines(_expand(args.tasks), args.alpha, args.sentences)
        print(f"sentences per task (alpha={args.alpha}):")
        for task, quota in sorted(quotas.items(), key=lambda kv: -kv[1]):
            print(f"  {task:<24}{quota:>12}")
        path = train_sentencepiece(lines, out, args.vocab_size, args.character_coverage)
    vocab = load_vocabulary(out)
    print(
        f"wrote {path}: {vocab.vocab_size} ids with fairseq offsets (<s>={vocab.bos_id}, <pad>={vocab.pad_id}, "
        f"</s>={vocab.eos_id}, <unk>={vocab.unk_id}, <mask>={vocab.mask_id})"
    )
    return 0

