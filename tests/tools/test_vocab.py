"""`xstilts-jax vocab`: a SentencePiece vocabulary trained on α-sampled corpus languages, loaded with fairseq ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus_fixtures import sample_documents, write_cc100

from xstilts_jax.data.sampling import language_rates
from xstilts_jax.data.vocabularies import XlmrSentencePieceVocabulary, load_vocabulary
from xstilts_jax.errors import ConfigError
from xstilts_jax.tools import vocab

pytestmark = pytest.mark.usefixtures("catalog_env")


def test_vocab_trains_on_alpha_sampled_languages_with_xlmr_ids(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "cc100"
    write_cc100(corpus, {"en": sample_documents(300), "de": sample_documents(30, start=15), "sw": sample_documents(3, start=40)})
    out = tmp_path / "vocab"
    assert vocab.main(["--out", str(out), "--tasks", "cc100.en", "cc100.de", "cc100.sw", "--sentences", "2000",
                       "--vocab_size", "900", f"--gin.cc100.directory='{corpus}'", "--gin.cc100.validation_every=1000"]) == 0
    printed = capsys.readouterr().out
    rates = language_rates({"en": 300, "de": 30, "sw": 3}, 0.3)
    for lang, rate in rates.items():
        assert f"cc100.{lang}" in printed and f"{round(2000 * rate):>12}" in printed
    v = load_vocabulary(out)
    assert isinstance(v, XlmrSentencePieceVocabulary) and v.vocab_size == 902  # 900 pieces + <pad> + <mask>
    assert (v.bos_id, v.pad_id, v.eos_id, v.unk_id, v.mask_id) == (0, 1, 2, 3, 901)
    text = "Der alte Bäcker öffnet seinen Laden."
    assert v.decode(v.encode(text)) == text
    assert "<mask>=901" in printed


def test_vocab_reuses_xlmr_model_and_refuses_missing_input(tmp_path: Path, spm_dir: Path) -> None:
    assert vocab.main(["--out", str(tmp_path / "v"), "--reuse", str(spm_dir)]) == 0
    assert (tmp_path / "v" / "sentencepiece.bpe.model").read_bytes() == (spm_dir / "sentencepiece.bpe.model").read_bytes()
    with pytest.raises(ConfigError, match="vocab --reuse: .*sentencepiece.bpe.model not found"):
        vocab.main(["--out", str(tmp_path / "w"), "--reuse", str(tmp_path / "nothing")])
    with pytest.raises(ConfigError, match="vocab: name corpus --tasks"):
        vocab.main(["--out", str(tmp_path / "w")])
    assert vocab.sentence_quotas({"a": 10**6, "b": 1}, 0.3, 1000)["b"] >= 1
