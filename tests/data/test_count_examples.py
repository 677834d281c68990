"""Epochs count what the model trains on: QA windows, split tagging sentences, MLM chunks."""

import pytest

from tfds_mocks import mock_tfds, squad_json_examples
from xstilts_jax.data.batches import count_examples

pytestmark = pytest.mark.usefixtures("catalog_env")


def test_split_tagging_sentences_count_once_per_piece(catalog_data):
    sentences = (catalog_data / "udpos" / "train-en.tsv").read_text(encoding="utf-8").strip().count("\n\n") + 1
    assert count_examples("udpos", "train", 256) == sentences
    assert count_examples("udpos", "train", 16) > sentences  # long sentences become several pieces


def test_qa_epochs_count_windows_not_questions(catalog_data):
    questions = squad_json_examples(catalog_data / "squad" / "train-v1.1.json")
    with mock_tfds({"train": questions}):
        # the TFDS metadata knows the question count; windows are counted from the featurized data
        assert count_examples("squad", "train", 384) >= len(questions)
        windows = count_examples("squad", "train", 64)
    assert windows > len(questions)
