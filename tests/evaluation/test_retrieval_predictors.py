"""Retrieval decoders on fixed embeddings: search direction, top-20 rankings, BUCC's dev-tuned threshold."""

import numpy as np
import pytest
from tiny import toy_eval_settings

from xstilts_jax.data import task_records
from xstilts_jax.data.task_records import TaskRecord
from xstilts_jax.errors import InputError
from xstilts_jax.evaluation.decoders import retrieval as decoders
from xstilts_jax.evaluation.retrieval import RetrievalSplit
from xstilts_jax.evaluation.retrieval_mining import extract_pairs, mine_pairs, optimize_threshold
from xstilts_jax.evaluation.retrieval_search import place
from xstilts_jax.models.heads import HeadSpec

SETTINGS = toy_eval_settings()


def embedded(vectors: dict[int, np.ndarray], mesh) -> decoders.Embedded:
    """Given vectors (idx -> vector) as one pass's embeddings: normalized rows on the mesh, idx order."""
    idx = sorted(vectors)
    matrix = np.stack([vectors[i] for i in idx]).astype(np.float32)
    side = place(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), mesh)
    return decoders.Embedded(side.vectors, np.concatenate([idx, np.full(side.vectors.shape[0] - len(idx), -1)]))


@pytest.fixture
def fake(monkeypatch):
    """Register toy splits with given embeddings (idx -> vector) instead of running a model."""
    splits: dict[tuple[str, str], RetrievalSplit] = {}
    embeddings: dict[tuple[str, str], dict[int, np.ndarray]] = {}

    def add(task: str, split: str, data: RetrievalSplit, vectors: dict[int, list[float]]) -> None:
        splits[(task, split)] = data
        embeddings[(task, split)] = {i: np.asarray(v, np.float32) for i, v in vectors.items()}
        reader = lambda s, task=task: splits[(task, s)]  # noqa: E731
        record = TaskRecord(task, "sentence_embedding", HeadSpec("embedding"), "nearest", role="eval", retrieval_reader=reader)
        monkeypatch.setitem(task_records._RECORDS, task, record)

    def embed(model, task, split, settings, length, idx_range):
        start, stop = idx_range or (0, 1 << 30)
        chosen = {i: v for i, v in embeddings[(task, split)].items() if start <= i < stop}
        return embedded(chosen, settings.partitioner.mesh)

    monkeypatch.setattr(decoders, "embed", embed)
    return add


def test_nearest_searches_from_the_queries(fake):
    # queries (English) at idx 0, 1; candidates at idx 2, 3. Both queries are closest to candidate 0, while
    # each candidate's nearest query is its own translation: only the query side's search gives [0, 0].
    data = RetrievalSplit({0: "en-0", 1: "en-1"}, {2: "de-0", 3: "de-1"}, {"en-0": ["de-0"], "en-1": ["de-1"]})
    fake("toy.de", "test", data, {0: [1, 0], 1: [0.8, 0.6], 2: [1, 0.1], 3: [0.1, 1]})
    gold, predicted = decoders.decode_nearest(None, "toy.de", "test", SETTINGS)
    assert gold == [0, 1] and predicted == [0, 0]


def test_ranking_returns_top_20_ids_per_query(fake):
    rng = np.random.default_rng(1)
    vectors = {i: list(rng.normal(size=8)) for i in range(1 + 30)}
    candidates = {i: f"c{i}" for i in range(1, 31)}
    data = RetrievalSplit({0: "q"}, candidates, {"q": ["c5", "c7"]})
    fake("toy.en", "test", data, vectors)
    gold, predicted = decoders.decode_ranking(None, "toy.en", "test", SETTINGS)
    sims = {f"c{i}": np.dot(vectors[0], vectors[i]) / np.linalg.norm(vectors[i]) for i in range(1, 31)}
    assert gold == {"q": ["c5", "c7"]}
    assert predicted["q"] == sorted(sims, key=lambda c: -sims[c])[:20]


def test_ranking_refuses_relevant_ids_outside_the_pool(fake):
    fake("toy.fr", "test", RetrievalSplit({0: "q"}, {1: "c1"}, {"q": ["c9"]}), {0: [1, 0], 1: [0, 1]})
    with pytest.raises(InputError, match=r"toy.fr test: query 'q' .* \['c9'\] are not in the candidate pool"):
        decoders.decode_ranking(None, "toy.fr", "test", SETTINGS)


def test_mining_applies_the_threshold_tuned_on_validation(fake):
    rng = np.random.default_rng(2)

    def split(n: int, noise: float) -> tuple[RetrievalSplit, dict[int, list[float]]]:
        base = rng.normal(size=(n, 6))
        src = base + noise * rng.normal(size=(n, 6))
        trg = base + noise * rng.normal(size=(n, 6))
        vectors = {i: list(src[i]) for i in range(n)} | {n + i: list(trg[i]) for i in range(n)}
        # source 0 is a repeated sentence (id ""): a neighbour, never output
        queries = {i: (f"s{i}" if i else "") for i in range(n)}
        data = RetrievalSplit(queries, {n + i: f"t{i}" for i in range(n)}, {f"s{i}": [f"t{i}"] for i in range(0, n, 2)})
        return data, vectors

    val, val_vectors = split(12, 0.6)
    test, test_vectors = split(10, 0.6)
    fake("toy.ru", "validation", val, val_vectors)
    fake("toy.ru", "test", test, test_vectors)

    def scored(data: RetrievalSplit, vectors: dict[int, list[float]]) -> dict[tuple[str, str], float]:
        q, c = sorted(data.queries), sorted(data.candidates)
        pairs = mine_pairs(np.array([vectors[i] for i in q]), np.array([vectors[i] for i in c]))
        return {(data.queries[q[s]], data.candidates[c[t]]): v for s, t, v in pairs if data.queries[q[s]]}

    val_gold = [(s, t) for s, ts in val.relevant.items() for t in ts]
    threshold = optimize_threshold(scored(val, val_vectors), val_gold)
    gold, predicted = decoders.decode_mining(None, "toy.ru", "test", SETTINGS)
    assert predicted == [list(p) for p in extract_pairs(scored(test, test_vectors), threshold)]
    assert gold == sorted([f"s{i}", f"t{i}"] for i in range(0, 10, 2))
    assert all(s != "" for s, _ in predicted)
    # scoring validation itself tunes on validation
    _, val_predicted = decoders.decode_mining(None, "toy.ru", "validation", SETTINGS)
    assert val_predicted == [list(p) for p in extract_pairs(scored(val, val_vectors), threshold)]
