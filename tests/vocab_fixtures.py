"""Builders of small real vocabularies from `tasks/data/multilingual.txt`, shared by tests.

`write_sentencepiece_dir` trains an XLM-R style SentencePiece model; `write_wordpiece_dir`
writes a BERT `vocab.txt`. Both return a directory `load_vocabulary` reads.
"""

import collections
import pathlib
import unicodedata

import sentencepiece

SAMPLE = pathlib.Path(__file__).parents[1] / "tasks" / "data" / "multilingual.txt"
LINES = SAMPLE.read_text(encoding="utf-8").splitlines()


def write_sentencepiece_dir(directory: pathlib.Path, vocab_size: int = 800) -> pathlib.Path:
    """Trains a unigram SentencePiece model on the sample as `directory/sentencepiece.bpe.model`."""
    sentencepiece.SentencePieceTrainer.train(
        input=str(SAMPLE),
        model_prefix=str(directory / "spm"),
        vocab_size=vocab_size,
        model_type="unigram",
        num_threads=1,
        minloglevel=2,
    )
    (directory / "spm.model").rename(directory / "sentencepiece.bpe.model")
    (directory / "spm.vocab").unlink()
    return directory


def strip_accents(text: str) -> str:
    """NFD with combining marks removed, as BERT's accent stripping."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def write_wordpiece_dir(directory: pathlib.Path) -> pathlib.Path:
    """Writes `directory/vocab.txt`: specials, every sample character (cased, lowercased,
    accent-stripped) alone and as ##, frequent words and some suffixes.

    Symbols (So: emoji and the like) are left out so they become [UNK].
    """
    text = SAMPLE.read_text(encoding="utf-8")
    forms = text + text.lower() + strip_accents(text.lower())
    chars = sorted({c for c in forms if not c.isspace() and unicodedata.category(c) != "So"})
    counts = collections.Counter(w.strip(".,!?;:\"'()«»„“”¿¡") for w in text.split())
    words = [w for w, _ in counts.most_common(400) if len(w) > 1]
    words += [strip_accents(w.lower()) for w in words]
    suffixes = ["##ing", "##ed", "##s", "##er", "##en", "##ung", "##lich", "##ment", "##ción", "##ami"]
    tokens = list(dict.fromkeys(chars + ["##" + c for c in chars] + words + suffixes))
    specials = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (directory / "vocab.txt").write_text("\n".join(specials + tokens) + "\n", encoding="utf-8")
    return directory
