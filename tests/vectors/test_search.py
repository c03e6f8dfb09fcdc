"""kNN combined with filters (``allowed`` candidate sets, ``accept`` callbacks with
over-fetching), "more like this", near-duplicates and duplicate clusters, on real FAISS."""

from __future__ import annotations

import numpy as np
import pytest

from app.vectors import search as vsearch
from app.vectors.build import build_all
from app.vectors.duplicates import components
from app.vectors.search import Hit, VectorIndex, fuse
from tests.vectors.conftest import bare_dataset, clustered, write_vectors

N, DIM = 6000, 32


def _brute(vectors, positions, query, k, keep=None):
    scores = vectors @ query
    order = np.argsort(-scores, kind="stable")
    out = [int(positions[i]) for i in order if keep is None or keep(int(positions[i]))]
    return out[:k]


@pytest.fixture(scope="module", params=["flat", "ivf"])
def indexed(request, tmp_path_factory):
    """The same vectors behind an exact index and behind a compressed one."""
    paths = bare_dataset(tmp_path_factory.mktemp(request.param) / "ds", N)
    vectors, _ = clustered(N, DIM, clusters=40, seed=4)
    # Plant near-duplicates: rows 1..3 are tiny perturbations of row 0, rows 11, 12 of row 10.
    rng = np.random.default_rng(0)
    for source, copies in ((0, (1, 2, 3)), (10, (11, 12))):
        for row in copies:
            noisy = vectors[source] + rng.standard_normal(DIM).astype(np.float32) * 0.01
            vectors[row] = noisy / np.linalg.norm(noisy)
    write_vectors(paths, "image", vectors)
    threshold = 1_000 if request.param == "ivf" else 100_000
    build_all(
        paths, kinds=("image",), flat_threshold=threshold, duplicate_threshold=0.98, progress=False
    )
    return request.param, VectorIndex.load(paths), vectors


def test_allowed_set_is_searched_exactly(indexed):
    _, index, vectors = indexed
    allowed = np.arange(N)[np.arange(N) % 97 == 5]  # 62 scattered records
    query = vectors[500]
    hits = index.search(query, 10, allowed=allowed)
    assert [h.pos for h in hits] == _brute(
        vectors, np.arange(N), query, 10, keep=lambda p: p % 97 == 5
    )
    assert all(h.pos in set(allowed.tolist()) for h in hits)
    # Positions with no vector, and an empty set, are harmless.
    assert index.search(query, 5, allowed=np.array([N + 10, -3])) == []
    assert index.search(query, 5, allowed=np.array([], dtype=np.int64)) == []


def test_large_allowed_sets_are_exact_too(indexed):
    _, index, vectors = indexed
    allowed = np.arange(N)[np.arange(N) % 7 != 0]  # 5142 records: read through a span map
    query = vectors[2500]
    hits = index.search(query, 10, allowed=allowed)
    assert [h.pos for h in hits] == _brute(
        vectors, np.arange(N), query, 10, keep=lambda p: p % 7 != 0
    )
    emb = index.part("image").emb
    rows = np.array([5, 4999, 17, 5998, 3000], dtype=np.int64)
    assert np.allclose(emb._read_span(rows), vectors[rows])
    assert np.allclose(emb._read_rows(rows), vectors[rows])


def test_small_and_large_stores_gather_the_same_vectors(indexed, monkeypatch):
    """Stores up to MAPPED_GATHER_BYTES are read through their map while serving; larger
    ones with pread (app.vectors.store.Embeddings.gather): the same vectors either way."""
    from app.vectors import store

    _, index, vectors = indexed
    emb = index.part("image").emb
    rows = np.array([5, 4999, 17, 5998, 3000, 17], dtype=np.int64)
    query = vectors[777]
    assert emb.random_access and emb.vectors.nbytes <= store.MAPPED_GATHER_BYTES
    mapped, hits = emb.gather(rows), index.search(query, 10)
    monkeypatch.setattr(store, "MAPPED_GATHER_BYTES", 0)
    assert np.array_equal(emb.gather(rows), mapped) and np.allclose(mapped, vectors[rows])
    assert index.search(query, 10) == hits


def test_accept_callback_over_fetches_until_the_page_is_full(indexed):
    kind, index, vectors = indexed
    asked: list[int] = []

    def accept(positions: np.ndarray) -> np.ndarray:
        asked.append(positions.size)
        return positions % 10 == 3  # one record in ten passes

    query = vectors[1234]
    hits = index.search(query, 20, accept=accept)
    assert len(hits) == 20 and all(h.pos % 10 == 3 for h in hits)
    assert len(asked) >= 2, "a 10% filter needs more than the first k*4 candidates"
    expected = _brute(vectors, np.arange(N), query, 20, keep=lambda p: p % 10 == 3)
    overlap = len(set(expected) & {h.pos for h in hits}) / 20
    assert overlap == 1.0 if kind == "flat" else overlap >= 0.9


def test_accept_may_return_the_accepted_positions(indexed):
    _, index, vectors = indexed
    hits = index.search(vectors[7], 5, accept=lambda p: p[p < 3000])
    assert len(hits) == 5 and all(h.pos < 3000 for h in hits)


def test_a_filter_nothing_passes_returns_empty_not_forever(indexed):
    _, index, vectors = indexed
    calls = []

    def nothing(positions):
        calls.append(positions.size)
        return np.zeros(positions.size, bool)

    assert index.search(vectors[3], 10, accept=nothing) == []
    assert sum(calls) <= min(N, vsearch.MAX_FETCH)


def test_more_like_this_leaves_the_record_out(indexed):
    _, index, vectors = indexed
    hits = index.similar_to(0, 5)
    assert 0 not in [h.pos for h in hits]
    assert {1, 2, 3} <= {h.pos for h in hits[:3]}
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_near_duplicates_and_clusters(indexed):
    _, index, _ = indexed
    assert {h.pos for h in index.near_duplicates(0, 0.98)} == {1, 2, 3}
    assert {h.pos for h in index.near_duplicates(11, 0.98)} == {10, 12}
    table = index.duplicates()
    assert table is not None and table.clusters == 2
    assert table.cluster_of(2).tolist() == [0, 1, 2, 3]
    assert table.hidden_positions().tolist() == [1, 2, 3, 11, 12]
    assert table.cluster_of(500).size == 0


def test_batch_queries_match_single_ones(indexed):
    _, index, vectors = indexed
    queries = vectors[[5, 50, 500]]
    batch = index.search_batch(queries, 10)
    single = [index.search(q, 10) for q in queries]
    assert [[h.pos for h in hits] for hits in batch] == [[h.pos for h in hits] for hits in single]


def test_query_of_another_model_is_refused(indexed):
    _, index, _ = indexed
    with pytest.raises(ValueError, match="another model"):
        index.search(np.ones(DIM + 1, np.float32), 5)


def test_components_join_transitively():
    nodes, reps = components(np.array([5, 7, 20, 9]), np.array([7, 9, 21, 30]))
    assert dict(zip(nodes.tolist(), reps.tolist(), strict=True)) == {
        5: 5,
        7: 5,
        9: 5,
        30: 5,
        20: 20,
        21: 20,
    }


def test_fuse_ranks_records_found_by_both_models_first():
    captions = [Hit(1, 0.9), Hit(2, 0.8), Hit(3, 0.7)]
    images = [Hit(3, 0.31), Hit(4, 0.30), Hit(1, 0.2)]
    fused = fuse([captions, images], 3)
    assert [h.pos for h in fused] == [1, 3, 2]
    assert fused[0].score == 0.9 and fused[1].score == 0.7
    assert fuse([], 5) == [] and fuse([captions], 2) == captions[:2]
