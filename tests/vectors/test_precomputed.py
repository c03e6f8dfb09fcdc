"""Precomputed embeddings in clip-retrieval layout: placed by source row through a real
ingest, float16 accepted, misaligned shards refused with both file names."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.build import build_dataset
from app.catalog.layout import DatasetPaths
from app.catalog.rowstore import RowStore
from app.vectors import store
from app.vectors.precomputed import (
    PrecomputedError,
    find_shards,
    import_precomputed,
    is_precomputed_layout,
    metadata_files,
)

DIM = 16
SHARDS = 11  # metadata_10 sorts before metadata_2 as text: the order must not matter


def _layout(root, rows_per_shard=4, seed=0):
    """A clip-retrieval output folder; returns {url: its embedding}."""
    rng = np.random.default_rng(seed)
    expected = {}
    for n in range(SHARDS):
        urls = [f"https://img.example/{seed}/{n}/{i}.jpg" for i in range(rows_per_shard)]
        keys = [f"{n:03d}{i:02d}" for i in range(rows_per_shard)]
        if n == 4:
            keys[3] = keys[0]  # a duplicate id: ingest keeps the first, drops this row
        table = pa.table(
            {
                "image_path": [f"{k}.jpg" for k in keys],
                "caption": [f"caption {n}-{i}" for i in range(rows_per_shard)],
                "url": urls,
                "key": keys,
            }
        )
        (root / "metadata").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / "metadata" / f"metadata_{n}.parquet")
        vectors = rng.standard_normal((rows_per_shard, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        (root / "img_emb").mkdir(exist_ok=True)
        np.save(root / "img_emb" / f"img_emb_{n}.npy", vectors.astype(np.float16))
        (root / "text_emb").mkdir(exist_ok=True)
        np.save(root / "text_emb" / f"text_emb_{n}.npy", vectors.astype(np.float16))
        expected.update(zip(urls, vectors, strict=True))
    return expected


def _ingest(tmp_path, root):
    data_dir = tmp_path / "indexes"
    build_dataset(data_dir, "pre", [root / "metadata"], progress=False)
    return DatasetPaths(data_dir / "pre")


def test_import_places_each_vector_on_its_record(tmp_path):
    root = tmp_path / "clip-out"
    expected = _layout(root)
    assert is_precomputed_layout(root)
    assert [p.name for p in metadata_files(root)][:3] == [
        "metadata_0.parquet",
        "metadata_1.parquet",
        "metadata_2.parquet",
    ]
    paths = _ingest(tmp_path, root)
    summary = import_precomputed(root, paths, hidden=(), progress=False)
    assert summary["shards"] == SHARDS and summary["rows"] == SHARDS * 4
    assert summary["imported"] == SHARDS * 4 - 1 and summary["not_in_catalog"] == 1
    assert summary["text_emb_checked"] == SHARDS
    emb = store.load_embeddings(paths, "image")
    assert emb.meta["source"].startswith("precomputed") and "probe" not in emb.meta

    records = RowStore(paths.rows).rows(range(RowStore(paths.rows).row_count), ["pos", "url"])
    for pos, url in ((r["pos"], r["url"]) for r in records.values()):
        # float16 on disk: equal to the float32 original to about 1e-3.
        assert np.allclose(emb.vector_of(pos), expected[url], atol=2e-3), url
    manifest = paths.manifest.read_text()
    assert '"precomputed"' in manifest


def test_embed_keeps_imported_embeddings(tmp_path, encoders):
    from tests.vectors.conftest import embed_visible

    root = tmp_path / "clip-out"
    _layout(root)
    paths = _ingest(tmp_path, root)
    import_precomputed(root, paths, hidden=(), progress=False)
    result = embed_visible(paths, encoders, kinds=("image",), progress=False)[0]
    assert result.note == "precomputed embeddings kept" and result.embedded == SHARDS * 4 - 1
    assert store.read_meta(paths, "image")["source"].startswith("precomputed")


def test_a_shard_with_a_row_too_many_is_refused_naming_both_files(tmp_path):
    root = tmp_path / "clip-out"
    _layout(root)
    bad = np.zeros((5, DIM), np.float16)
    np.save(root / "img_emb" / "img_emb_3.npy", bad)
    with pytest.raises(PrecomputedError) as error:
        find_shards(root)
    message = str(error.value)
    assert "img_emb_3.npy has 5 rows" in message and "metadata_3.parquet has 4" in message
    assert "misaligned" in message


def test_text_embeddings_are_checked_too(tmp_path):
    root = tmp_path / "clip-out"
    _layout(root)
    np.save(root / "text_emb" / "text_emb_7.npy", np.zeros((3, DIM), np.float16))
    with pytest.raises(PrecomputedError, match="text_emb_7.npy has 3 rows.*metadata_7.parquet"):
        find_shards(root)


def test_missing_metadata_shard_and_wrong_shapes(tmp_path):
    root = tmp_path / "clip-out"
    _layout(root)
    np.save(root / "img_emb" / "img_emb_11.npy", np.zeros((4, DIM), np.float16))
    with pytest.raises(PrecomputedError, match="img_emb_11.npy has no metadata/metadata_11"):
        find_shards(root)
    (root / "img_emb" / "img_emb_11.npy").unlink()
    np.save(root / "img_emb" / "img_emb_2.npy", np.zeros((4, DIM + 1), np.float16))
    with pytest.raises(PrecomputedError, match="different models"):
        find_shards(root)
    np.save(root / "img_emb" / "img_emb_2.npy", np.zeros(4, np.int64))
    with pytest.raises(PrecomputedError, match="2-d float16/float32"):
        find_shards(root)
    with pytest.raises(PrecomputedError, match="metadata/ and img_emb/"):
        find_shards(tmp_path)


def test_metadata_changed_since_ingest_is_caught_by_the_spot_check(tmp_path):
    root = tmp_path / "clip-out"
    _layout(root)
    paths = _ingest(tmp_path, root)
    # Same file, same row count, other rows: counts agree, the URLs do not.
    _layout(tmp_path / "other", seed=1)
    (root / "metadata" / "metadata_2.parquet").write_bytes(
        (tmp_path / "other" / "metadata" / "metadata_2.parquet").read_bytes()
    )
    with pytest.raises(PrecomputedError, match="metadata_2.parquet row 0 has URL"):
        import_precomputed(root, paths, hidden=(), progress=False)


def test_embeddings_from_files_the_dataset_was_not_built_from(tmp_path):
    root = tmp_path / "clip-out"
    _layout(root)
    paths = _ingest(tmp_path, root)
    other = tmp_path / "other"
    _layout(other, seed=2)
    with pytest.raises(PrecomputedError, match="not among the files this dataset was ingested"):
        import_precomputed(other, paths, hidden=(), progress=False)
