"""Vocabularies: ids equal Hugging Face's tokenizers; TF path equals Python path; seqio integration."""

import json
import pathlib
import shutil
import unicodedata

import gin
import pytest
import seqio
import tensorflow as tf
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from transformers import BertTokenizer, XLMRobertaTokenizer

from xstilts_jax.data.vocabularies import (
    VOCABULARY_FILES,
    WordPieceVocabulary,
    XlmrSentencePieceVocabulary,
    load_vocabulary,
)
from vocab_fixtures import LINES, SAMPLE
from xstilts_jax.errors import CheckpointError, InputError

SENTENCES = [
    "The little red boat drifted past the lighthouse at 6:45 in the morning.",
    "Der alte Bäcker öffnet seinen Laden jeden Morgen um fünf Uhr.",
    "¿Dónde está la estación de autobuses más cercana?",
    "Старый рыбак каждое утро выходит в море на своей лодке.",
    "Καλημέρα! Τι κάνεις σήμερα; ΟΔΟΣ",
    "ذهب الولد الصغير إلى السوق مع والده صباح يوم الجمعة.",
    "क्या आप मुझे बता सकते हैं कि स्टेशन कहाँ है?",
    "小猫在窗台上晒太阳，看起来非常舒服。",
    "駅の近くに新しいパン屋ができました。",
    "แมวของฉันชอบนอนบนโซฟาตอนบ่าย",
    "작은 고양이가 창가에서 햇볕을 쬐고 있어요.",
    "Con mèo nhỏ đang ngủ trên ghế sofa cạnh cửa sổ.",
    "İstanbul'da Straße, naïve ＡＢＣ１２３ — ok?!",
    "I ❤️ pizza 🍕 and 🥰 zzz⿻ at 10:30 #café",
    "tabs\tand\nnewlines\r\u00a0nbsp\u3000ideographic\u200bzero-width\x00nul\ufffd",
    "",
    "   ",
]
PAIRS = [(SENTENCES[i], SENTENCES[j]) for i, j in [(0, 1), (7, 5), (13, 9), (2, 14), (10, 12), (3, 3)]]
XLMR_SPECIAL_STRINGS = ("<s>", "</s>", "<pad>", "<unk>", "<mask>")


# --- fixtures: vocabularies over the sample text (`spm_dir`, `bert_dir` in conftest.py) ---


@pytest.fixture(scope="module")
def xlmr(spm_dir: pathlib.Path) -> XlmrSentencePieceVocabulary:
    return XlmrSentencePieceVocabulary(spm_dir / "sentencepiece.bpe.model")


@pytest.fixture(scope="module")
def hf_xlmr(spm_dir: pathlib.Path) -> XLMRobertaTokenizer:
    return XLMRobertaTokenizer.from_pretrained(str(spm_dir))


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def bert_pair(request: pytest.FixtureRequest, bert_dir: pathlib.Path) -> tuple[WordPieceVocabulary, BertTokenizer]:
    lowercase = request.param
    hf = BertTokenizer.from_pretrained(str(bert_dir), do_lower_case=lowercase)
    return WordPieceVocabulary(bert_dir / "vocab.txt", lowercase=lowercase), hf


# --- XLM-R SentencePiece ---


def test_xlmr_special_ids_match_hf(xlmr: XlmrSentencePieceVocabulary, hf_xlmr: XLMRobertaTokenizer) -> None:
    assert (xlmr.bos_id, xlmr.pad_id, xlmr.eos_id, xlmr.unk_id) == (0, 1, 2, 3)
    assert xlmr.pad_id == hf_xlmr.pad_token_id and xlmr.unk_id == hf_xlmr.unk_token_id
    assert xlmr.bos_id == hf_xlmr.cls_token_id and xlmr.eos_id == hf_xlmr.sep_token_id
    assert xlmr.mask_id == hf_xlmr.mask_token_id == 801  # spm vocab 800 + 1
    assert xlmr.vocab_size == len(hf_xlmr) == 802
    assert xlmr.extra_ids == 0


def test_xlmr_ids_match_hf(xlmr: XlmrSentencePieceVocabulary, hf_xlmr: XLMRobertaTokenizer) -> None:
    for text in SENTENCES:
        expected = hf_xlmr(text, return_token_type_ids=True)
        assert xlmr.encode_for_model(text) == (expected["input_ids"], expected["token_type_ids"]), text
        assert list(xlmr.encode(text)) == hf_xlmr(text, add_special_tokens=False)["input_ids"]
    for a, b in PAIRS:
        expected = hf_xlmr(a, b, return_token_type_ids=True)
        ids, type_ids = xlmr.encode_for_model(a, b)
        assert ids == expected["input_ids"], (a, b)
        assert type_ids == expected["token_type_ids"] == [0] * len(ids)
    # The fixture sentences exercise unknown pieces and pieces shifted by the fairseq offset.
    assert xlmr.unk_id in xlmr.encode(SENTENCES[13])
    assert max(xlmr.encode(" ".join(SENTENCES))) > 700


def test_xlmr_sample_lines_match_hf(xlmr: XlmrSentencePieceVocabulary, hf_xlmr: XLMRobertaTokenizer) -> None:
    expected = hf_xlmr(LINES, add_special_tokens=False)["input_ids"]
    assert [list(xlmr.encode(line)) for line in LINES] == expected


def test_xlmr_decode_round_trip(xlmr: XlmrSentencePieceVocabulary) -> None:
    checked = 0
    for line in LINES:
        ids = list(xlmr.encode(line))
        if xlmr.unk_id in ids:
            continue
        expected = " ".join(unicodedata.normalize("NFKC", line).split())
        assert xlmr.decode(ids) == expected
        # Special tokens vanish; seqio's decode stops at the first </s>.
        assert xlmr.decode(xlmr.encode_for_model(line, "second segment")[0]) == expected
        checked += 1
    assert checked > 100
    ids = list(xlmr.encode(LINES[0]))
    padded = tf.constant([ids + [xlmr.eos_id, xlmr.pad_id, xlmr.pad_id], [xlmr.mask_id] + ids + [xlmr.pad_id] * 2])
    decoded = [s.decode("utf-8") for s in xlmr.decode_tf(padded).numpy()]
    assert decoded == [LINES[0], LINES[0]]


# SentencePiece and HF's port of it disagree on combining marks that do not follow a base
# letter of the same word, and HF alone treats U+0085 as whitespace. Random characters
# therefore exclude marks; the sample words bring marks in the places real text has them.
_SAMPLE_WORDS = sorted({w for line in LINES for w in line.split()})
_SEPARATORS = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u3000", ""])


def _mixed_text(chars: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Sample words and random runs of `chars`, joined by assorted whitespace."""
    parts = st.lists(st.tuples(st.sampled_from(_SAMPLE_WORDS) | st.text(chars, max_size=10), _SEPARATORS), max_size=8)
    return st.text(chars, max_size=40) | parts.map(lambda ps: "".join(w + sep for w, sep in ps))


_XLMR_CHARS = st.characters(exclude_categories=("Cs", "M"), exclude_characters="\x85")


@settings(max_examples=300, deadline=None)
@given(text=_mixed_text(_XLMR_CHARS))
def test_xlmr_random_text_matches_hf(
    xlmr: XlmrSentencePieceVocabulary, hf_xlmr: XLMRobertaTokenizer, text: str
) -> None:
    assume(not any(s in text for s in XLMR_SPECIAL_STRINGS))  # HF matches these inside text; we do not.
    assert list(xlmr.encode(text)) == hf_xlmr(text, add_special_tokens=False)["input_ids"]


def test_xlmr_treats_special_strings_literally(xlmr: XlmrSentencePieceVocabulary) -> None:
    ids = list(xlmr.encode("a <mask> b </s>"))
    assert xlmr.mask_id not in ids and xlmr.eos_id not in ids


# --- WordPiece ---

WORDPIECE_EXTRA = [
    "ΟΔΟΣ ΣΑΣ Σ",  # per-character lowercasing: no final sigma
    "x" * 100 + " " + "y" * 101 + " " + "é" * 100 + " " + "é" * 101,  # 100 chars is a word, 101 is [UNK]
    "unmatched qqqq✓ word",
    "CJK 东京Tokyo漢字 mixed",
    "\u5927\uf900\U00020000",  # CJK compatibility ideograph decomposes under NFD
    "x\U0002b820y x\U0002b920y",  # HF's CJK range starts at U+2B920, not U+2B820 as in Google's BERT
    "soft\u00adhyphen zero\u200bwidth bom\ufeff private\ue000use",
    "Ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ and İı ß ẞ ǅ",
]


def test_wordpiece_special_ids_match_hf(bert_pair: tuple[WordPieceVocabulary, BertTokenizer]) -> None:
    vocab, hf = bert_pair
    assert vocab.pad_id == hf.pad_token_id == 0
    assert vocab.unk_id == hf.unk_token_id == 2
    assert vocab.bos_id == hf.cls_token_id and vocab.eos_id == hf.sep_token_id
    assert vocab.mask_id == hf.mask_token_id
    assert vocab.vocab_size == len(hf)


def test_wordpiece_ids_match_hf(bert_pair: tuple[WordPieceVocabulary, BertTokenizer]) -> None:
    vocab, hf = bert_pair
    for text in SENTENCES + WORDPIECE_EXTRA:
        expected = hf(text, return_token_type_ids=True)
        assert vocab.encode_for_model(text) == (expected["input_ids"], expected["token_type_ids"]), text
    for a, b in PAIRS + [(WORDPIECE_EXTRA[0], WORDPIECE_EXTRA[4])]:
        expected = hf(a, b, return_token_type_ids=True)
        ids, type_ids = vocab.encode_for_model(a, b)
        assert (ids, type_ids) == (expected["input_ids"], expected["token_type_ids"]), (a, b)
        assert type_ids[-1] == 1 and type_ids[0] == 0
    # The fixtures exercise continuation pieces and [UNK].
    encoded = list(vocab.encode(" ".join(SENTENCES + WORDPIECE_EXTRA)))
    assert vocab.unk_id in encoded
    assert any(vocab._tokens[i].startswith("##") for i in encoded)


def test_wordpiece_treats_special_strings_literally(bert_dir: pathlib.Path) -> None:
    vocab = WordPieceVocabulary(bert_dir / "vocab.txt", lowercase=False)
    assert vocab.basic_tokenize("[CLS] x") == ["[", "CLS", "]", "x"]
    assert vocab.bos_id not in vocab.encode("[CLS] x")


def test_wordpiece_sample_lines_match_hf(bert_pair: tuple[WordPieceVocabulary, BertTokenizer]) -> None:
    vocab, hf = bert_pair
    assert [list(vocab.encode(line)) for line in LINES] == hf(LINES, add_special_tokens=False)["input_ids"]


def test_wordpiece_casing_options(bert_dir: pathlib.Path) -> None:
    path = bert_dir / "vocab.txt"
    uncased, cased = WordPieceVocabulary(path), WordPieceVocabulary(path, lowercase=False)
    assert uncased.basic_tokenize("Crème BRÛLÉE, 東京!") == ["creme", "brulee", ",", "東", "京", "!"]
    assert cased.basic_tokenize("Crème BRÛLÉE, 東京!") == ["Crème", "BRÛLÉE", ",", "東", "京", "!"]
    assert WordPieceVocabulary(path, lowercase=True, strip_accents=False).basic_tokenize("Crème") == ["crème"]


# Characters whose Unicode properties are old enough that Python's tables and those in
# Hugging Face's tokenizers agree (newer punctuation and marks differ between versions).
_WORDPIECE_ALPHABET = sorted(
    set(SAMPLE.read_text(encoding="utf-8"))
    | set(map(chr, range(0x20, 0x250)))
    | set(map(chr, range(0x300, 0x370)))
    | set(map(chr, range(0x391, 0x3CA)))
    | set(map(chr, range(0x400, 0x460)))
    | set(map(chr, range(0xFF01, 0xFF5F)))
    | set("\t\n\r\x00\x0b\x85\u00ad\u200b\ufeff\ufffd\u2028\u3000\ue000İıßẞΣς東京漢字가힣ㄱ")
)


@settings(max_examples=150, deadline=None)
@given(text=_mixed_text(st.sampled_from(_WORDPIECE_ALPHABET)))
def test_wordpiece_random_text_matches_hf(bert_pair: tuple[WordPieceVocabulary, BertTokenizer], text: str) -> None:
    vocab, hf = bert_pair
    assume(not any(s in text for s in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")))  # HF matches these inside text
    assert list(vocab.encode(text)) == hf(text, add_special_tokens=False)["input_ids"]


def test_wordpiece_decode(bert_pair: tuple[WordPieceVocabulary, BertTokenizer]) -> None:
    vocab, _ = bert_pair
    text = "Der Übersetzer brauchte 14 Tage."
    expected = "der ubersetzer brauchte 14 tage ." if vocab.lowercase else "Der Übersetzer brauchte 14 Tage ."
    ids, _ = vocab.encode_for_model(text, "zweiter Satz")
    assert vocab.decode(ids) == expected  # stops at the first [SEP]
    assert vocab.decode_tf(tf.constant(ids)).numpy().decode("utf-8") == expected


def test_wordpiece_rejects_vocab_without_specials(tmp_path: pathlib.Path) -> None:
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"lacks \['\[CLS\]', '\[SEP\]', '\[MASK\]'\]"):
        WordPieceVocabulary(tmp_path / "vocab.txt")


# --- TensorFlow path and seqio ---


@pytest.fixture(scope="module")
def all_vocabs(xlmr: XlmrSentencePieceVocabulary, bert_dir: pathlib.Path) -> list[seqio.Vocabulary]:
    path = bert_dir / "vocab.txt"
    return [xlmr, WordPieceVocabulary(path), WordPieceVocabulary(path, lowercase=False)]


def test_encode_tf_in_dataset_equals_encode(all_vocabs: list[seqio.Vocabulary]) -> None:
    texts = LINES + SENTENCES + WORDPIECE_EXTRA
    for vocab in all_vocabs:
        ds = tf.data.Dataset.from_tensor_slices(texts).map(vocab.encode_tf)
        assert [list(ids.numpy()) for ids in ds] == [list(vocab.encode(t)) for t in texts], vocab
        batched = vocab.encode_tf(tf.constant(SENTENCES))
        assert batched.to_list() == [list(vocab.encode(t)) for t in SENTENCES], vocab
        assert vocab.encode_tf(tf.constant(SENTENCES[0])).dtype == tf.int32


def test_seqio_tokenize_preprocessor(all_vocabs: list[seqio.Vocabulary]) -> None:
    for vocab in all_vocabs:
        texts = SENTENCES[:8]
        ds = tf.data.Dataset.from_tensor_slices({"inputs": texts})
        plain = seqio.preprocessors.tokenize(ds, {"inputs": seqio.Feature(vocab, add_eos=False)})
        assert [list(ex["inputs"]) for ex in plain.as_numpy_iterator()] == [list(vocab.encode(t)) for t in texts]
        with_eos = seqio.preprocessors.tokenize(ds, {"inputs": seqio.Feature(vocab)}, with_eos=True)
        assert all(ex["inputs"][-1] == vocab.eos_id for ex in with_eos.as_numpy_iterator())


def test_equality_is_by_content_and_options(
    xlmr: XlmrSentencePieceVocabulary, spm_dir: pathlib.Path, bert_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    shutil.copy(spm_dir / "sentencepiece.bpe.model", tmp_path / "copy.model")
    assert XlmrSentencePieceVocabulary(tmp_path / "copy.model") == xlmr
    assert hash(XlmrSentencePieceVocabulary(tmp_path / "copy.model")) == hash(xlmr)
    path = bert_dir / "vocab.txt"
    assert WordPieceVocabulary(path) == WordPieceVocabulary(path, lowercase=True, strip_accents=True)
    assert WordPieceVocabulary(path) != WordPieceVocabulary(path, lowercase=False)
    assert WordPieceVocabulary(path) != xlmr


# --- encode_for_model truncation ---


@pytest.mark.parametrize("pair", [None, SENTENCES[3]], ids=["single", "pair"])
def test_truncation_matches_hf_longest_first(
    xlmr: XlmrSentencePieceVocabulary,
    hf_xlmr: XLMRobertaTokenizer,
    bert_pair: tuple[WordPieceVocabulary, BertTokenizer],
    pair: str | None,
) -> None:
    for vocab, hf in [(xlmr, hf_xlmr), bert_pair]:
        for first in (SENTENCES[0], SENTENCES[7], "short"):
            for max_length in range(4, 45, 3):
                expected = hf(first, pair, truncation=True, max_length=max_length, return_token_type_ids=True)
                ids, type_ids = vocab.encode_for_model(first, pair, max_length=max_length)
                assert (ids, type_ids) == (expected["input_ids"], expected["token_type_ids"])
                assert len(ids) <= max_length


def test_truncation_keeps_short_segment_and_special_tokens(xlmr: XlmrSentencePieceVocabulary) -> None:
    long = SENTENCES[0]
    short = list(xlmr.encode("a"))
    ids, _ = xlmr.encode_for_model("a", long, max_length=12)
    assert len(ids) == 12
    assert ids[: len(short) + 3] == [xlmr.bos_id, *short, xlmr.eos_id, xlmr.eos_id]
    assert ids[-1] == xlmr.eos_id
    assert xlmr.encode_for_model("a", "b", max_length=4)[0] == [0, 2, 2, 2]
    # An empty second segment is still a pair (HF drops a pair that is "").
    assert xlmr.encode_for_model("", "")[0] == [0, 2, 2, 2]


def test_max_length_too_small_raises(xlmr: XlmrSentencePieceVocabulary, bert_dir: pathlib.Path) -> None:
    bert = WordPieceVocabulary(bert_dir / "vocab.txt")
    with pytest.raises(InputError, match=r"max_length=3 cannot hold the 4 special tokens of a pair.*max_length >= 4"):
        xlmr.encode_for_model("a", "b", max_length=3)
    with pytest.raises(InputError, match=r"max_length=1 cannot hold the 2 special tokens"):
        bert.encode_for_model("a", max_length=1)
    assert bert.encode_for_model("a", "b", max_length=3) == ([bert.bos_id, bert.eos_id, bert.eos_id], [0, 0, 1])


# --- load_vocabulary ---


def test_load_vocabulary_picks_class(spm_dir: pathlib.Path, bert_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    assert VOCABULARY_FILES == ("sentencepiece.bpe.model", "vocab.txt", "tokenizer_config.json")
    assert isinstance(load_vocabulary(spm_dir), XlmrSentencePieceVocabulary)
    uncased = load_vocabulary(str(bert_dir))
    assert isinstance(uncased, WordPieceVocabulary) and uncased.lowercase and uncased.strip_accents

    cased_dir = tmp_path / "mbert_cased"
    cased_dir.mkdir()
    shutil.copy(bert_dir / "vocab.txt", cased_dir / "vocab.txt")
    (cased_dir / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    cased = load_vocabulary(cased_dir)
    assert isinstance(cased, WordPieceVocabulary) and not cased.lowercase and not cased.strip_accents


def test_load_vocabulary_errors_clearly(tmp_path: pathlib.Path) -> None:
    with pytest.raises(CheckpointError) as info:
        load_vocabulary(tmp_path)
    message = str(info.value)
    for expected in (str(tmp_path), "sentencepiece.bpe.model", "vocab.txt", "Copy"):
        assert expected in message
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="tokenizer_config.json.*not valid JSON"):
        load_vocabulary(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        XlmrSentencePieceVocabulary(tmp_path / "missing.model")


def test_vocabulary_options_come_from_the_checkpoint_not_gin(tmp_path: pathlib.Path, bert_dir: pathlib.Path) -> None:
    # `load_vocabulary` passes every option from the checkpoint's files (tokenizer_config.json), so
    # a gin binding of the vocabulary classes could never take effect: binding one is an error.
    bindings = ("WordPieceVocabulary.lowercase = False", "XlmrSentencePieceVocabulary.sentencepiece_model_file = 'x'")
    for binding in bindings:
        with pytest.raises(ValueError, match="No configurable matching"):
            gin.parse_config(binding)
    (tmp_path / "vocab.txt").write_bytes((bert_dir / "vocab.txt").read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    assert not load_vocabulary(tmp_path).lowercase
