"""Exact top-k search in blocks equals brute force."""

import numpy as np
import pytest

from xstilts_jax.errors import InputError
from xstilts_jax.evaluation.retrieval_search import l2_normalize, top_k_similar


def _brute_force(queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = queries.astype(np.float64) @ candidates.astype(np.float64).T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]  # ties: lower index first
    return np.take_along_axis(sims, order, axis=1), order


def test_blocked_search_equals_brute_force():
    rng = np.random.default_rng(0)
    queries, candidates = l2_normalize(rng.normal(size=(37, 16))), l2_normalize(rng.normal(size=(250, 16)))
    expected_scores, expected_ids = _brute_force(queries, candidates, 7)
    # blocks smaller than the pool and than the query set, with a ragged last block of each
    scores, ids = top_k_similar(queries, candidates, 7, query_block=8, candidate_block=32)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    np.testing.assert_array_equal(top_k_similar(queries, candidates, 7)[1], expected_ids)


def test_ties_go_to_the_lower_index_across_blocks():
    candidates = np.array([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5, np.float32)
    queries = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    _, ids = top_k_similar(queries, candidates, 3, candidate_block=2)
    np.testing.assert_array_equal(ids, [[0, 1, 2], [5, 6, 7]])


def test_k_is_cut_to_the_pool_and_bad_shapes_are_refused():
    scores, ids = top_k_similar(np.eye(2), np.eye(2), 20)
    assert ids.shape == (2, 2) and list(ids[:, 0]) == [0, 1]
    with pytest.raises(InputError, match="candidate pool is empty"):
        top_k_similar(np.eye(2), np.zeros((0, 2)), 1)
    with pytest.raises(InputError, match=r"\[Q, d\] queries and \[C, d\] candidates"):
        top_k_similar(np.eye(2), np.eye(3), 1)
