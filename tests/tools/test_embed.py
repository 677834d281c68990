"""`xstilts-jax embed` against Hugging Face: same SentencePiece file, same weights, same pooled vectors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import sentencepiece as spm
import torch
import transformers as tr
from vocab_fixtures import SAMPLE

from xstilts_jax.checkpoints.pretrained import load_pretrained
from xstilts_jax.cli import main as cli_main
from xstilts_jax.data.vocabularies import load_vocabulary
from xstilts_jax.tools.embed import embed_sentences

TOL = 1e-4
LAYERS = 3
MAX_LENGTH = 64


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A converted tiny XLM-R with its own SentencePiece model, and HF's hidden states for the test sentences."""
    root = tmp_path_factory.mktemp("embed")
    hf_dir = root / "tiny-xlmr"
    hf_dir.mkdir()
    spm.SentencePieceTrainer.train(
        input=str(SAMPLE), model_prefix=str(root / "sp"), model_type="unigram", vocab_size=1000,
        character_coverage=0.995, hard_vocab_limit=False, minloglevel=2,
    )
    os.rename(root / "sp.model", hf_dir / "sentencepiece.bpe.model")
    tokenizer = tr.XLMRobertaTokenizer.from_pretrained(str(hf_dir))
    config = tr.XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=LAYERS, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=MAX_LENGTH + 2, layer_norm_eps=1e-5,
    )
    torch.manual_seed(0)
    model = tr.XLMRobertaModel(config).eval()
    with torch.no_grad():  # random LayerNorms and biases too, so every weight matters
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape))
    model.save_pretrained(str(hf_dir), safe_serialization=True)
    checkpoint = str(root / "checkpoint")
    assert cli_main(["convert", "--hf_dir", str(hf_dir), "--out", checkpoint]) == 0

    # Every fourth line: all scripts of the file, one-token to long sentences.
    sentences = SAMPLE.read_text(encoding="utf-8").splitlines()[::4]
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    vocab = load_vocabulary(checkpoint)
    for row, sentence in enumerate(sentences):
        ours = vocab.encode_for_model(sentence, max_length=MAX_LENGTH)[0]
        assert ours == batch["input_ids"][row][batch["attention_mask"][row] == 1].tolist(), sentence
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states
    mask = batch["attention_mask"].numpy()[..., None]
    reference = {
        ("mean", k): (h.numpy() * mask).sum(1) / mask.sum(1) for k, h in enumerate(hidden)
    } | {("first", k): h.numpy()[:, 0] for k, h in enumerate(hidden)}
    input_file = root / "sentences.txt"
    input_file.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return {"checkpoint": checkpoint, "input": str(input_file), "sentences": sentences, "reference": reference}


@pytest.mark.parametrize("flags,key", [(["--layer", "2"], ("mean", 2)), (["--pool", "first"], ("first", LAYERS))])
def test_embed_cli_matches_hf(setup, tmp_path, capsys, flags, key):
    output = tmp_path / "out.npy"
    argv = ["embed", "--checkpoint", setup["checkpoint"], "--input", setup["input"], "--output", str(output)]
    assert cli_main(argv + ["--batch_size", "5"] + flags) == 0
    captured = capsys.readouterr()
    assert f"wrote {len(setup['sentences'])} embeddings of size 32" in captured.out
    assert "sent/s" in captured.err or "s/sent" in captured.err  # tqdm's rate on stderr
    embeddings = np.load(output)
    assert embeddings.dtype == np.float32 and embeddings.shape == (len(setup["sentences"]), 32)
    assert np.abs(embeddings - setup["reference"][key]).max() <= TOL


def test_embed_sentences_embedding_layer(setup):
    model = load_pretrained(setup["checkpoint"], {})
    vocab = load_vocabulary(setup["checkpoint"])
    out = embed_sentences(model, vocab, setup["sentences"], layer=0, pool="mean", batch_size=64, max_length=512)
    assert np.abs(out - setup["reference"][("mean", 0)]).max() <= TOL


def test_bad_layer_is_an_error(setup, tmp_path, capsys):
    argv = ["embed", "--checkpoint", setup["checkpoint"], "--input", setup["input"], "--output", str(tmp_path / "o")]
    assert cli_main(argv + ["--layer", str(LAYERS + 1)]) == 1
    err = capsys.readouterr().err
    assert f"layer {LAYERS + 1} is outside 0..{LAYERS}" in err and "Traceback" not in err
    assert not (tmp_path / "o.npy").exists()


def test_empty_line_is_an_error(setup, tmp_path, capsys):
    text = tmp_path / "gaps.txt"
    text.write_text("first sentence\nsecond\n\nfourth\n", encoding="utf-8")
    argv = ["embed", "--checkpoint", setup["checkpoint"], "--input", str(text), "--output", str(tmp_path / "o.npy")]
    assert cli_main(argv) == 1
    assert "line 3 is empty" in capsys.readouterr().err


