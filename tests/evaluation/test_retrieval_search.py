"""Exact top-k search, sharded over the 8 toy CPU devices, equals brute force."""

import jax
import ml_dtypes
import numpy as np
import pytest
from jax.sharding import Mesh

from xstilts_jax.errors import InputError
from xstilts_jax.evaluation.retrieval_search import Side, l2_normalize, place, search, top_k_similar


def _brute_force(queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = queries.astype(np.float64) @ candidates.astype(np.float64).T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]  # ties: lower index first
    return np.take_along_axis(sims, order, axis=1), order


def test_sharded_search_equals_brute_force():
    assert len(jax.devices()) == 8
    rng = np.random.default_rng(0)
    queries, candidates = l2_normalize(rng.normal(size=(37, 16))), l2_normalize(rng.normal(size=(250, 16)))
    expected_scores, expected_ids = _brute_force(queries, candidates, 7)
    # query blocks smaller than the query set, with a ragged last block; 250 rows padded to 256 over 8 devices
    scores, ids = top_k_similar(queries, candidates, 7, query_block=8)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    # a 2 x 4 mesh (both axes shard the rows) gives the same answer
    mesh = Mesh(np.asarray(jax.devices()).reshape(2, 4), ("data", "fsdp"))
    np.testing.assert_array_equal(top_k_similar(queries, candidates, 7, mesh=mesh)[1], expected_ids)


def test_bf16_embeddings_search_as_brute_force_on_the_same_values():
    rng = np.random.default_rng(1)
    queries = l2_normalize(rng.normal(size=(20, 32))).astype(ml_dtypes.bfloat16)
    candidates = l2_normalize(rng.normal(size=(300, 32))).astype(ml_dtypes.bfloat16)
    mesh = Mesh(np.asarray(jax.devices()), ("devices",))
    scores, ids = search(place(queries, mesh), place(candidates, mesh), 5, mesh)
    assert place(candidates, mesh).vectors.dtype == ml_dtypes.bfloat16
    expected_scores, expected_ids = _brute_force(queries.astype(np.float32), candidates.astype(np.float32), 5)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-6)


def test_ties_go_to_the_lower_index_across_devices_and_row_orders():
    candidates = np.array([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5, np.float32)
    queries = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    _, ids = top_k_similar(queries, candidates, 3)  # 10 rows over 8 devices: the tied rows sit on different devices
    np.testing.assert_array_equal(ids, [[0, 1, 2], [5, 6, 7]])
    # the side's order, not the row order, breaks ties (rows stored reversed, as length buckets may store them)
    mesh = Mesh(np.asarray(jax.devices()), ("devices",))
    stored = place(candidates[::-1], mesh)
    reversed_side = Side(stored.vectors, np.arange(len(candidates))[::-1].copy())
    _, ids = search(place(queries, mesh), reversed_side, 3, mesh)
    np.testing.assert_array_equal(ids, [[0, 1, 2], [5, 6, 7]])


def test_k_is_cut_to_the_pool_and_bad_shapes_are_refused():
    scores, ids = top_k_similar(np.eye(2), np.eye(2), 20)
    assert ids.shape == (2, 2) and list(ids[:, 0]) == [0, 1]
    with pytest.raises(InputError, match="candidate pool is empty"):
        top_k_similar(np.eye(2), np.zeros((0, 2)), 1)
    with pytest.raises(InputError, match=r"\[Q, d\] queries and \[C, d\] candidates"):
        top_k_similar(np.eye(2), np.eye(3), 1)
