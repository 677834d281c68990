"""File readers on the layouts google-research/xtreme's `scripts/download_data.sh` and `utils_preprocess.py`
write, and on the upstream releases: blanked gold is refused, bad rows name file:line and field.

Every fixture is written here from a few rows, with the real file names and columns.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from tasks import sources
from tasks.qa_features import QaSettings, featurize
from tasks.sources import retrieval as rs
from tasks.sources import ud
from xstilts_jax.data.label_kinds import IGNORE_LABEL
from xstilts_jax.errors import ConfigError, InputError


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(sources.ENV_DATA_DIR, str(tmp_path))
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, rows: list[dict]) -> Path:
    return write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def rows(spec: sources.SourceSpec, split: str) -> list[dict]:
    ds = spec.canonicalize(spec.source.get_dataset(split, shuffle=False))
    return [
        {k: (v.decode() if isinstance(v, bytes) else [x.decode() for x in v] if isinstance(v, np.ndarray) and v.dtype == object else v)
         for k, v in ex.items()}
        for ex in ds.as_numpy_iterator()
    ]


def copa_row(idx: int, label: int, question: str = "cause") -> dict:
    return {"premise": f"P{idx}.", "choice1": f"A{idx}.", "choice2": f"B{idx}.", "question": question, "label": label, "idx": idx}


# --- XCOPA and COPA ---------------------------------------------------------------------------
def test_xcopa_refuses_xtreme_blanked_test_and_reads_the_release_first(data: Path) -> None:
    # download_xcopa: val-<lang>.jsonl as released; test-<lang>.jsonl after xcopa_preprocess set every label to 0.
    jsonl(data / "xcopa" / "val-et.jsonl", [copa_row(1, 1), copa_row(2, 0)])
    jsonl(data / "xcopa" / "test-et.jsonl", [copa_row(1, 0, "effect"), copa_row(2, 0)])
    assert [r["label"] for r in rows(sources.xcopa("et"), "validation")] == [1, 0]
    with pytest.raises(InputError) as e:
        rows(sources.xcopa("et"), "test")
    msg = str(e.value)
    assert str(data / "xcopa" / "test-et.jsonl") in msg and "every 'label' is 0" in msg and "xcopa_preprocess" in msg
    assert "https://raw.githubusercontent.com/cambridgeltl/xcopa/master/data/et/test.et.jsonl" in msg
    # The release's data/<lang>/ folder copied as xcopa/<lang>/ is read before xtreme's blanked file.
    jsonl(data / "xcopa" / "et" / "test.et.jsonl", [copa_row(1, 1, "effect"), copa_row(2, 0)])
    test = rows(sources.xcopa("et"), "test")
    assert [r["label"] for r in test] == [1, 0] and test[0]["context"] == "P1. What was the effect?"


@pytest.mark.parametrize(
    "row, field",
    [({"label": 7}, "'label' is 7"), ({"label": "1"}, "'label' is '1'"), ({"question": "why"}, "'question' is 'why'")],
)
def test_xcopa_invalid_value_names_file_line_and_field(data: Path, row: dict, field: str) -> None:
    jsonl(data / "xcopa" / "val.et.jsonl", [copa_row(1, 1), copa_row(2, 0) | row])
    with pytest.raises(InputError, match=rf"val\.et\.jsonl:2: xcopa \(et\): field {field}; allowed: "):
        rows(sources.xcopa("et"), "validation")


def test_copa_reads_xtremes_english_xcopa_files(data: Path) -> None:
    # download_xcopa renames SuperGLUE's COPA/{train,val,test}.jsonl to xcopa/{train,val,test}-en.jsonl.
    jsonl(data / "xcopa" / "train-en.jsonl", [copa_row(1, 1), copa_row(2, 0), copa_row(3, 1)])
    jsonl(data / "xcopa" / "val-en.jsonl", [copa_row(4, 0)])
    spec = sources.copa()
    assert [r["label"] for r in rows(spec, "train")] == [1, 0, 1]
    assert [r["choices"] for r in rows(spec, "validation")] == [["A4.", "B4."]]


# --- Social IQa and CommonsenseQA ------------------------------------------------------------
def test_socialiqa_unknown_answer_letter_names_file_line_and_field(data: Path) -> None:
    good = {"context": "C", "question": "Q?", "answerA": "a", "answerB": "b", "answerC": "c", "correct": "B"}
    jsonl(data / "siqa" / "socialIQa_v1.4_dev.jsonl", [good, good | {"correct": "D"}])
    with pytest.raises(InputError, match=r"socialIQa_v1\.4_dev\.jsonl:2: socialiqa: field 'correct' is 'D'; allowed: 'A', 'B', 'C'"):
        rows(sources.socialiqa(), "validation")


def test_commonsenseqa_answer_key_must_name_a_choice(data: Path) -> None:
    choices = [{"label": x, "text": x.lower()} for x in "ABCDE"]
    row = {"answerKey": "F", "id": "q1", "question": {"question_concept": "c", "choices": choices, "stem": "S?"}}
    jsonl(data / "commonsenseqa" / "dev_rand_split.jsonl", [row])
    with pytest.raises(InputError, match=r"dev_rand_split\.jsonl:1: commonsenseqa: field 'answerKey' is 'F'"):
        rows(sources.commonsenseqa(), "validation")


# --- span QA: stripped gold ------------------------------------------------------------------
def squad_file(path: Path, answers: list[dict]) -> Path:
    qa = {"id": "56beb4343aeaaa14008c925b", "question": "Who?", "answers": answers}
    return write(path, json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "Ana sang.", "qas": [qa]}]}]}))


def test_stripped_qa_file_is_refused_and_featurization_names_the_example(data: Path) -> None:
    # remove_qa_test_annotations writes answers [{"answer_start": 0, "text": ""}].
    squad_file(data / "xquad" / "xquad.ro.json", [{"answer_start": 0, "text": ""}])
    with pytest.raises(InputError) as e:
        rows(sources.xquad("ro"), "test")
    assert "xquad.ro.json: question '56beb4343aeaaa14008c925b' has an empty gold answer (field 'answers[].text')" in str(e.value)
    assert "https://raw.githubusercontent.com/deepmind/xquad/master/xquad.ro.json" in str(e.value)

    class Chars:  # one token per character: enough for featurize, which checks the answer first
        pad_id = 0

        def encode(self, text: str) -> list[int]:
            return [ord(c) for c in text]

        def encode_with_offsets(self, text: str):
            return [ord(c) for c in text], [(i, i + 1) for i in range(len(text))]

        def join_for_model(self, a, b):
            return [1, *a, 2, *b, 2], [0] * (len(a) + 2) + [1] * (len(b) + 1)

    with pytest.raises(InputError, match=r"xquad\.ro: example id 'q1': the gold answer \(field 'answers'.*is empty"):
        featurize(Chars(), "Who?", "Ana sang.", [("", 0)], QaSettings(max_length=64), "xquad.ro: example id 'q1'")
    windows = featurize(Chars(), "Who?", "Ana sang.", [("", 0)], QaSettings(max_length=64, bad_input="skip"), "x")
    assert {(w.start_position, w.end_position) for w in windows} == {(IGNORE_LABEL, IGNORE_LABEL)}


# --- Mewsli-X ----------------------------------------------------------------------------------
def mention_row(lang: str, example_id: str, entity_id: str) -> dict:
    text = "Paris is big."
    return {
        "context": {"document_id": "d1", "section_id": "s1", "language": lang, "text": text, "sentence_spans": [{"start": 0, "end": 13}]},
        "mentions": [{"example_id": example_id, "mention_span": {"start": 0, "end": 5, "text": "Paris"}, "entity_id": entity_id}],
    }


def test_mewslix_reads_xtremes_per_language_layout_and_refuses_blanked_test(data: Path) -> None:
    entity = {"entity_id": "Q90", "description": "Paris is the capital of France.", "sentence_spans": [{"start": 0, "end": 31}]}
    jsonl(data / "mewslix" / "candidate_set_entities.jsonl", [entity])
    # mewslix_preprocess: wikinews_mentions/{dev,test}-<lang>.jsonl, test entity ids set to "".
    jsonl(data / "mewslix" / "wikinews_mentions" / "dev-fr.jsonl", [mention_row("fr", "fr-1", "Q90")])
    jsonl(data / "mewslix" / "wikinews_mentions" / "test-fr.jsonl", [mention_row("fr", "fr-2", "")])
    dev = rs.mewslix("fr", "dev")
    assert dev.split.relevant == {"fr-1": ["Q90"]} and dev.texts[0] == "Paris: { Paris } is big."
    with pytest.raises(InputError) as e:
        rs.mewslix("fr", "test")
    msg = str(e.value)
    assert f"{data}/mewslix/wikinews_mentions/test-fr.jsonl:1: mewslix: mention 'fr-2' has an empty 'entity_id'" in msg
    assert "get-mewsli-x.sh" in msg and "wikinews_mentions-test.jsonl" in msg
    # Mewsli-X's own all-language file wins when present.
    jsonl(data / "mewslix" / "wikinews_mentions-test.jsonl", [mention_row("fr", "fr-2", "Q90"), mention_row("de", "de-1", "Q90")])
    assert rs.mewslix("fr", "test").split.relevant == {"fr-2": ["Q90"]}


def test_retrieval_messages_cite_download_data_sh_functions() -> None:
    for layout, function in ((rs.MEWSLIX_LAYOUT, "download_mewslix"), (rs.LAREQA_LAYOUT, "download_lareqa")):
        assert f"`scripts/download_data.sh`, function {function}" in layout.how_to_obtain
        assert ".sh`" not in layout.how_to_obtain.replace("download_data.sh`", "")


def test_bucc_without_test_gold_says_where_the_gold_is(data: Path) -> None:
    # download_bucc18 renames training -> test and deletes *test.gold.
    write(data / "bucc2018" / "de-en.test.de", "de-000001\tHallo Welt.\n")
    write(data / "bucc2018" / "de-en.test.en", "en-000001\tHello world.\n")
    missing = rs.bucc("de", "test")
    assert missing.split is None
    assert str(data / "bucc2018" / "de-en.test.gold") in missing.missing_gold
    assert "https://comparable.limsi.fr/bucc2018/bucc2018-{lg}-en.training-gold.tar.bz2" in missing.missing_gold


# --- UD-POS test split from the UD release ---------------------------------------------------
EWT = """# newdoc id = weblog-blogspot.com_nominations_20041117172713_ENG_20041117_172713
# sent_id = weblog-blogspot.com_nominations_20041117172713_ENG_20041117_172713-0001
# text = What if Google Morphed Into GoogleOS?
1\tWhat\twhat\tPRON\tWP\tPronType=Int\t0\troot\t0:root\t_
2\tif\tif\tSCONJ\tIN\t_\t4\tmark\t4:mark\t_
3\tGoogle\tGoogle\tPROPN\tNNP\tNumber=Sing\t4\tnsubj\t4:nsubj\t_
4\tMorphed\tmorph\tVERB\tVBD\t_\t1\tadvcl\t1:advcl:if\t_
5\tInto\tinto\tADP\tIN\t_\t6\tcase\t6:case\t_
6\tGoogleOS\tGoogleOS\tPROPN\tNNP\tNumber=Sing\t4\tobl\t4:obl:into\tSpaceAfter=No
7\t?\t?\tPUNCT\t.\t_\t4\tpunct\t4:punct\t_

# sent_id = reviews-0002
# text = Go home and eat.
1\tGo\tgo\tVERB\tVB\t_\t0\troot\t0:root\t_
2\thome\thome\tADV\tRB\t_\t1\tadvmod\t1:advmod\t_
3\tand\tand\tCCONJ\tCC\t_\t4\tcc\t4:cc|3.1:cc\t_
3.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t1:conj\tCopyOf=1
4\teat\teat\tVERB\tVB\t_\t1\tconj\t1:conj\tSpaceAfter=No
5\t.\t.\tPUNCT\t.\t_\t1\tpunct\t1:punct\t_

"""
# en_esl ships without its words (every form "_"): xtreme's udpos_preprocess drops such sentences.
ESL = "1\t_\t_\tPRON\tPRP\t_\t2\tnsubj\t_\t_\n2\t_\t_\tVERB\tVBP\t_\t0\troot\t_\t_\n3\t.\t.\tPUNCT\t.\t_\t2\tpunct\t_\t_\n\n"
# Spanish fused forms: "dámelo" = da me lo (the verb heads the span), "del" = de el (a tie: es precedence, ADP).
ANCORA = """# sent_id = CESS-CAST-A-1
# text = Dámelo del mar.
1-3\tDámelo\t_\t_\t_\t_\t_\t_\t_\t_
1\tDá\tdar\tVERB\t_\t_\t0\troot\t_\t_
2\tme\tyo\tPRON\t_\t_\t1\tiobj\t_\t_
3\tlo\tél\tPRON\t_\t_\t1\tobj\t_\t_
4-5\tdel\t_\t_\t_\t_\t_\t_\t_\t_
4\tde\tde\tADP\t_\t_\t6\tcase\t_\t_
5\tel\tel\tDET\t_\t_\t6\tdet\t_\t_
6\tmar\tmar\tNOUN\t_\t_\t1\tobl\t_\t_
7\t.\t.\tPUNCT\t_\t_\t1\tpunct\t_\t_

"""


def test_udpos_test_split_merges_treebanks_as_xtreme_converts_them(data: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = data / "ud-treebanks-v2.5"
    write(root / "UD_English-EWT" / "en_ewt-ud-test.conllu", EWT)
    write(root / "UD_English-ESL" / "en_esl-ud-test.conllu", ESL)
    write(root / "UD_English-EWT" / "en_ewt-ud-dev.conllu", ESL)  # not a test file: ignored
    write(root / "UD_Spanish-AnCora" / "es_ancora-ud-test.conllu", ANCORA)
    with caplog.at_level(logging.INFO):
        test = rows(sources.udpos("en"), "test")
    assert [(r["tokens"], r["tags"]) for r in test] == [
        (["What", "if", "Google", "Morphed", "Into", "GoogleOS", "?"], ["PRON", "SCONJ", "PROPN", "VERB", "ADP", "PROPN", "PUNCT"]),
        (["Go", "home", "and", "eat", "."], ["VERB", "ADV", "CCONJ", "VERB", "PUNCT"]),
    ]
    assert "en_esl-ud-test.conllu: 1 sentences dropped" in caplog.text
    assert ud.read_test("es") == [(["Dámelo", "del", "mar", "."], ["VERB", "ADP", "NOUN", "PUNCT"])]


def test_udpos_words_lose_spaces_and_zero_width_non_joiners(data: Path) -> None:
    conllu = "1\tHà Nội\tHà Nội\tPROPN\t_\t_\t0\troot\t_\t_\n2\tمی\u200cروم\t_\tVERB\t_\t_\t1\tdep\t_\t_\n\n"
    write(data / "ud-treebanks-v2.5" / "UD_Vietnamese-VTB" / "vi_vtb-ud-test.conllu", conllu)
    assert ud.read_test("vi") == [(["HàNội", "میروم"], ["PROPN", "VERB"])]


def test_udpos_test_needs_the_ud_release_of_the_language(data: Path) -> None:
    write(data / "udpos" / "test-kk.tsv", "Мен\nкелдім\n\n")  # xtreme's test file: words only
    with pytest.raises(ConfigError) as e:
        rows(sources.udpos("kk"), "test")
    assert "ud-treebanks-v2.5/*/kk_*-ud-test.conllu" in str(e.value) and "ud-treebanks-v2.5.tgz" in str(e.value)
    with pytest.raises(ConfigError, match=r"ud-treebanks-v2\.7/\*/lt_\*-ud-test\.conllu.*1-3424/ud-treebanks-v2\.7\.tgz"):
        ud.read_test("lt")
    write(data / "ud-treebanks-v2.5" / "UD_Kazakh-KTB" / "kk_ktb-ud-test.conllu", "1\tМен\tмен\tPRON\t_\t_\t0\troot\n\n")
    with pytest.raises(InputError, match=r"kk_ktb-ud-test\.conllu:1: udpos \(kk\): expected 10 tab-separated CoNLL-U columns, got 8"):
        ud.read_test("kk")


def test_udpos_fused_form_ties_follow_the_languages_precedence_list(tmp_path: Path) -> None:
    # Both words of "1-2" hang from word 3: a tie, broken by conllu_to_conll.py's POS precedence of the language.
    path = write(tmp_path / "x-ud-test.conllu", "1-2\tsele\t_\t_\t_\t_\t_\t_\t_\t_\n1\tse\tse\tPRON\t_\t_\t3\texpl\t_\t_\n"
                 "2\tle\tle\tAUX\t_\t_\t3\taux\t_\t_\n3\tdio\tdar\tVERB\t_\t_\t0\troot\t_\t_\n\n")
    assert ud.read_conllu(str(path), "es") == [(["sele", "dio"], ["AUX", "VERB"])]
    assert ud.read_conllu(str(path), "pt") == [(["sele", "dio"], ["PRON", "VERB"])]
