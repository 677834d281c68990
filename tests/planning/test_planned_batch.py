"""The planner compiles for the batch the head's feature converter emits (no hand-written features)."""

import numpy as np
import pytest

from xstilts_jax.errors import ConfigError
from xstilts_jax.planning.aot import PLANNED_HEADS, planned_batch


def _shapes(head):
    return {k: (v.shape, np.dtype(v.dtype)) for k, v in planned_batch(head, 8, 16).items()}


def test_mlm_plans_packed_rows():
    row = ((8, 16), np.dtype(np.int32))
    assert _shapes("mlm") == {"input_ids": row, "segment_ids": row, "positions": row, "labels": row}


@pytest.mark.parametrize(
    "head, per_example", [("classification", ("labels",)), ("tagging", ()), ("span", ("start_positions", "end_positions"))]
)
def test_padded_heads_plan_padded_rows(head, per_example):
    shapes = _shapes(head)
    assert shapes["input_ids"] == shapes["segment_ids"] == ((8, 16), np.dtype(np.int32))
    assert {k for k, (shape, _) in shapes.items() if shape == (8,)} == set(per_example)
    assert set(shapes) <= {"input_ids", "segment_ids", "labels", "start_positions", "end_positions"}


def test_unknown_head_is_a_config_error():
    assert sorted(PLANNED_HEADS) == ["classification", "mlm", "span", "tagging"]
    with pytest.raises(ConfigError, match="--head='dual' cannot be planned"):
        planned_batch("dual", 8, 16)
