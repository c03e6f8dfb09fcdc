"""The row store: rows by pos and by sample_id from memory-mapped files, equal to DuckDB's."""

from __future__ import annotations

import datetime as dt
import decimal
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from app.catalog.connection import CatalogConnection
from app.catalog.ingest import ingest_dataset
from app.catalog.layout import DatasetPaths
from app.catalog.queries import CARD_COLUMNS, Catalog
from app.catalog.rowstore import ID_HASH_FILE, RowStore, id_hash, write_row_store

from .conftest import WriteParquet

ROWS = 300


def source_columns() -> dict:
    """LAION columns plus extra columns of the types parquet files carry."""
    return {
        "SAMPLE_ID": [f"id-{i}" for i in range(ROWS)],
        "URL": [f"https://site{i % 7}.example/{i}.jpg" for i in range(ROWS)],
        "TEXT": [f"caption «{i}» 🐈" if i % 5 else None for i in range(ROWS)],
        "similarity": pa.array([(i * 37 % 100) / 200 for i in range(ROWS)], pa.float64()),
        "punsafe": pa.array([(i % 10) / 10 for i in range(ROWS)], pa.float32()),
        "tags": pa.array([[f"t{i}", "x"] if i % 3 else None for i in range(ROWS)]),
        "meta": pa.array([{"a": i, "b": str(i)} for i in range(ROWS)]),
        "seen": pa.array(
            [dt.datetime(2021, 1, 1) + dt.timedelta(hours=i) for i in range(ROWS)],
            pa.timestamp("us"),
        ),
        "price": pa.array([decimal.Decimal(i) / 100 for i in range(ROWS)], pa.decimal128(10, 2)),
    }


@pytest.fixture
def dataset(write_parquet: WriteParquet, data_dir: Path) -> DatasetPaths:
    source = write_parquet("rows.parquet", source_columns())
    ingest_dataset(data_dir, "rs", [source], progress=False)
    return DatasetPaths(data_dir / "rs")


def duckdb_rows(paths: DatasetPaths) -> list[dict]:
    con = duckdb.connect(str(paths.catalog), read_only=True)
    try:
        cursor = con.execute("SELECT * FROM records ORDER BY pos")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def test_hash_is_duckdb_md5_number_upper() -> None:
    con = duckdb.connect()
    for value in ["1061", "id-7", "", "ünïcödé", "x" * 300]:
        expected = con.execute("SELECT md5_number_upper(?)", [value]).fetchall()[0][0]
        assert id_hash(value) == expected


def test_rows_by_position_equal_duckdb_rows(dataset: DatasetPaths) -> None:
    store = RowStore(dataset.rows)
    expected = duckdb_rows(dataset)
    assert store.row_count == ROWS
    got = store.rows(range(ROWS))
    assert [got[p] for p in range(ROWS)] == expected
    assert store.rows([ROWS, -1, 10**12]) == {}  # out of range is absent, not an error


def test_rows_by_id_and_unknown_ids(dataset: DatasetPaths) -> None:
    store = RowStore(dataset.rows)
    by_id = {row["sample_id"]: row["pos"] for row in duckdb_rows(dataset)}
    asked = ["id-5", "nope", "id-299", "id-5", "id-0"]
    assert store.positions_of(asked) == {i: by_id[i] for i in ("id-5", "id-299", "id-0")}


def test_hash_collisions_are_resolved_by_the_sample_id(dataset: DatasetPaths) -> None:
    """Give every row the same hash: lookups must still answer by the stored sample_id."""
    hashes = np.load(dataset.rows / ID_HASH_FILE)
    np.save(dataset.rows / ID_HASH_FILE, np.full_like(hashes, id_hash("id-42")))
    store = RowStore(dataset.rows)
    position = store.positions_of(["id-42"])["id-42"]
    assert store.rows([position])[position]["sample_id"] == "id-42"
    assert store.positions_of(["id-43"]) == {}  # its hash is no longer in the map


def test_catalog_uses_the_store_and_still_hides(dataset: DatasetPaths, tmp_path: Path) -> None:
    """Same answers with and without a row store, hidden positions left out of both."""
    bare = tmp_path / "bare" / "rs"
    shutil.copytree(dataset.root, bare)
    shutil.rmtree(bare / "rows")
    with_store = Catalog(CatalogConnection(timeout_s=10))
    without = Catalog(CatalogConnection(timeout_s=10))
    with_store.attach("rs", dataset.catalog)
    without.attach("rs", DatasetPaths(bare).catalog)
    assert "rs" in with_store.row_stores and "rs" not in without.row_stores

    ids = ["id-9", "id-1", "missing", "id-250"]
    positions = [row["pos"] for row in without.rows_by_ids("rs", ids)]
    for catalog in (with_store, without):
        catalog.set_hidden("rs", [positions[1]])
    for catalog in (with_store, without):
        rows = catalog.rows_by_ids("rs", ids)
        assert [r["sample_id"] for r in rows] == ["id-9", "id-250"]
        cards = catalog.rows_by_positions("rs", [positions[2], positions[1], positions[0]])
        assert [r["sample_id"] for r in cards] == ["id-250", "id-9"]
        assert list(cards[0]) == list(CARD_COLUMNS)
    assert with_store.rows_by_ids("rs", ids) == without.rows_by_ids("rs", ids)
    assert with_store.rows_by_positions("rs", range(40)) == without.rows_by_positions(
        "rs", range(40)
    )


def test_write_refuses_an_existing_folder(dataset: DatasetPaths) -> None:
    con = duckdb.connect(str(dataset.catalog), read_only=True)
    try:
        with pytest.raises(FileExistsError):
            write_row_store(con, dataset.rows)
    finally:
        con.close()


def test_types_arrow_spells_differently_read_back_as_duckdb_gives_them(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE records AS SELECT i AS pos, i::VARCHAR AS sample_id,
           CASE WHEN i = 1 THEN NULL ELSE MAP {'a': i} END AS tags,
           INTERVAL 2 MONTH + INTERVAL (i) DAY + INTERVAL 5 SECOND AS age,
           uuid() AS uid, i::HUGEINT AS big, '{"x": 1}'::JSON AS doc
           FROM range(3) r(i)"""
    )
    write_row_store(con, tmp_path / "rows")
    store = RowStore(tmp_path / "rows")
    expected = con.execute("SELECT * FROM records ORDER BY pos").fetchall()
    names = [row[0] for row in con.execute("DESCRIBE records").fetchall()]
    got = store.rows(range(3))
    for position, values in enumerate(expected):
        row = dict(zip(names, values, strict=True))
        row["uid"] = str(row["uid"])  # Arrow has no UUID type: the text of it
        assert got[position] == row
