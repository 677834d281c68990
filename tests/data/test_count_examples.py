"""Epochs count what the model trains on: QA windows, split tagging sentences, MLM chunks."""

from pathlib import Path

import pytest

from tasks import sources
from tfds_mocks import mock_tfds, squad_json_examples
from xstilts_jax.data.batches import count_examples

DATA = Path(sources.__file__).resolve().parents[1] / "data"


@pytest.fixture(autouse=True)
def _env(catalog_env):
    return catalog_env


def test_split_tagging_sentences_count_once_per_piece():
    sentences = (DATA / "udpos" / "train-en.tsv").read_text(encoding="utf-8").strip().count("\n\n") + 1
    assert count_examples("udpos", "train", 256) == sentences
    assert count_examples("udpos", "train", 16) > sentences  # long sentences become several pieces


def test_qa_epochs_count_windows_not_questions():
    questions = squad_json_examples(DATA / "squad" / "train-v1.1.json")
    with mock_tfds({"train": questions}):
        # the TFDS metadata knows the question count; windows are counted from the featurized data
        assert count_examples("squad", "train", 384) >= len(questions)
        windows = count_examples("squad", "train", 64)
    assert windows > len(questions)
