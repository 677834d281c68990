"""Readers for the retrieval tasks' files, in the layout google-research/xtreme's download scripts write.

Each eval reader returns `EvalData`: the texts to embed, numbered by `idx` (queries first, then
candidates), and the engine's `RetrievalSplit` (which idx are queries, their ids, the gold).
Training readers return (query, candidate, candidate context) pairs for the dual encoder.
Files are parsed in Python (they are at most a few hundred MB; Mewsli-X's candidate set is the
largest) and cached per path, since a task's source and its scorer both read them.

Layouts under `data_dir()` (see `tasks.sources.files.data_dir`):
- `bucc2018/{lg}-en.{dev,test}.{lg,en}`: `id<TAB>sentence` lines; `{lg}-en.{dev,test}.gold`: `id<TAB>id`
  (xtreme's download deletes `*test.gold`; BUCC's training gold restores it).
- `tatoeba/tatoeba.{l3}-eng.{l3,eng}`: LASER's aligned files, line i ↔ line i. xtreme's
  `utils_preprocess.py` copies them to `{l2}-en.{l2}` / `{l2}-en.en` but sorts the English
  side, which hides the alignment (the gold); the scorer needs the originals.
- `lareqa/xquad-r/{lang}.json`: SQuAD format with `sentence_breaks` per paragraph (LAReQA repo).
- `squad/{train,dev}-v1.1.json`: SQuAD v1.1 (LAReQA's dual-encoder training data).
- `mewslix/candidate_set_entities.jsonl`, `mewslix/wikipedia_pairs-{train,dev}.jsonl` and
  `mewslix/wikinews_mentions-{dev,test}.jsonl` (Mewsli-X's `get-mewsli-x.sh`, moved by xtreme's
  `download_mewslix`), or xtreme's `mewslix/wikinews_mentions/{dev,test}-{lang}.jsonl` (test gold blanked: refused).
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import logging
import re
from typing import Any, Callable, Iterator, Sequence

from tasks.sources.files import Layout, data_dir, read_text
from xstilts_jax.errors import ConfigError, InputError
from xstilts_jax.evaluation.retrieval import RetrievalSplit

logger = logging.getLogger(__name__)

Pair = tuple[str, str, str]  # (query, candidate, candidate context or "")


@dataclasses.dataclass(frozen=True)
class EvalData:
    """One eval split: texts (and optional second segments) by idx, and the split for the scorer.

    `split` is None when the split has no gold on disk; `missing_gold` then says why.
    """

    texts: tuple[str, ...]
    contexts: tuple[str, ...]
    split: RetrievalSplit | None
    missing_gold: str = ""


def _eval_data(queries: Sequence[tuple[str, str, str]], candidates: Sequence[tuple[str, str, str]],
               relevant: dict[str, list[str]] | None, missing_gold: str = "") -> EvalData:
    """(id, text, context) rows → EvalData with queries at idx 0..Q-1 and candidates after them."""
    rows = [*queries, *candidates]
    q = len(queries)
    split = None
    if relevant is not None:
        split = RetrievalSplit(
            queries={i: row[0] for i, row in enumerate(queries)},
            candidates={q + i: row[0] for i, row in enumerate(candidates)},
            relevant=relevant,
        )
    return EvalData(tuple(r[1] for r in rows), tuple(r[2] for r in rows), split, missing_gold)


def _per_data_dir(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Cache a reader's result per (data directory, arguments): a task's source and its scorer read the same files."""
    cache: dict[tuple, Any] = {}

    @functools.wraps(fn)
    def cached(*args: Any) -> Any:
        try:
            key = (data_dir(), args)
        except ConfigError:
            return fn(*args)  # the reader raises the full "where is the data" message
        if key not in cache:
            if len(cache) >= 16:
                cache.clear()
            cache[key] = fn(*args)
        return cache[key]

    return cached


def _lines(path: str) -> list[str]:
    text = read_text(path)
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


# --- BUCC 2018 -------------------------------------------------------------------------------
BUCC_LAYOUT = Layout(
    "bucc2018",
    "`{lg}-en.{dev,test}.{lg}` and `.en`: `id<TAB>sentence` per line; `{lg}-en.{dev,test}.gold`: `source id<TAB>English id`",
    "google-research/xtreme `scripts/download_data.sh` (function download_bucc18) writes bucc2018/ under download/.",
    "xtreme's download_bucc18 deletes the test gold (`rm $base_dir/*test.gold`); to score test, take `{lg}-en/{lg}-en.training.gold` "
    "from https://comparable.limsi.fr/bucc2018/bucc2018-{lg}-en.training-gold.tar.bz2 (the archive xtreme renames to test) "
    "and save it as bucc2018/{lg}-en.test.gold.",
)


def _id_sentences(path: str) -> list[tuple[str, str]]:
    rows = []
    for lineno, line in enumerate(_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip():
            raise InputError(f"{path}:{lineno}: expected 'id<TAB>sentence', got {line[:80]!r}.")
        rows.append((fields[0].strip(), fields[1].strip()))
    return rows


def _unique_texts(rows: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """One row per distinct sentence; a sentence listed under several ids keeps the id "" (never output),
    as xtreme's `utils_retrieve.py` embeds each distinct line once and drops repeated sentences' pairs."""
    counts = collections.Counter(text for _, text in rows)
    seen: set[str] = set()
    out = []
    for sid, text in rows:
        if text not in seen:
            seen.add(text)
            out.append((sid if counts[text] == 1 else "", text, ""))
    return out


@_per_data_dir
def bucc(lang: str, file_split: str) -> EvalData:
    """BUCC sentences of `lang` (queries) and English (candidates); gold pairs when the gold file exists."""
    stem = f"bucc2018/{lang}-en.{file_split}"
    src_path, trg_path = BUCC_LAYOUT.find(f"{stem}.{lang}"), BUCC_LAYOUT.find(f"{stem}.en")
    src, trg = _id_sentences(src_path), _id_sentences(trg_path)
    try:
        gold_path = BUCC_LAYOUT.find(f"{stem}.gold")
    except ConfigError as e:
        return _eval_data(_unique_texts(src), _unique_texts(trg), None, str(e))
    src_ids, trg_ids = {s for s, _ in src}, {t for t, _ in trg}
    relevant: dict[str, list[str]] = collections.defaultdict(list)
    for lineno, line in enumerate(_lines(gold_path), start=1):
        fields = line.strip().split("\t")
        if len(fields) != 2:
            raise InputError(f"{gold_path}:{lineno}: expected 'source id<TAB>English id', got {line[:80]!r}.")
        s, t = fields
        if s not in src_ids or t not in trg_ids:
            unknown = [x for x, known in ((s, s in src_ids), (t, t in trg_ids)) if not known]
            raise InputError(
                f"{gold_path}:{lineno}: gold pair {s}\t{t} references ids {unknown} that are not in "
                f"{src_path if s not in src_ids else trg_path}; the gold file and the sentence files must come from the same BUCC archive."
            )
        relevant[s].append(t)
    return _eval_data(_unique_texts(src), _unique_texts(trg), dict(relevant))


# --- Tatoeba ---------------------------------------------------------------------------------
# google-research/xtreme `utils_preprocess.py` (tatoeba_preprocess, XTREME-R version): ISO 639-1 → LASER's codes.
TATOEBA_CODES: dict[str, str] = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa", "et": "est",
    "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn", "az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr",
    "ro": "ron",
}
TATOEBA_LAYOUT = Layout(
    "tatoeba",
    "LASER's `tatoeba.{xxx}-eng.{xxx}` and `tatoeba.{xxx}-eng.eng`: one sentence per line, line i of one the translation of line i of the other",
    "the LASER repository's data/tatoeba/v1/ (what xtreme's download_tatoeba fetches); copy its files into tatoeba/.",
    "xtreme's `{lg}-en.en` is sorted and cannot be scored; keep LASER's original files.",
)


def sorted_english_order(english: Sequence[str]) -> list[int]:
    """LASER's English line numbers in the order of xtreme's `{lg}-en.en`: its `tatoeba_preprocess` writes the
    stripped lines sorted by text, a stable sort (equal lines keep LASER's order)."""
    return sorted(range(len(english)), key=lambda i: english[i].strip())


@_per_data_dir
def tatoeba(lang: str, file_split: str) -> EvalData:
    """`lang` sentences (queries, in LASER's order = xtreme's `{lg}-en.{lg}`) searched against the English ones
    (candidates, in xtreme's sorted `{lg}-en.en` order), the direction of xtreme's `evaluate_retrieval.py`.

    A "nearest" prediction is then a candidate position, i.e. the line of xtreme's sorted English file,
    which is what evaluate.py's Tatoeba labels hold; the gold of `lang` line i is the position of
    LASER's English line i there.
    """
    del file_split  # Tatoeba has one split
    code = TATOEBA_CODES[lang]
    xx_path = TATOEBA_LAYOUT.find(f"tatoeba/tatoeba.{code}-eng.{code}")
    en_path = TATOEBA_LAYOUT.find(f"tatoeba/tatoeba.{code}-eng.eng")
    xx, en = [s.strip() for s in _lines(xx_path)], [s.strip() for s in _lines(en_path)]
    if len(xx) != len(en) or not xx:
        raise InputError(f"{xx_path} has {len(xx)} lines but {en_path} has {len(en)}; LASER's files are aligned line by line.")
    queries = [(f"{lang}-{i}", s, "") for i, s in enumerate(xx)]
    candidates = [(f"en-{i}", en[i], "") for i in sorted_english_order(en)]
    return _eval_data(queries, candidates, {f"{lang}-{i}": [f"en-{i}"] for i in range(len(xx))})


# --- LAReQA (XQuAD-R) and its SQuAD training pairs --------------------------------------------
LAREQA_LAYOUT = Layout(
    "lareqa",
    "`xquad-r/{lang}.json`: SQuAD JSON whose paragraphs carry `sentence_breaks` ([start, end] character spans)",
    "google-research/xtreme `scripts/download_data.sh`, function download_lareqa (the google-research-datasets/lareqa "
    "repository), writes lareqa/.",
)
SQUAD_LAYOUT = Layout(
    "lareqa (training)",
    "SQuAD v1.1 JSON (`data` → `paragraphs` → `context`, `qas` with `answers[0].answer_start`)",
    "google-research/xtreme `scripts/download_data.sh` (download_squad) writes squad/train-v1.1.json and dev-v1.1.json.",
)
_SENTENCE_END = re.compile(r"[.!?。！？]+[\"'”’)\]]*(?=\s|$)")


def sentence_breaks(text: str) -> list[tuple[int, int]]:
    """[start, end) spans of the sentences of `text`: a sentence ends after a run of . ! ? (or 。！？)
    followed by whitespace or the end; surrounding whitespace is not part of a sentence.

    Used for SQuAD paragraphs, which carry no breaks (xtreme infers them with sb_sed); XQuAD-R's own breaks win.
    """
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


def _squad_paragraphs(path: str) -> Iterator[dict[str, Any]]:
    try:
        data = json.loads(read_text(path))
        for article in data["data"]:
            yield from article["paragraphs"]
    except (ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path}: not SQuAD-format JSON ({e!r}).") from None


def _answer_sentence(context: str, breaks: Sequence[Sequence[int]], answer_start: int) -> str | None:
    for start, end in breaks:
        if start <= answer_start < end:
            return context[start:end]
    return None


@_per_data_dir
def _xquad_r(langs: tuple[str, ...]) -> tuple[dict[str, list[tuple[str, str]]], list[tuple[str, str, str]], dict[str, list[str]]]:
    """Questions per language [(uid, question)], the candidate pool [(uid, sentence, context)] over all
    languages, and xling id → answer candidate uids, as xtreme's `utils_lareqa.load_data` builds them."""
    questions: dict[str, list[tuple[str, str]]] = {}
    pool: dict[str, tuple[str, str, str]] = {}
    answers: dict[str, list[str]] = collections.defaultdict(list)
    for lang in langs:
        path = LAREQA_LAYOUT.find(f"lareqa/xquad-r/{lang}.json")
        questions[lang] = []
        skipped = 0
        for number, paragraph in enumerate(_squad_paragraphs(path), start=1):
            context = paragraph["context"]
            if "sentence_breaks" not in paragraph:
                raise InputError(f"{path}: paragraph {number} has no 'sentence_breaks'; XQuAD-R files carry them.")
            sentences = [context[s:e] for s, e in paragraph["sentence_breaks"]]
            uids = [f"{lang}_{number}_{pos}" for pos in range(len(sentences))]
            for uid, sentence in zip(uids, sentences):
                pool.setdefault(uid, (uid, sentence, context))
            for qa in paragraph["qas"]:
                if len(qa.get("answers", [])) != 1:
                    raise InputError(f"{path}: question {qa.get('id')!r} has {len(qa.get('answers', []))} answers; XQuAD-R has exactly one.")
                answer = _answer_sentence(context, paragraph["sentence_breaks"], qa["answers"][0]["answer_start"])
                if answer is None:  # the answer crosses a sentence break: xtreme skips the question
                    skipped += 1
                    continue
                questions[lang].append((f"{qa['id']}_{lang}", qa["question"]))
                for uid, sentence in zip(uids, sentences):
                    if sentence == answer and uid not in answers[qa["id"]]:
                        answers[qa["id"]].append(uid)
        if skipped:
            logger.info("%s: %d questions skipped, their answer crosses a sentence break (as xtreme skips them).", path, skipped)
    return questions, list(pool.values()), dict(answers)


def lareqa(langs: tuple[str, ...], lang: str, file_split: str) -> EvalData:
    """Questions in `lang` (queries) against the answer sentences of every language in `langs`."""
    del file_split  # XQuAD-R has one split
    questions, pool, answers = _xquad_r(langs)
    relevant = {uid: answers[uid.rsplit("_", 1)[0]] for uid, _ in questions[lang]}
    return _eval_data([(uid, q, "") for uid, q in questions[lang]], pool, relevant)


@_per_data_dir
def squad_pairs(file_split: str) -> tuple[Pair, ...]:
    """(question, answer sentence, paragraph) for each SQuAD v1.1 question whose answer lies in one sentence."""
    path = SQUAD_LAYOUT.find(f"squad/{file_split}-v1.1.json")
    pairs = []
    for paragraph in _squad_paragraphs(path):
        context = paragraph["context"]
        breaks = paragraph.get("sentence_breaks") or sentence_breaks(context)
        for qa in paragraph["qas"]:
            if not qa.get("answers"):
                continue
            sentence = _answer_sentence(context, breaks, qa["answers"][0]["answer_start"])
            if sentence is not None:
                pairs.append((qa["question"], sentence, context))
    if not pairs:
        raise InputError(f"{path}: no question has its answer inside one sentence; is it SQuAD v1.1?")
    return tuple(pairs)


# --- Mewsli-X --------------------------------------------------------------------------------
MEWSLIX_LAYOUT = Layout(
    "mewslix",
    "JSON lines in Mewsli-X's schema: candidate_set_entities.jsonl (Entity), wikipedia_pairs-{train,dev}.jsonl "
    "(MentionEntityPair), and the WikiNews mentions (ContextualMentions) either as Mewsli-X writes them, "
    "wikinews_mentions-{dev,test}.jsonl, or as xtreme's preprocessing splits them, wikinews_mentions/{dev,test}-<lang>.jsonl",
    "google-research/xtreme `scripts/download_data.sh`, function download_mewslix (it runs Mewsli-X's get-mewsli-x.sh "
    "from google-research/google-research dense_representations_for_entity_retrieval/mel), writes mewslix/.",
)
MEWSLIX_TEST_GOLD = (
    "xtreme's download_mewslix blanks the test entity ids (utils_preprocess.py mewslix_preprocess) and deletes "
    "wikinews_mentions-test.jsonl; run Mewsli-X's own get-mewsli-x.sh (google-research/google-research, "
    "dense_representations_for_entity_retrieval/mel) and copy its output/dataset/wikinews_mentions-test.jsonl "
    "into <data dir>/mewslix/ (it is read first)."
)
_MARKED = re.compile(r"\{(.*?)\}")


def _normalize(text: str) -> str:
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def entity_text(entity: dict[str, Any]) -> str:
    """An entity's description sentences, joined and whitespace-normalized (Mewsli-X's baseline input)."""
    description = entity["description"]
    return _normalize(" ".join(description[s["start"] : s["end"]] for s in entity["sentence_spans"]))


def mention_text(context: dict[str, Any], mention: dict[str, Any], where: str) -> str:
    """The mention in its sentence, marked `{ mention }` and repeated in front ("X: ... { X } ..."), as
    Mewsli-X's baseline; braces already in the sentence become parentheses."""
    span = mention["mention_span"]
    start, end = span["start"], span["end"]
    for sentence in context["sentence_spans"]:
        if sentence["start"] <= start and end <= sentence["end"]:
            text = context["text"]
            left = _MARKED.sub(r"(\1)", text[sentence["start"] : start])
            right = _MARKED.sub(r"(\1)", text[end : sentence["end"]])
            return _normalize(f"{span['text']}: {left} {{ {span['text']} }} {right}")
    raise InputError(f"{where}: mention {mention.get('example_id')!r} is not inside one sentence of its context.")


def _jsonl(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for lineno, line in enumerate(_lines(path), start=1):
        if line.strip():
            try:
                yield lineno, json.loads(line)
            except ValueError as e:
                raise InputError(f"{path}:{lineno}: not JSON ({e}).") from None


@_per_data_dir
def mewslix_candidates() -> tuple[tuple[str, str, str], ...]:
    """(entity id, description text, "") for the whole candidate set."""
    path = MEWSLIX_LAYOUT.find("mewslix/candidate_set_entities.jsonl")
    try:
        return tuple((e["entity_id"], entity_text(e), "") for _, e in _jsonl(path))
    except (KeyError, TypeError) as e:
        raise InputError(f"{path}: an entity lacks {e}; expected Mewsli-X's Entity schema.") from None


def _read_mentions(path: str) -> dict[str, list[tuple[str, str, str]]]:
    """language → [(example id, mention text, gold entity id)] of one ContextualMentions file; a blank
    entity id (xtreme's blanked test gold) is refused."""
    by_lang: dict[str, list[tuple[str, str, str]]] = collections.defaultdict(list)
    for lineno, row in _jsonl(path):
        try:
            context = row["context"]
            for m in row["mentions"]:
                if not m["entity_id"]:
                    raise InputError(
                        f"{path}:{lineno}: mewslix: mention {m['example_id']!r} has an empty 'entity_id' (blanked gold). "
                        + MEWSLIX_TEST_GOLD
                    )
                by_lang[context["language"]].append((m["example_id"], mention_text(context, m, f"{path}:{lineno}"), m["entity_id"]))
        except (KeyError, TypeError) as e:
            raise InputError(f"{path}:{lineno}: lacks {e}; expected Mewsli-X's ContextualMentions schema.") from None
    return dict(by_lang)


@_per_data_dir
def _mentions(file_split: str, lang: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The file read and the mentions in `lang`: Mewsli-X's all-language file when present, else xtreme's per-language one."""
    path = MEWSLIX_LAYOUT.find(
        f"mewslix/wikinews_mentions-{file_split}.jsonl", f"mewslix/wikinews_mentions/{file_split}-{lang}.jsonl"
    )
    return path, _read_mentions(path).get(lang, [])


def mewslix(lang: str, file_split: str) -> EvalData:
    """Mentions in `lang` (queries) against the whole entity candidate set."""
    candidates = mewslix_candidates()
    known = {c[0] for c in candidates}
    path, mentions = _mentions(file_split, lang)
    unknown = [(ex, ent) for ex, _, ent in mentions if ent not in known]
    if unknown:
        raise InputError(
            f"{path}: mentions {unknown[:3]} name entities missing from candidate_set_entities.jsonl; both files "
            "must come from the same Mewsli-X release."
        )
    return _eval_data([(ex, text, "") for ex, text, _ in mentions], candidates, {ex: [ent] for ex, _, ent in mentions})


@_per_data_dir
def wikipedia_pairs(file_split: str, language: str = "en") -> tuple[Pair, ...]:
    """(mention text, entity description, "") for the Wikipedia mention–entity pairs in `language`."""
    path = MEWSLIX_LAYOUT.find(f"mewslix/wikipedia_pairs-{file_split}.jsonl")
    pairs = []
    for lineno, row in _jsonl(path):
        try:
            cm = row["contextual_mention"]
            if cm["context"]["language"] == language:
                pairs.append((mention_text(cm["context"], cm["mention"], f"{path}:{lineno}"), entity_text(row["entity"]), ""))
        except (KeyError, TypeError) as e:
            raise InputError(f"{path}:{lineno}: lacks {e}; expected Mewsli-X's MentionEntityPair schema.") from None
    if not pairs:
        raise InputError(f"{path}: no mention-entity pair in language {language!r}.")
    return tuple(pairs)
