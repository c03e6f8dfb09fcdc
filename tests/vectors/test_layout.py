"""The map layout: aligned with the embeddings, refused when it no longer matches them,
resumable chunk by chunk.

umap-learn compiles its numba code once per process (~8 s on two cores): the first layout
built in a test run pays for it, later ones take 1-3 s for the 1,200 points used here.
"""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest

from app.catalog.manifest import read_manifest, write_manifest
from app.vectors import layout as vlayout
from app.vectors import store
from app.vectors.layout import LayoutError, build_layout, layout_files, load_layout
from tests.vectors.conftest import bare_dataset, clustered, write_vectors

N = 1_200
DIM = 32
GROUPS = 6
SAMPLE = 500
CHUNK = 400


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, catalog positions in a shuffled order, generating group of each row)."""
    vectors, centres = clustered(N, DIM, clusters=GROUPS, seed=seed, spread=0.5)
    group = np.argmax(vectors @ centres.T, axis=1)
    positions = np.random.default_rng(seed + 1).permutation(N + 50)[:N]  # gaps, any order
    return vectors, positions.astype(np.int64), group


def _dataset(root, vectors, positions):
    paths = bare_dataset(root, N + 50)
    write_vectors(paths, "image", vectors, positions)
    return paths


def _build(paths, **kwargs):
    options = {"sample_size": SAMPLE, "seed": 0, "progress": False, "chunk_rows": CHUNK}
    return build_layout(paths, "image", **{**options, **kwargs})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    vectors, positions, group = _data()
    paths = _dataset(tmp_path_factory.mktemp("layout") / "ds", vectors, positions)
    result = _build(paths)
    return paths, result, vectors, positions, group


def test_layout_is_aligned_with_the_embeddings(built):
    paths, result, _, positions, group = built
    assert result.complete and result.count == N and result.sample_size == SAMPLE
    assert result.chunks_done == result.chunks_total == 3
    layout = load_layout(paths, "image")
    np.testing.assert_array_equal(layout.positions, positions)  # the store's order, kept
    assert layout.xy.shape == (N, 2) and layout.xy.dtype == np.float32
    assert layout.cluster_of.shape == (N,) and layout.cluster_of.dtype == np.uint16
    assert np.isfinite(layout.xy).all()
    x0, y0, x1, y1 = layout.bounds
    assert x0 == pytest.approx(float(layout.xy[:, 0].min()), abs=1e-5)
    assert y1 == pytest.approx(float(layout.xy[:, 1].max()), abs=1e-5)
    # Row i is the record at positions[i]: its nearest point on the map comes from the same
    # generating group (a shuffled or shifted layout would mix the groups).
    index = faiss.IndexFlatL2(2)
    index.add(np.ascontiguousarray(layout.xy))
    _, nearest = index.search(np.ascontiguousarray(layout.xy), 2)
    assert np.mean(group[nearest[:, 1]] == group) > 0.95


def test_layout_json_says_how_it_was_made(built):
    paths, *_ = built
    meta = json.loads(layout_files(paths, "image").meta.read_text())
    assert meta["count"] == N and meta["sample_size"] == SAMPLE
    assert meta["method"] == vlayout.METHOD and meta["library"].startswith("umap-learn")
    assert meta["catalog"] == store.catalog_build(paths)
    assert meta["positions_sha256"] == vlayout.positions_sha256(
        store.load_embeddings(paths, "image").positions
    )
    assert set(meta["seconds"]) >= {"fit", "place", "clusters"}
    assert meta["parameters"]["place_k"] == vlayout.PLACE_K
    assert sum(c["size"] for c in meta["clusters"]) == N


def test_sample_points_keep_their_fitted_place(tmp_path, monkeypatch):
    """The fitted sample is saved before placing; those rows end up exactly there."""
    vectors, positions, _ = _data(3)
    paths = _dataset(tmp_path / "ds", vectors, positions)
    result = _build(paths, max_chunks=0)
    assert not result.complete and result.chunks_done == 0
    with np.load(layout_files(paths, "image").work / "sample.npz") as saved:
        rows, fitted = saved["rows"], saved["xy"]
    assert rows.shape == (SAMPLE,) and np.all(np.diff(rows) > 0)
    assert _build(paths).complete
    np.testing.assert_array_equal(load_layout(paths, "image").xy[rows], fitted)


def test_a_stopped_build_goes_on_and_gives_the_same_layout(tmp_path, monkeypatch):
    vectors, positions, _ = _data()
    whole = _dataset(tmp_path / "whole", vectors, positions)
    _build(whole)
    expected = np.asarray(load_layout(whole, "image").xy)

    paths = _dataset(tmp_path / "parts", vectors, positions)
    first = _build(paths, max_chunks=1)
    assert not first.complete and (first.chunks_done, first.chunks_total) == (1, 3)
    files = layout_files(paths, "image")
    assert not files.meta.exists()  # no layout until every chunk is there
    assert sorted(p.name for p in files.work.glob("chunk_*.npy")) == ["chunk_000000.npy"]

    fits = []
    real_fit = vlayout.fit_umap
    monkeypatch.setattr(vlayout, "fit_umap", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    second = _build(paths)
    assert second.complete and second.chunks_done == 3
    assert fits == []  # the saved sample was reused, not fitted again
    assert not files.work.exists()
    np.testing.assert_array_equal(load_layout(paths, "image").xy, expected)

    again = _build(paths)
    assert again.note == "already up to date" and fits == []


def test_new_embeddings_throw_the_unfinished_work_away(tmp_path, monkeypatch):
    vectors, positions, _ = _data()
    paths = _dataset(tmp_path / "ds", vectors, positions)
    _build(paths, max_chunks=1)
    write_vectors(paths, "image", vectors[::-1].copy(), positions)  # recomputed: new created
    fits = []
    real_fit = vlayout.fit_umap
    monkeypatch.setattr(vlayout, "fit_umap", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    state_before = json.loads((layout_files(paths, "image").work / "state.json").read_text())
    assert _build(paths, max_chunks=1).chunks_done == 1  # chunk 0 again, not chunk 1
    state_after = json.loads((layout_files(paths, "image").work / "state.json").read_text())
    assert fits == [1] and state_before != state_after


def test_refuses_a_layout_with_another_row_count(built, tmp_path):
    paths, _, vectors, positions, _ = built
    copy = _copy(paths, tmp_path)
    write_vectors(copy, "image", vectors[:-1], positions[:-1])
    with pytest.raises(LayoutError) as error:
        load_layout(copy, "image")
    assert str(layout_files(copy, "image").meta) in str(error.value)
    assert f"{N} rows" in str(error.value) and f"{N - 1}" in str(error.value)


def test_refuses_a_layout_whose_positions_changed(built, tmp_path):
    paths, _, vectors, positions, _ = built
    copy = _copy(paths, tmp_path)
    swapped = positions.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # same rows, same count, two records trade places
    before = store.read_meta(copy, "image")
    write_vectors(copy, "image", vectors, swapped)
    # Only the positions differ: the embeddings' json still says the vectors are the same.
    store.write_json(store.files_for(copy, "image").meta, before)
    with pytest.raises(LayoutError, match="positions") as error:
        load_layout(copy, "image")
    assert str(layout_files(copy, "image").meta) in str(error.value)


def test_refuses_a_layout_of_recomputed_embeddings(built, tmp_path):
    """Same rows, same positions, new vectors (another model, say): the map is stale."""
    paths, _, vectors, positions, _ = built
    copy = _copy(paths, tmp_path)
    meta = store.read_meta(copy, "image")
    store.write_json(store.files_for(copy, "image").meta, {**meta, "created": "2099-01-01"})
    with pytest.raises(LayoutError, match="other image embeddings") as error:
        load_layout(copy, "image")
    assert str(layout_files(copy, "image").meta) in str(error.value)


def test_refuses_a_layout_of_another_catalog_build(built, tmp_path):
    paths, *_ = built
    copy = _copy(paths, tmp_path)
    manifest = read_manifest(copy.manifest)
    write_manifest(copy.manifest, manifest.model_copy(update={"built_at": "2001-01-01T00:00:00"}))
    with pytest.raises(LayoutError, match="another build of the catalog") as error:
        load_layout(copy, "image")
    assert str(layout_files(copy, "image").meta) in str(error.value)


def test_refuses_a_coordinates_file_of_the_wrong_shape(built, tmp_path):
    paths, *_ = built
    copy = _copy(paths, tmp_path)
    files = layout_files(copy, "image")
    np.save(files.xy, np.zeros((N - 1, 2), np.float32))
    with pytest.raises(LayoutError) as error:
        load_layout(copy, "image")
    assert str(files.xy) in str(error.value)


def test_a_missing_layout_names_the_file(tmp_path):
    vectors, positions, _ = _data()
    paths = _dataset(tmp_path / "ds", vectors, positions)
    with pytest.raises(LayoutError, match="is missing") as error:
        load_layout(paths, "image")
    assert str(layout_files(paths, "image").meta) in str(error.value)


def test_place_is_a_weighted_mean_of_the_nearest_sample_points():
    sample = np.eye(4, dtype=np.float32)  # four orthogonal unit vectors
    sample_xy = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32)
    index = faiss.IndexFlatIP(4)
    index.add(sample)
    between = np.array([[1, 1, 0, 0]], np.float32) / np.sqrt(2)
    queries = np.concatenate([sample[2:3], between])
    xy = vlayout.place(index, sample_xy, queries, k=2)
    # An exact copy sits (almost) on its twin; a vector halfway sits halfway.
    np.testing.assert_allclose(xy[0], [0, 10], atol=0.01)
    np.testing.assert_allclose(xy[1], [5, 0], atol=1e-4)


def test_a_tiny_set_is_laid_out_without_umap(tmp_path):
    vectors, _ = clustered(10, 8, clusters=2)
    paths = bare_dataset(tmp_path / "ds", 10)
    write_vectors(paths, "image", vectors)
    result = build_layout(paths, "image", progress=False, chunk_rows=4)
    assert result.complete and result.chunks_total == 3
    layout = load_layout(paths, "image")
    assert layout.xy.shape == (10, 2) and np.isfinite(layout.xy).all()
    assert len(layout.clusters) == 8 and layout.cluster_of.max() < 8


def test_without_embeddings_the_error_says_what_to_run(tmp_path):
    paths = bare_dataset(tmp_path / "ds", 5)
    with pytest.raises(LayoutError, match="loupe embed"):
        build_layout(paths, "image", progress=False)


def _copy(paths, tmp_path):
    import shutil

    from app.catalog.layout import DatasetPaths

    target = tmp_path / paths.root.name
    shutil.copytree(paths.root, target)
    return DatasetPaths(target)
