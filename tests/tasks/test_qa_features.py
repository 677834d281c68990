"""QA featurization: character offsets, windows, gold spans that decode to the answer text, bad input."""

from __future__ import annotations

import pathlib
import unicodedata

import gin
import numpy as np
import pytest
import seqio
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks import qa_features, sources
from tasks.qa_features import QaSettings, featurize
from xstilts_jax.data.vocabularies import (
    EncoderVocabulary,
    WordPieceVocabulary,
    load_vocabulary,
)
from xstilts_jax.errors import ConfigError, InputError
from xstilts_jax.evaluation.decoders.spans import best_answer, window_candidates


@pytest.fixture(scope="module")
def spm(spm_dir: pathlib.Path) -> EncoderVocabulary:
    return load_vocabulary(spm_dir)


@pytest.fixture(scope="module")
def bert_cased(bert_dir: pathlib.Path) -> EncoderVocabulary:
    # mBERT cased: no accent stripping, so Thai vowel signs and other marks stay in the text.
    return WordPieceVocabulary(bert_dir / "vocab.txt", lowercase=False)


@pytest.fixture(scope="module", params=["xlmr", "bert"])
def vocab(request: pytest.FixtureRequest, spm: EncoderVocabulary, bert_cased: EncoderVocabulary) -> EncoderVocabulary:
    return spm if request.param == "xlmr" else bert_cased


# Words of letters, marks, digits, punctuation and symbols from every script (Chinese, Thai and
# Arabic made likely), separated by runs of Unicode whitespace: no word is dropped whole by a
# tokenizer, and no token can cross a word boundary.
_WORD_CHARS = st.characters(categories=("L", "M", "N", "P", "S"), codec="utf-8") | st.sampled_from(
    "北京大学在东京漢字猫" + "แม่น้ำไรน์ไหลลงสู่ทะเลเหนือ" + "بحرالشمال"
)
_WORD = st.text(_WORD_CHARS, min_size=1, max_size=8).filter(lambda w: not any(c.isspace() for c in w))
_SPACE = st.text(st.sampled_from(" \u3000\u00a0\t\n"), min_size=1, max_size=2)


@st.composite
def _context_and_answer(draw: st.DrawFn) -> tuple[str, int, int]:
    """(context, answer start, answer end): the answer is a run of whole words."""
    words = draw(st.lists(_WORD, min_size=1, max_size=30))
    spaces = draw(st.lists(_SPACE, min_size=len(words) + 1, max_size=len(words) + 1))
    starts, text = [], spaces[0]
    for word, space in zip(words, spaces[1:]):
        starts.append(len(text))
        text += word + space
    first = draw(st.integers(0, len(words) - 1))
    last = draw(st.integers(first, min(len(words) - 1, first + 3)))
    return text, starts[first], starts[last] + len(words[last])


def _decode_gold(window: qa_features.Window, context: str) -> str:
    one = np.array([1.0])
    offsets = np.array(window.offsets)
    s, e = np.array([window.start_position]), np.array([window.end_position])
    candidates = window_candidates(s, one, e, one, offsets, max_answer_length=10_000)
    return best_answer(context, candidates, [0.0], allow_no_answer=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(example=_context_and_answer(), max_length=st.integers(12, 40), stride=st.integers(1, 12))
def test_gold_spans_decode_to_the_answer_and_windows_cover_the_context(
    vocab: EncoderVocabulary, example: tuple[str, int, int], max_length: int, stride: int
) -> None:
    context, start, end = example
    answer = context[start:end]
    settings_ = QaSettings(max_length=max_length, doc_stride=stride, max_query_length=4)
    windows = featurize(vocab, "Wo liegt 北京?", context, [(answer, start)], settings_, "prop")
    ids, spans = vocab.encode_with_offsets(context)
    assert ids == list(vocab.encode(context))
    for w in windows:
        assert len(w.input_ids) <= max_length and w.input_ids[0] == vocab.bos_id
        labelled = (w.start_position, w.end_position) != (0, 0)
        if labelled:
            assert _decode_gold(w, context) == answer
    # Every character a tokenizer keeps lies in a token of some window.
    covered = set()
    for w in windows:
        for s, e in w.offsets:
            covered.update(range(s, e))
    # (the tokenizer drops some characters outright, e.g. SentencePiece drops U+FFFD: those are not kept)
    kept = {
        i for i, c in enumerate(context)
        if not c.isspace() and unicodedata.category(c) not in ("Cc", "Cf") and list(vocab.encode(c))
    }
    assert kept <= covered
    # An answer of at most (window budget - stride + 1) tokens lies wholly inside some window.
    budget = max_length - min(4, len(vocab.encode("Wo liegt 北京?"))) - len(vocab.join_for_model([], [])[0])
    answer_tokens = [i for i, (s, e) in enumerate(spans) if s < e and s < end and e > start]
    if len(answer_tokens) and answer_tokens[-1] - answer_tokens[0] + 1 <= budget - stride + 1:
        assert any((w.start_position, w.end_position) != (0, 0) for w in windows)


def test_offsets_follow_the_original_text(spm: EncoderVocabulary, bert_cased: EncoderVocabulary) -> None:
    text = "Crème  BRÛLÉE, 東京! ﬁne"
    for vocab in (spm, bert_cased):
        ids, spans = vocab.encode_with_offsets(text)
        assert ids == list(vocab.encode(text))
        assert all(0 <= s <= e <= len(text) for s, e in spans)
        assert "".join(text[s:e] for s, e in spans).replace(" ", "") == text.replace(" ", "")
    _, spans = bert_cased.encode_with_offsets(text)
    assert [text[s:e] for s, e in spans][-4:] == ["東", "京", "!", "ﬁne"]


def test_windows_advance_by_the_stride_and_label_only_whole_answers(spm: EncoderVocabulary) -> None:
    context = " ".join(f"w{i}" for i in range(40))
    answer = "w20 w21"
    windows = featurize(spm, "q", context, [(answer, context.index(answer))], QaSettings(16, doc_stride=4), "t")
    assert len(windows) > 3
    context_starts = [min(s for s, _ in w.offsets if s >= 0) for w in windows]
    assert context_starts == sorted(context_starts) and context_starts[0] == 0
    assert max(e for w in windows for _, e in w.offsets) == len(context)
    labelled = [w for w in windows if w.start_position > 0]
    assert labelled and all(_decode_gold(w, context) == answer for w in labelled)
    assert all((w.start_position, w.end_position) == (0, 0) for w in windows if w not in labelled)


def test_question_is_cut_and_layout_has_the_model_specials(spm: EncoderVocabulary) -> None:
    question = "one two three four five six seven eight nine ten"
    [w] = featurize(spm, question, "ctx", [], QaSettings(64, max_query_length=3), "t")
    query = list(spm.encode(question))[:3]
    assert w.input_ids[: len(query) + 3] == [spm.bos_id, *query, spm.eos_id, spm.eos_id]
    assert w.input_ids[-1] == spm.eos_id and (w.start_position, w.end_position) == (0, 0)
    with pytest.raises(ConfigError, match="leaves no room for the context"):
        featurize(spm, question, "ctx", [], QaSettings(6, max_query_length=3), "t")


def test_bad_answers_fail_or_lose_their_training_signal(spm: EncoderVocabulary) -> None:
    context = "The Rhine flows into the North Sea."
    with pytest.raises(InputError, match=r"xquad\.en: example id 'q7': answer text 'Baltic' does not match the context "
                       r"at answer_start 25 \('North '\).*qa_featurization.bad_input"):
        featurize(spm, "Where?", context, [("Baltic", 25)], QaSettings(64), "xquad.en: example id 'q7'")
    with pytest.raises(InputError, match="the context is empty"):
        featurize(spm, "Where?", "  ", [], QaSettings(64), "squad: example id 'q8'")
    skipped = featurize(spm, "Where?", context, [("Baltic", 25)], QaSettings(64, bad_input="skip"), "t")
    assert [(w.start_position, w.end_position) for w in skipped] == [(-1, -1)]
    with pytest.raises(ConfigError, match="bad_input must be one of"):
        gin.bind_parameter("qa_featurization.bad_input", "ignore")
        qa_features.qa_featurization()


def _qa_dataset(rows: list[dict]) -> tf.data.Dataset:
    signature = {k: v for k, v in sources.SCHEMAS[sources.QA].items()}
    return tf.data.Dataset.from_generator(lambda: iter(rows), output_signature=signature)


def test_encode_qa_in_tf_data_matches_python(spm: EncoderVocabulary) -> None:
    context = "Kibo is the highest cone; Uhuru Peak rises 5,895 metres."
    rows = [
        {"idx": 0, "id": "a", "question": "How high?", "context": context, "answers": ["5,895 metres"],
         "answer_starts": [context.index("5,895")]},
        {"idx": 1, "id": "b", "question": "Unanswerable?", "context": context, "answers": [], "answer_starts": []},
    ]
    features = {"inputs": seqio.Feature(vocabulary=spm, add_eos=False, dtype=tf.int32)}
    gin.bind_parameter("qa_featurization.doc_stride", 4)
    ds = qa_features.encode_qa(_qa_dataset(rows), features, {"inputs": 32}, allow_no_answer=True, task="demo")
    out = list(ds.as_numpy_iterator())
    for row in rows:
        expected = featurize(spm, row["question"], row["context"], list(zip(row["answers"], row["answer_starts"])),
                             QaSettings(32, doc_stride=4), "demo")
        got = [ex for ex in out if ex["idx"] == row["idx"]]
        assert [ex["window"] for ex in got] == list(range(len(expected)))
        for ex, w in zip(got, expected):
            assert ex["inputs"].tolist() == w.input_ids and ex["offsets"].tolist() == [list(o) for o in w.offsets]
            assert (ex["start_positions"], ex["end_positions"]) == (w.start_position, w.end_position)
            assert ex["targets"].tolist() == [w.start_position, w.end_position]
            assert ex["allow_no_answer"] == 1 and ex["context"].decode() == context and ex["id"].decode() == row["id"]
    assert any(ex["start_positions"] > 0 for ex in out if ex["idx"] == 0)
    bad = [dict(rows[0], answers=["Kilimanjaro"])]
    with pytest.raises(tf.errors.OpError, match="demo: example id 'a': answer text 'Kilimanjaro' does not match"):
        list(qa_features.encode_qa(_qa_dataset(bad), features, {"inputs": 32}, False, "demo").as_numpy_iterator())


def test_read_squad_json_names_a_bad_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"data": [{"title": "x"}]}')
    with pytest.raises(InputError, match=r"bad\.json: not a SQuAD-format JSON file"):
        sources.read_squad_json(str(path))


# --- sources -------------------------------------------------------------------------------------


def _read(spec: sources.SourceSpec, split: str) -> list[dict]:
    ds = spec.canonicalize(spec.source.get_dataset(split, shuffle=False))
    assert ds.element_spec == sources.SCHEMAS[sources.QA]
    return list(ds.as_numpy_iterator())


def test_qa_sources_read_tfds_and_the_xtreme_layout(
    monkeypatch: pytest.MonkeyPatch, catalog_data: pathlib.Path
) -> None:
    from tfds_mocks import mock_tfds, squad_json_examples

    monkeypatch.setenv(sources.ENV_DATA_DIR, str(catalog_data))
    tydi = {"train": squad_json_examples(catalog_data / "tydiqa" / "tydiqa-goldp-v1.1-train.json")}
    with mock_tfds(tydi):
        train = _read(sources.tydiqa_train(), "train")
    # the English rows only, numbered by their position in the full (multilingual) train split
    assert [ex["id"].decode() for ex in train] == ["english-1000-0", "english-2000-0"]
    assert [ex["idx"] for ex in train] == [0, 5]
    assert sources.tydiqa("ko").splits == {"validation": "validation-ko"}
    assert sources.squad_v2().allow_no_answer and not sources.squad().allow_no_answer
    ro = _read(sources.xquad("ro"), "test")  # not in TFDS: xtreme's download/xquad/xquad.ro.json
    assert ro[0]["answers"].tolist() == [b"\xc3\xaen Marea Nordului", b"Marea Nordului"]
    assert isinstance(sources.xquad("th").source, seqio.TfdsDataSource)
    monkeypatch.setenv(sources.ENV_DATA_DIR, "/nonexistent")
    with pytest.raises(ConfigError, match=r"xquad \(ro\): data file not found.*xquad\.ro\.json"):
        _read(sources.xquad("ro"), "test")
    with pytest.raises(ConfigError, match="unknown language 'fr'"):
        sources.mlqa("fr")
