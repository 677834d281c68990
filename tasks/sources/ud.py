"""UD-POS test sentences read from a Universal Dependencies release, as xtreme's download turns them into tags.

xtreme's `udpos/test-<lang>.tsv` has the words only (its `utils_preprocess.py` writes no test tags),
so the tagged test split comes from the UD release itself: every treebank's `<lang>_*-ud-test.conllu`
in `ud-treebanks-v2.5/` (XTREME's languages) or `ud-treebanks-v2.7/` (XTREME-R's added ones),
merged in file-name order, each sentence processed as xtreme's `download_treebank` and
`udpos_preprocess` process it:

1. `conllu_to_conll.py --replace_subtokens_with_fused_forms`: comment lines and empty nodes
   (`1.1`) are skipped; a multiword token (`1-2`) keeps one word, the fused form, tagged with the
   UPOS of its span head: the word of the span with the fewest ancestors in the graph of HEAD and
   DEPS edges, ties broken by the first word whose UPOS comes earliest in the language's
   precedence list (a UPOS missing from the list never wins a tie; xtreme's script fails there).
2. `udpos_preprocess`: a sentence whose words are all `_`, or all but one, is dropped (logged with
   a count); zero-width non-joiners and spaces inside a word are removed.
"""

from __future__ import annotations

import collections
import logging
import os
from typing import Sequence

import tensorflow as tf

from tasks.sources.files import data_dir, read_text
from tasks.sources.languages import UDPOS_LANGS_XTREME
from xstilts_jax.errors import InputError, MissingSplitError

logger = logging.getLogger(__name__)

UD_RELEASES = {
    "2.5": "https://lindat.mff.cuni.cz/repository/xmlui/bitstream/handle/11234/1-3105/ud-treebanks-v2.5.tgz",
    "2.7": "https://lindat.mff.cuni.cz/repository/xmlui/bitstream/handle/11234/1-3424/ud-treebanks-v2.7.tgz",
}
# xtreme third_party/ud-conversion-tools/conllu_to_conll.py: POSRANKPRECEDENCEDICT.
_DEFAULT_PRECEDENCE = "VERB NOUN PROPN PRON ADJ NUM ADV INTJ AUX ADP DET PART CCONJ SCONJ X PUNCT".split()
_PRECEDENCE = {
    "es": "VERB AUX PRON ADP DET".split(),
    "fr": "VERB AUX PRON NOUN ADJ ADV ADP DET PART SCONJ CONJ".split(),
    "it": "VERB AUX ADV PRON ADP DET INTJ".split(),
}

Sentence = tuple[list[str], list[str]]  # (words, UPOS tags)


def ud_version(lang: str) -> str:
    """The UD release xtreme reads `lang` from: 2.5 for XTREME's languages, 2.7 for XTREME-R's added ones."""
    return "2.5" if lang in UDPOS_LANGS_XTREME else "2.7"


def test_files(lang: str) -> list[str]:
    """`<data dir>/ud-treebanks-v<version>/*/<lang>_*-ud-test.conllu`, sorted by file name; MissingSplitError when none."""
    version = ud_version(lang)
    pattern = os.path.join(data_dir(), f"ud-treebanks-v{version}", "*", f"{lang}_*-ud-test.conllu")
    paths = sorted(tf.io.gfile.glob(pattern), key=os.path.basename)
    if not paths:
        raise MissingSplitError(
            f"udpos ({lang}) test: no UD treebank test file {pattern}. xtreme's udpos/test-{lang}.tsv carries no tags "
            f"(utils_preprocess.py writes the words only), so the test split is read from the UD {version} release: "
            f"download {UD_RELEASES[version]} and unpack it into the data directory (`tar xzf ud-treebanks-v{version}.tgz "
            f"-C <data dir>`)."
        )
    return paths


def read_test(lang: str) -> list[Sentence]:
    """The tagged UD-POS test sentences of `lang`, all treebanks merged as xtreme merges them."""
    sentences: list[Sentence] = []
    for path in test_files(lang):
        sentences.extend(read_conllu(path, lang))
    return sentences


def _head(field: str, where: str) -> int | None:
    """A HEAD or DEPS head: an int, or None for `_`."""
    if field == "_":
        return None
    if not field.isdigit():
        raise InputError(f"{where}: HEAD {field!r} is not a word id.")
    return int(field)


def _span_head(span: Sequence[int], parents: dict[int, set[int]], upos: dict[int, str], precedence: Sequence[str]) -> int:
    """The word of a multiword token's span that keeps the fused form (module docstring, step 1)."""

    def ancestors(node: int) -> int:
        seen, todo = set(), list(parents.get(node, ()))
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(parents.get(n, ()))
        seen.discard(node)
        return len(seen)

    depth = {n: ancestors(n) for n in span}
    top = min(depth.values())
    highest = [n for n in span if depth[n] == top]
    rank = {tag: i for i, tag in enumerate(precedence)}
    return min(highest, key=lambda n: rank.get(upos.get(n, ""), len(precedence)))


def _fuse(words: dict[int, tuple[str, str]], multi: dict[int, tuple[int, str]], parents: dict[int, set[int]],
          lang: str) -> Sentence:
    """(words, tags) of one sentence after replacing each multiword token's words by its fused form."""
    upos = {n: tag for n, (_, tag) in words.items()}
    removed: set[int] = set()
    forms = {n: form for n, (form, _) in words.items()}
    for first in sorted(multi):
        last, fused = multi[first]
        span = [n for n in range(first, last + 1) if n in words]
        if not span:
            continue
        head = _span_head(span, parents, upos, _PRECEDENCE.get(lang, _DEFAULT_PRECEDENCE))
        forms[head] = fused
        removed.update(n for n in span if n != head)
    kept = [n for n in sorted(words) if n not in removed]
    return [forms[n] for n in kept], [upos[n] for n in kept]


def read_conllu(path: str, lang: str) -> list[Sentence]:
    """The sentences of one .conllu file, converted and filtered as the module docstring says."""
    sentences: list[Sentence] = []
    words: dict[int, tuple[str, str]] = {}
    multi: dict[int, tuple[int, str]] = {}
    parents: dict[int, set[int]] = collections.defaultdict(set)
    dropped = 0
    lines = read_text(path).split("\n")
    for lineno, line in enumerate(lines + [""], start=1):
        line = line.rstrip("\r")
        if not line.strip():
            if words:
                sentence = _fuse(words, multi, parents, lang)
                blank = sum(w == "_" for w in sentence[0])
                if blank == 0 or blank < len(sentence[0]) - 1:
                    sentences.append(([w.replace("\u200c", "").replace(" ", "") for w in sentence[0]], sentence[1]))
                else:
                    dropped += 1
            words, multi, parents = {}, {}, collections.defaultdict(set)
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        where = f"{path}:{lineno}"
        if len(cols) != 10:
            raise InputError(f"{where}: udpos ({lang}): expected 10 tab-separated CoNLL-U columns, got {len(cols)}.")
        word_id = cols[0]
        if "." in word_id:  # an empty node of the enhanced graph: not a word
            continue
        if "-" in word_id:
            first, last = word_id.split("-", 1)
            if not (first.isdigit() and last.isdigit()):
                raise InputError(f"{where}: udpos ({lang}): bad multiword token id {word_id!r}.")
            multi[int(first)] = (int(last), cols[1])
            continue
        if not word_id.isdigit():
            raise InputError(f"{where}: udpos ({lang}): ID {word_id!r} is not a word id.")
        node = int(word_id)
        words[node] = (cols[1], cols[3])
        head = _head(cols[6], where)
        if head is not None:
            parents[node].add(head)
        if cols[8] != "_":
            for dep in cols[8].split("|"):
                dep_head = dep.split(":", 1)[0]
                if dep_head.isdigit():  # heads of the enhanced graph; empty nodes (5.1) are left out
                    parents[node].add(int(dep_head))
    if dropped:
        logger.info("%s: %d sentences dropped, their words are all (or all but one) '_', as xtreme drops them.", path, dropped)
    return sentences
