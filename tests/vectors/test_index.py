"""Real FAISS indexes on generated clustered vectors: the exact and the compressed path,
recall against exact search, memory-mapped loading, parameters in the manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.vectors import index as vindex
from app.vectors import store
from app.vectors.build import build_all
from app.vectors.search import VectorIndex
from tests.vectors.conftest import bare_dataset, clustered, write_vectors

N, DIM = 20_000, 64


@pytest.fixture(scope="module")
def ivf_dataset(tmp_path_factory):
    """20k clustered vectors indexed with a low flat threshold, so the IVF path is built."""
    paths = bare_dataset(tmp_path_factory.mktemp("ivf") / "ivf", N)
    vectors, _ = clustered(N, DIM, clusters=100, seed=1)
    write_vectors(paths, "image", vectors)
    section = build_all(
        paths, kinds=("image",), flat_threshold=1_000, duplicates=False, progress=False
    )
    return paths, vectors, section["image"]


def test_plan_chooses_flat_then_ivf_by_size():
    assert vindex.plan(10_000, 512) == ("flat", "Flat", 0)
    kind, factory, nlist = vindex.plan(1_000_000, 512)
    assert kind == "ivf-pq-fastscan" and factory == "IVF4096_HNSW32,PQ128x4fs" and nlist == 4096
    assert vindex.plan(10_000_000, 512)[2] == vindex.MAX_NLIST
    assert vindex.plan(200_000, 383)[1].endswith(",SQ8")  # PQ needs dim divisible by 4
    # Never more lists than the data can train (39 points per centroid).
    assert vindex.plan(60_000, 64, flat_threshold=1)[2] <= 60_000 // 39


def test_ivf_index_reaches_recall_on_fresh_queries(ivf_dataset):
    paths, vectors, params = ivf_dataset
    assert params["type"] == "ivf-pq-fastscan"
    assert params["recall_at_50"] >= vindex.TARGET_RECALL
    # Independent check with queries the tuner never saw (nudged copies of other rows).
    rng = np.random.default_rng(99)
    rows = rng.choice(N, 60, replace=False)
    queries = vectors[rows] + rng.standard_normal((60, DIM)).astype(np.float32) * 0.08
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, truth = vindex.exact_search(vectors, queries, 50)
    index = VectorIndex.load(paths)
    found = np.array([[h.pos for h in index.search(q, 50)] for q in queries])
    assert vindex.recall(found, truth) >= 0.95
    # Scores are exact cosines after the re-rank, best first.
    hits = index.search(queries[0], 50)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].score == pytest.approx(float(vectors[hits[0].pos] @ queries[0]), abs=1e-5)


def test_params_and_recall_go_to_the_manifest(ivf_dataset):
    paths, _, params = ivf_dataset
    manifest = json.loads(paths.manifest.read_text())
    part = manifest["parts"]["vectors"]["image"]
    assert part["factory"].startswith("IVF512_HNSW32,PQ16x4fs")
    assert part["nprobe"] > 0 and part["rerank"] > 0 and part["recall_queries"] == 100
    assert part["recall_at_50"] == params["recall_at_50"]
    files = store.files_for(paths, "image")
    saved = json.loads(files.index_meta.read_text())
    assert saved["tuned"], "the tuning trials are kept beside the index"


def test_flat_index_is_exact_and_memory_mapped(tmp_path):
    paths = bare_dataset(tmp_path / "flat", 3000)
    vectors, _ = clustered(3000, 32, clusters=30, seed=2)
    # A subset of positions, out of order: row i is not record i.
    positions = np.random.default_rng(0).permutation(5000)[:3000]
    write_vectors(paths, "image", vectors, positions)
    section = build_all(paths, kinds=("image",), duplicates=False, progress=False)
    assert section["image"]["type"] == "flat" and section["image"]["recall_at_50"] == 1.0
    index = VectorIndex.load(paths)
    query = vectors[17]
    scores = vectors @ query
    expected = positions[np.argsort(-scores)[:10]]
    assert [h.pos for h in index.search(query, 10)] == expected.tolist()
    assert index.vector_of(int(positions[17])) == pytest.approx(vectors[17])
    assert index.vector_of(4999 if 4999 not in positions else -1) is None


def test_exact_search_matches_numpy():
    vectors, _ = clustered(5000, 16, clusters=10, seed=3)
    queries = vectors[:5]
    scores, rows = vindex.exact_search(vectors, queries, 7, block=999)
    for q, r, s in zip(queries, rows, scores, strict=True):
        expected = np.argsort(-(vectors @ q))[:7]
        assert set(r) == set(expected)
        assert np.all(np.diff(s) <= 1e-6)


def test_stale_embeddings_are_refused_after_a_rebuild(tmp_path):
    from app.catalog.manifest import read_manifest, write_manifest

    paths = bare_dataset(tmp_path / "stale", 100)
    vectors, _ = clustered(100, 8, clusters=4)
    write_vectors(paths, "caption", vectors)
    build_all(paths, kinds=("caption",), progress=False)
    manifest = read_manifest(paths.manifest)
    manifest.built_at = "2999-01-01T00:00:00+00:00"  # the catalog was rebuilt: pos changed
    write_manifest(paths.manifest, manifest)
    index = VectorIndex.load(paths)
    assert not index.has("caption")
    assert "older build" in index.problems["caption"]
    with pytest.raises(LookupError, match="loupe embed"):
        index.search(vectors[0], 5, kind="caption")


def test_index_without_embeddings_says_what_to_run(tmp_path):
    paths = bare_dataset(tmp_path / "none", 10)
    with pytest.raises(store.StoreError, match="loupe embed none"):
        build_all(paths, progress=False)


def test_an_index_older_than_its_embeddings_is_not_used(tmp_path):
    paths = bare_dataset(tmp_path / "old", 200)
    vectors, _ = clustered(200, 8, clusters=4)
    write_vectors(paths, "caption", vectors)
    build_all(paths, kinds=("caption",), progress=False)
    assert VectorIndex.load(paths).has("caption")
    meta_file = store.files_for(paths, "caption").meta
    meta = json.loads(meta_file.read_text())
    meta["created"] = "2999-01-01T00:00:00+00:00"  # embeddings recomputed after indexing
    meta_file.write_text(json.dumps(meta))
    index = VectorIndex.load(paths)
    assert not index.has("caption") and "loupe index old" in index.problems["caption"]
