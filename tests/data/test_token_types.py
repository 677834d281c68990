"""Token-type ids reach the batches: BERT/mBERT need the pair's second segment marked as type 1."""

import numpy as np
import pytest

from xstilts_jax.data.batches import BatchSpec, host_batches

PAWS = [
    {"sentence1": f"the town {i} lies north of the river", "sentence2": f"north of the river lies town {i}", "label": i % 2}
    for i in range(6)
]


def _pair_batch(pack: bool, pad_id: int, position_offset: int) -> dict[str, np.ndarray]:
    from tfds_mocks import mock_tfds

    spec = BatchSpec(task="pawsx", split="train", length=64, batch_size=4, shuffle=False, pack=pack, max_segments=2)
    with mock_tfds({"train": PAWS}):
        return next(host_batches(spec, pad_id=pad_id, position_offset=position_offset))


@pytest.mark.parametrize("pack", [False, True])
def test_bert_pair_batches_carry_the_second_segment_as_token_type_1(bert_dir, monkeypatch, catalog_env, pack):
    from tasks import vocabulary

    monkeypatch.setenv("XSTILTS_VOCAB_DIR", str(bert_dir))
    vocabulary.reset()
    sep = vocabulary.MODEL_VOCABULARY.eos_id
    batch = _pair_batch(pack, pad_id=0, position_offset=0)
    assert batch["token_type_ids"].shape == batch["input_ids"].shape
    checked = 0
    for ids, types, segments in zip(batch["input_ids"], batch["token_type_ids"], batch["segment_ids"]):
        for s in set(segments[segments > 0].tolist()):
            seg_ids, seg_types = ids[segments == s], types[segments == s]
            first_sep = int(np.flatnonzero(seg_ids == sep)[0])
            expected = np.r_[np.zeros(first_sep + 1), np.ones(len(seg_ids) - first_sep - 1)]
            np.testing.assert_array_equal(seg_types, expected)  # [CLS] a [SEP] -> 0; b [SEP] -> 1
            checked += 1
        assert not types[segments == 0].any()
    assert checked >= 4


def test_xlmr_pair_batches_carry_all_zero_token_types(catalog_env):
    batch = _pair_batch(False, pad_id=1, position_offset=2)
    assert batch["token_type_ids"].shape == batch["input_ids"].shape and not batch["token_type_ids"].any()
