"""Ingest: real parquet files (pyarrow) -> real dataset folders (DuckDB, tantivy), then checked."""

from __future__ import annotations

import hashlib
import json
import math
import os
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from typer.testing import CliRunner

import app.build as build_module
from app.build import build_dataset
from app.catalog import ingest as ingest_module
from app.catalog.ingest import IngestError, list_datasets
from app.catalog.layout import DatasetPaths
from app.catalog.manifest import read_manifest
from app.catalog.rowstore import RowStore
from app.catalog.schema import CATALOG_COLUMNS, COLUMNS, HISTOGRAM_BINS, SCORE_DOMAINS

CANONICAL = [c.name for c in COLUMNS]
BINS = [f"{s}_bin" for s in SCORE_DOMAINS]


def laion_columns() -> dict:
    """Four LAION rows exercising floats-as-ids, NaN, ties, odd URLs and out-of-domain scores."""
    return {
        "SAMPLE_ID": pa.array([101.0, 102.0, 103.0, 104.0], pa.float64()),
        "URL": [
            "https://www.Example.com/a.jpg",
            "http://user@Img.Host.ORG:8080/b.png?x=1",
            "//cdn.example.net/c.jpg",
            "not a url",
        ],
        "TEXT": ["a cat", "a dog", "a bird", "a fish"],
        "HEIGHT": pa.array([100.0, float("nan"), 300.0, 400.0], pa.float64()),
        "WIDTH": pa.array([10, 20, 30, 40], pa.int64()),
        "LICENSE": ["?", "cc-by", None, "?"],
        "NSFW": ["UNLIKELY", "NSFW", "UNSURE", "UNLIKELY"],
        "similarity": pa.array([0.30, None, 0.35, 0.30], pa.float64()),
        "LANGUAGE": ["EN", "de", None, " Fr "],
        "punsafe": pa.array([0.1, 0.99, 1.5, -0.2], pa.float32()),
        "pwatermark": pa.array([0.5, 0.0, 1.0, None], pa.float32()),
        "hash": pa.array([11, 12, 13, 14], pa.int64()),
        "AESTHETIC_SCORE": pa.array([5.5, 6.0, None, 9.99], pa.float64()),
        "md5": ["ABCDEF", None, "00ff", None],
        "weird col": ["w1", "w2", "w3", "w4"],
        "POS": [1, 2, 3, 4],
    }


def laion_second_file() -> dict:
    """A second file: a duplicate id (dropped), a NaN similarity, fewer columns."""
    return {
        "SAMPLE_ID": pa.array([102.0, 105.0], pa.float64()),
        "URL": ["https://dup.example/x.jpg", "https://WWW.shop.example/y.jpg"],
        "TEXT": ["duplicate of 102", "a horse"],
        "similarity": pa.array([0.49, float("nan")], pa.float64()),
        "hash": pa.array([15, 16], pa.int64()),
    }


def query(dataset: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(dataset / "catalog.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def records(dataset: Path) -> list[dict]:
    """Every record in pos order: the whole row from the row store, plus the bins from the
    DuckDB table, whose columns must agree with the row store's."""
    con = duckdb.connect(str(dataset / "catalog.duckdb"), read_only=True)
    try:
        result = con.execute("SELECT * FROM records")  # physical order, no ORDER BY
        names = [d[0] for d in result.description]
        catalog_rows = [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    finally:
        con.close()
    store = RowStore(DatasetPaths(dataset).rows)
    whole = store.rows(range(store.row_count))
    assert [r["pos"] for r in catalog_rows] == list(range(len(whole)))
    merged = []
    for row in catalog_rows:
        full = whole[row["pos"]]
        assert {k: full[k] for k in CATALOG_COLUMNS} == {k: row[k] for k in CATALOG_COLUMNS}
        merged.append({**full, **row})
    return merged


def expected_bin(score: str, value: float | None) -> int | None:
    if value is None:
        return None
    lo, hi = SCORE_DOMAINS[score]
    scaled = math.floor((float(np.float32(value)) - lo) / (hi - lo) * HISTOGRAM_BINS)
    return min(max(scaled, 0), HISTOGRAM_BINS - 1)


@pytest.fixture
def laion_dataset(write_parquet, data_dir):
    a = write_parquet("a.parquet", laion_columns())
    b = write_parquet("b.parquet", laion_second_file())
    manifest = build_dataset(data_dir, "laion", [a, b], title="LAION bits", progress=False)
    return data_dir / "laion", manifest, (a, b)


# --- the three formats and --map --------------------------------------------------------------


def test_laion_table_columns_order_and_sort(laion_dataset):
    dataset, _, _ = laion_dataset
    names = [row[0] for row in query(dataset, "DESCRIBE records")]
    assert names == list(CATALOG_COLUMNS) + BINS
    record_columns = RowStore(DatasetPaths(dataset).rows).record_schema().names
    assert record_columns == CANONICAL + ["hash", "raw_weird_col", "raw_POS"]
    rows = records(dataset)
    assert [r["pos"] for r in rows] == list(range(5))
    # similarity DESC NULLS LAST, then sample_id; 102's duplicate in b.parquet (0.49) is dropped
    assert [r["sample_id"] for r in rows] == ["103", "101", "104", "102", "105"]
    assert [r["source_row"] for r in rows] == [2, 0, 3, 1, 5]
    assert rows[0]["similarity"] == pytest.approx(0.35)
    assert rows[4]["similarity"] is None  # NaN means unknown
    first_page = query(dataset, "SELECT pos FROM records WHERE pos > ? LIMIT 2", [0])
    assert [rows[r[0]]["sample_id"] for r in first_page] == ["101", "104"]


def test_laion_derived_columns(laion_dataset):
    dataset, _, _ = laion_dataset
    by_id = {r["sample_id"]: r for r in records(dataset)}
    assert {k: v["domain"] for k, v in by_id.items()} == {
        "101": "example.com",
        "102": "img.host.org",
        "103": "cdn.example.net",
        "104": None,
        "105": "shop.example",
    }
    for row in by_id.values():
        assert row["url_sha256"] == hashlib.sha256(row["url"].encode()).hexdigest()
    assert by_id["101"]["language"] == "en"
    assert by_id["104"]["language"] == "fr"
    assert by_id["103"]["language"] is None
    assert by_id["102"]["height"] is None  # NaN height
    assert by_id["101"]["width"] == 10 and by_id["101"]["height"] == 100
    assert by_id["101"]["aesthetic"] == pytest.approx(5.5)
    assert by_id["101"]["md5"] == "abcdef"
    assert by_id["101"]["nsfw"] == "UNLIKELY"
    assert by_id["101"]["caption"] == "a cat"
    # extras keep their values (and their type)
    assert by_id["101"]["hash"] == 11 and by_id["105"]["hash"] == 16
    assert by_id["101"]["raw_weird_col"] == "w1" and by_id["105"]["raw_weird_col"] is None
    assert by_id["104"]["raw_POS"] == 4


def test_laion_score_bins(laion_dataset):
    dataset, _, _ = laion_dataset
    source = laion_columns()
    for row in records(dataset):
        i = int(row["sample_id"]) - 101
        if row["sample_id"] == "105":
            continue
        for score, column in [
            ("similarity", "similarity"),
            ("punsafe", "punsafe"),
            ("pwatermark", "pwatermark"),
            ("aesthetic", "AESTHETIC_SCORE"),
        ]:
            value = source[column][i]
            value = value.as_py() if hasattr(value, "as_py") else value
            assert row[f"{score}_bin"] == expected_bin(score, value), (row["sample_id"], score)
    by_id = {r["sample_id"]: r for r in records(dataset)}
    assert by_id["103"]["punsafe_bin"] == HISTOGRAM_BINS - 1  # 1.5 clamps to the top bin
    assert by_id["104"]["punsafe_bin"] == 0  # -0.2 clamps to the bottom bin
    assert by_id["103"]["pwatermark_bin"] == HISTOGRAM_BINS - 1  # the upper edge
    assert by_id["105"]["similarity_bin"] is None


def test_laion_manifest(laion_dataset):
    dataset, manifest, (a, b) = laion_dataset
    assert read_manifest(dataset / "manifest.json") == manifest
    assert manifest.name == "laion" and manifest.title == "LAION bits"
    assert manifest.row_count == 5
    assert manifest.source_format == "laion"
    assert manifest.source_files == [str(a.resolve()), str(b.resolve())]
    assert manifest.column_mapping == {
        "SAMPLE_ID": "sample_id",
        "URL": "url",
        "TEXT": "caption",
        "LICENSE": "license",
        "LANGUAGE": "language",
        "WIDTH": "width",
        "HEIGHT": "height",
        "similarity": "similarity",
        "punsafe": "punsafe",
        "pwatermark": "pwatermark",
        "AESTHETIC_SCORE": "aesthetic",
        "NSFW": "nsfw",
        "md5": "md5",
    }
    assert manifest.extra_columns == ["hash", "raw_weird_col", "raw_POS"]
    assert [c["name"] for c in manifest.schema_] == CANONICAL + manifest.extra_columns
    assert {"name": "url_sha256", "type": "VARCHAR"} in manifest.schema_
    similarity = manifest.score_stats["similarity"]
    assert similarity.non_null == 3
    assert similarity.min == pytest.approx(0.30) and similarity.max == pytest.approx(0.35)
    assert similarity.mean == pytest.approx((0.30 + 0.35 + 0.30) / 3)
    assert manifest.score_stats["aesthetic"].non_null == 3  # 101, 102, 104
    assert manifest.parts["ingest"]["duplicates_dropped"] == 1
    assert manifest.parts["ingest"]["rows_read"] == 6
    assert manifest.image_store is None
    assert datetime.fromisoformat(manifest.built_at)
    assert manifest.build_seconds is not None and manifest.build_seconds > 0
    on_disk = json.loads((dataset / "manifest.json").read_text())
    assert "schema" in on_disk and "schema_" not in on_disk


def test_laion_row_store_and_text_index(laion_dataset):
    dataset, manifest, _ = laion_dataset
    store = RowStore(DatasetPaths(dataset).rows)
    assert store.row_count == 5 and store.source_rows == 6  # the dropped duplicate stays
    assert store.positions_of(["101", "102", "105", "nope"]) == {"101": 1, "102": 3, "105": 4}
    # the row store keeps source order: source row 4 is the dropped duplicate of 102
    assert store.source_rows_at([4], ["sample_id", "caption"]) == {
        4: {"sample_id": "102", "caption": "duplicate of 102"}
    }
    assert (dataset / "text").is_dir()
    assert manifest.text_index_seconds is not None
    # no staging, spill or temp folders left behind
    assert sorted(p.name for p in dataset.iterdir()) == [
        "catalog.duckdb",
        "manifest.json",
        "rows",
        "text",
    ]
    assert [p.name for p in dataset.parent.iterdir()] == ["laion"]


def test_img2dataset(write_parquet, data_dir):
    source = write_parquet(
        "00000.parquet",
        {
            "key": ["000000001", "000000002", "000000003"],
            "url": ["https://a.example/1.jpg", "https://b.example/2.jpg", "https://c.example/3"],
            "caption": ["one", "two", "three"],
            "status": ["success", "failed_to_download", "success"],
            "error_message": [None, "timeout", None],
            "width": pa.array([256, None, 128], pa.int32()),
            "height": pa.array([256, None, 96], pa.int32()),
            "original_width": pa.array([1024, None, 512], pa.int32()),
            "original_height": pa.array([768, None, 384], pa.int32()),
            "exif": ['{"Make": "x"}', None, None],
            "sha256": ["AA" * 32, None, "bb" * 32],
            "similarity": pa.array([0.31, 0.29, 0.33], pa.float32()),
        },
    )
    manifest = build_dataset(data_dir, "i2d", [source.parent], progress=False)
    assert manifest.source_format == "img2dataset"
    assert manifest.column_mapping["key"] == "sample_id"
    assert manifest.extra_columns == [
        "status",
        "error_message",
        "original_width",
        "original_height",
        "exif",
    ]
    rows = records(data_dir / "i2d")
    assert [r["sample_id"] for r in rows] == ["000000003", "000000001", "000000002"]
    assert rows[1]["sha256"] == "aa" * 32
    assert rows[1]["status"] == "success" and rows[2]["error_message"] == "timeout"
    assert rows[0]["original_width"] == 512 and rows[0]["domain"] == "c.example"


def test_clip_retrieval(write_parquet, data_dir):
    source = write_parquet(
        "metadata_0.parquet",
        {
            "image_path": ["/data/img/a.jpg", "/data/img/b.jpg", "/data/img/c.jpg"],
            "caption": ["alpha", "beta", "gamma"],
            "url": ["https://x.example/a", "https://x.example/b", None],
            "NSFW": ["UNLIKELY", "UNLIKELY", "NSFW"],
            "similarity": [0.2, 0.4, 0.3],
            "LICENSE": ["?", "?", "?"],
        },
    )
    manifest = build_dataset(data_dir, "clip", [source], progress=False)
    assert manifest.source_format == "clip-retrieval"
    assert manifest.extra_columns == []
    rows = records(data_dir / "clip")
    # no id column: the source row number is the id
    assert [(r["sample_id"], r["image_path"]) for r in rows] == [
        ("1", "/data/img/b.jpg"),
        ("2", "/data/img/c.jpg"),
        ("0", "/data/img/a.jpg"),
    ]
    assert rows[1]["url"] is None and rows[1]["url_sha256"] is None and rows[1]["domain"] is None
    assert rows[1]["nsfw"] == "NSFW"


def test_map_for_unknown_format(write_parquet, data_dir):
    source = write_parquet(
        "custom.parquet",
        {
            "id": pa.array([7, 8], pa.int64()),
            "alt": ["seven", "eight"],
            "link": ["https://seven.example/", "https://eight.example/"],
            "clip_sim": [0.1, 0.2],
            "score": [1, 2],
        },
    )
    mapping = {"id": "sample_id", "alt": "caption", "link": "url", "clip_sim": "similarity"}
    manifest = build_dataset(data_dir, "custom", [source], mapping, progress=False)
    assert manifest.source_format == "mapped"
    assert manifest.column_mapping == {
        "id": "sample_id",
        "link": "url",
        "alt": "caption",
        "clip_sim": "similarity",
    }
    assert manifest.extra_columns == ["score"]
    rows = records(data_dir / "custom")
    assert [(r["sample_id"], r["caption"], r["score"]) for r in rows] == [
        ("8", "eight", 2),
        ("7", "seven", 1),
    ]


def test_map_overrides_detection(write_parquet, data_dir):
    columns = laion_columns()
    columns["alt_text"] = ["A", "B", "C", "D"]
    source = write_parquet("a.parquet", columns)
    manifest = build_dataset(data_dir, "over", [source], {"alt_text": "caption"}, progress=False)
    assert manifest.source_format == "mapped"
    assert manifest.column_mapping["alt_text"] == "caption"
    assert "TEXT" in manifest.extra_columns  # the detected caption column is kept as an extra
    by_id = {r["sample_id"]: r for r in records(data_dir / "over")}
    assert by_id["101"]["caption"] == "A" and by_id["101"]["TEXT"] == "a cat"
    assert by_id["101"]["url"] == "https://www.Example.com/a.jpg"  # the rest still detected


# --- bad input ------------------------------------------------------------------------------------


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "notes.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("SAMPLE_ID,URL,TEXT\n1,https://x,y\n")
    return path


def _empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "zero.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("text file", "is not a parquet file"),
        ("zero bytes", "is not a parquet file"),
        ("no rows", "no rows"),
        ("no caption (unknown format)", "match no known format"),
        ("no caption (img2dataset)", "no caption column"),
        ("no url", "no url column"),
        ("string similarity", "holds VARCHAR, not numbers"),
        ("missing file", "no such file or folder"),
        ("reserved column", "'file_row_number', which the reader reserves"),
        ("unknown source column", "the sources have no column 'nope'"),
        ("unknown loupe column", "'colour' is not a Loupe column"),
        ("derived loupe column", "'domain' is computed at ingest"),
    ],
)
def test_bad_input_names_the_file(case, expected, write_parquet, data_dir, tmp_path):
    good = laion_columns()
    mapping = None
    if case == "text file":
        path = _text_file(tmp_path)
    elif case == "zero bytes":
        path = _empty_file(tmp_path)
    elif case == "no rows":
        schema = pa.schema([("URL", pa.string()), ("TEXT", pa.string())])
        path = write_parquet("empty.parquet", {"URL": [], "TEXT": []}, schema=schema)
    elif case == "no caption (unknown format)":
        path = write_parquet("x.parquet", {"URL": ["https://a/"], "title": ["t"]})
    elif case == "no caption (img2dataset)":
        path = write_parquet(
            "x.parquet", {"key": ["1"], "status": ["success"], "url": ["https://a/"]}
        )
    elif case == "no url":
        path = write_parquet("x.parquet", {"image_path": ["a.jpg"], "caption": ["c"]})
    elif case == "string similarity":
        good["similarity"] = ["0.3", "0.2", "high", "0.1"]
        path = write_parquet("strings.parquet", good)
    elif case == "reserved column":
        good["file_row_number"] = [1, 2, 3, 4]
        path = write_parquet("reserved.parquet", good)
    elif case == "missing file":
        path = tmp_path / "src" / "absent.parquet"
    else:
        path = write_parquet("a.parquet", good)
        mapping = {
            "unknown source column": {"nope": "caption"},
            "unknown loupe column": {"TEXT": "colour"},
            "derived loupe column": {"URL": "domain"},
        }[case]
    with pytest.raises(IngestError) as raised:
        build_dataset(data_dir, "bad", [path], mapping, progress=False)
    message = str(raised.value)
    assert str(path) in message
    assert expected in message
    assert message.count("\n") == 0
    assert not data_dir.exists() or list(data_dir.iterdir()) == []


def test_bad_dataset_name(write_parquet, data_dir):
    source = write_parquet("a.parquet", laion_columns())
    with pytest.raises(IngestError, match="invalid dataset name 'Bad Name'"):
        build_dataset(data_dir, "Bad Name", [source], progress=False)
    with pytest.raises(IngestError, match="invalid dataset name"):
        build_dataset(data_dir, "../escape", [source], progress=False)


def test_folder_without_parquet(tmp_path, data_dir):
    folder = tmp_path / "empty-folder"
    folder.mkdir()
    with pytest.raises(IngestError, match="holds no .parquet files") as raised:
        build_dataset(data_dir, "x", [folder], progress=False)
    assert str(folder) in str(raised.value)


def test_refuses_to_replace_a_folder_that_is_not_a_dataset(write_parquet, data_dir):
    source = write_parquet("a.parquet", laion_columns())
    (data_dir / "mine").mkdir(parents=True)
    (data_dir / "mine" / "precious.txt").write_text("keep me")
    with pytest.raises(IngestError, match="is not a Loupe dataset"):
        build_dataset(data_dir, "mine", [source], progress=False)
    assert (data_dir / "mine" / "precious.txt").read_text() == "keep me"


# --- atomic replacement ---------------------------------------------------------------------------


def _snapshot(dataset: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dataset)): p.read_bytes() for p in dataset.rglob("*") if p.is_file()}


def test_failing_reingest_leaves_previous_dataset(laion_dataset, tmp_path, write_parquet):
    dataset, manifest, _ = laion_dataset
    before = _snapshot(dataset)
    with pytest.raises(IngestError):
        build_dataset(dataset.parent, "laion", [_text_file(tmp_path)], progress=False)
    # A failure inside the build, after the temp folder exists: an extra column whose type
    # in the second file cannot be converted to the first file's.
    first = write_parquet("t1.parquet", {"URL": ["https://a/"], "TEXT": ["a"], "x": [1]})
    second = write_parquet(
        "t2.parquet",
        {"URL": ["https://b/"], "TEXT": ["b"], "x": pa.array([[1, 2]], pa.list_(pa.int64()))},
    )
    with pytest.raises(IngestError) as raised:
        build_dataset(dataset.parent, "laion", [first, second], progress=False)
    assert str(second) in str(raised.value)
    assert _snapshot(dataset) == before
    assert read_manifest(dataset / "manifest.json") == manifest
    assert [p.name for p in dataset.parent.iterdir()] == ["laion"]


def test_interrupt_during_build_leaves_previous_dataset(laion_dataset, write_parquet, monkeypatch):
    dataset, _, _ = laion_dataset
    before = _snapshot(dataset)
    source = write_parquet("c.parquet", laion_columns())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "_text_index", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(dataset.parent, "laion", [source], progress=False)
    assert _snapshot(dataset) == before
    assert [p.name for p in dataset.parent.iterdir()] == ["laion"]


def test_interrupt_between_renames_puts_old_dataset_back(laion_dataset, write_parquet, monkeypatch):
    dataset, _, _ = laion_dataset
    before = _snapshot(dataset)
    source = write_parquet("c.parquet", laion_columns())
    real_rename = os.rename
    calls = []

    def rename(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:  # old moved away, new not yet in place
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(ingest_module.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(dataset.parent, "laion", [source], progress=False)
    monkeypatch.undo()
    assert calls[0][0] == "laion" and calls[1][1] == "laion"
    assert _snapshot(dataset) == before
    assert [p.name for p in dataset.parent.iterdir()] == ["laion"]


def test_successful_reingest_replaces_dataset(laion_dataset, write_parquet):
    dataset, _, _ = laion_dataset
    source = write_parquet("c.parquet", laion_second_file())
    manifest = build_dataset(dataset.parent, "laion", [source], progress=False)
    assert manifest.row_count == 2
    assert read_manifest(dataset / "manifest.json").row_count == 2
    assert query(dataset, "SELECT count(*) FROM records") == [(2,)]
    assert [p.name for p in dataset.parent.iterdir()] == ["laion"]


# --- images ---------------------------------------------------------------------------------------


def test_image_folder_is_linked_in_flat(write_parquet, data_dir, tmp_path):
    source = write_parquet("a.parquet", laion_columns())
    images = tmp_path / "images-in"
    (images / "00000").mkdir(parents=True)
    Image.new("RGB", (4, 4), (200, 10, 10)).save(images / "00000" / "101.jpg")
    Image.new("RGB", (4, 4), (10, 200, 10)).save(images / "102.png")
    (images / "00000" / "101.txt").write_text("a cat")  # img2dataset sidecar: not an image
    manifest = build_dataset(data_dir, "pics", [source], images=images, progress=False)
    paths = DatasetPaths(data_dir / "pics")
    assert manifest.image_store == {"kind": "folder", "path": "images"}
    assert sorted(p.name for p in paths.images.iterdir()) == ["101.jpg", "102.png"]
    assert manifest.parts["ingest"]["image_files"] == 2
    assert (images / "102.png").exists()  # the source folder is left as it was


def test_tar_shards_go_to_shards(write_parquet, data_dir, tmp_path):
    source = write_parquet("a.parquet", laion_columns())
    shards = tmp_path / "shards-in"
    shards.mkdir()
    (shards / "00000.tar").write_bytes(b"\0" * 1024)
    (shards / "00000.parquet").write_bytes(b"")  # img2dataset writes these side by side
    manifest = build_dataset(data_dir, "tars", [source], images=shards, progress=False)
    assert manifest.image_store == {"kind": "tar", "path": "shards"}
    assert [p.name for p in DatasetPaths(data_dir / "tars").shards.iterdir()] == ["00000.tar"]


def test_images_folder_without_images(write_parquet, data_dir, tmp_path):
    source = write_parquet("a.parquet", laion_columns())
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    with pytest.raises(IngestError, match="holds no image files") as raised:
        build_dataset(data_dir, "pics", [source], images=empty, progress=False)
    assert str(empty) in str(raised.value)


# --- listing --------------------------------------------------------------------------------------


def test_list_datasets_skips_non_datasets(write_parquet, data_dir):
    source = write_parquet("a.parquet", laion_columns())
    build_dataset(data_dir, "zeta", [source], progress=False)
    build_dataset(data_dir, "alpha", [source], progress=False)
    (data_dir / ".alpha.tmp-abc").mkdir()
    (data_dir / "junk").mkdir()
    (data_dir / "broken").mkdir()
    (data_dir / "broken" / "manifest.json").write_text("{not json")
    (data_dir / "broken" / "catalog.duckdb").write_bytes(b"")
    assert [m.name for m in list_datasets(data_dir)] == ["alpha", "zeta"]
    assert list_datasets(data_dir / "absent") == []


# --- command line ---------------------------------------------------------------------------------


@pytest.fixture
def cli():
    from app.cli import app

    runner = CliRunner()

    def invoke(data_dir: Path, *args: str):
        return runner.invoke(app, list(args), env={"LOUPE_DATA_DIR": str(data_dir)})

    return invoke


def test_cli_ingest_and_datasets(cli, write_parquet, data_dir):
    source = write_parquet("a.parquet", laion_columns())
    result = cli(data_dir, "ingest", "cats", str(source), "--no-progress", "--title", "Cats")
    assert result.exit_code == 0, result.output
    assert "Ingested 4 rows" in result.stdout
    assert "rows/s" in result.stdout
    assert str(data_dir / "cats") in result.stdout
    assert read_manifest(data_dir / "cats" / "manifest.json").title == "Cats"
    listing = cli(data_dir, "datasets")
    assert listing.exit_code == 0
    line = [row for row in listing.stdout.splitlines() if row.startswith("cats")][0]
    assert line.split()[:3] == ["cats", "4", "laion"]


def test_cli_map_option(cli, write_parquet, data_dir):
    source = write_parquet("c.parquet", {"alt": ["x"], "link": ["https://x.example/"]})
    result = cli(
        data_dir,
        "ingest",
        "m",
        str(source),
        "--map",
        "alt=caption",
        "--map",
        "link=url",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert read_manifest(data_dir / "m" / "manifest.json").source_format == "mapped"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--map", "alt"], "write it as SOURCE_COLUMN=LOUPE_COLUMN"),
        (["--map", "TEXT=colour"], "is not a Loupe column"),
        ([], None),  # the bad file itself
    ],
)
def test_cli_errors_exit_2(cli, tmp_path, write_parquet, data_dir, args, expected):
    path = write_parquet("a.parquet", laion_columns()) if expected else _text_file(tmp_path)
    result = cli(data_dir, "ingest", "x", str(path), "--no-progress", *args)
    assert result.exit_code == 2
    assert (expected or "is not a parquet file") in result.stderr
    if not expected:
        assert str(path) in result.stderr
    assert "Traceback" not in result.output


def test_cli_datasets_when_empty(cli, data_dir):
    result = cli(data_dir, "datasets")
    assert result.exit_code == 0
    assert "No datasets" in result.stdout
