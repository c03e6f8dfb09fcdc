"""The row store: rows by pos and by sample_id from memory-mapped files, equal to DuckDB's."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from app.build import build_dataset
from app.catalog.connection import CatalogConnection
from app.catalog.layout import DatasetPaths
from app.catalog.queries import CARD_COLUMNS, Catalog
from app.catalog.rowstore import (
    ID_HASH_FILE,
    META_FILE,
    RowStore,
    RowStoreWriter,
    hash_probe,
)
from app.catalog.schema import CATALOG_COLUMNS

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
    build_dataset(data_dir, "rs", [source], progress=False)
    return DatasetPaths(data_dir / "rs")


def catalog_rows(paths: DatasetPaths) -> list[dict]:
    con = duckdb.connect(str(paths.catalog), read_only=True)
    try:
        cursor = con.execute("SELECT * FROM records ORDER BY pos")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def duckdb_hash(value: str) -> int:
    return int(duckdb.connect().execute("SELECT hash(?::VARCHAR)", [value]).fetchall()[0][0])


def test_rows_by_position_agree_with_the_catalog_and_the_source(dataset: DatasetPaths) -> None:
    store = RowStore(dataset.rows)
    assert store.row_count == ROWS and store.source_rows == ROWS
    got = store.rows(range(ROWS))
    source = source_columns()
    for expected in catalog_rows(dataset):
        row = got[expected["pos"]]
        assert list(row)[:2] == ["pos", "sample_id"]
        assert {c: row[c] for c in CATALOG_COLUMNS} == {c: expected[c] for c in CATALOG_COLUMNS}
        i = row["source_row"]
        assert row["sample_id"] == source["SAMPLE_ID"][i]
        assert row["tags"] == source["tags"][i].as_py()
        assert row["meta"] == source["meta"][i].as_py()
        assert row["seen"] == source["seen"][i].as_py()
        assert row["price"] == source["price"][i].as_py()
    assert store.rows([ROWS, -1, 10**12]) == {}  # out of range is absent, not an error
    assert store.rows([3, 1], ["pos", "url"]) == {
        1: {"pos": 1, "url": got[1]["url"]},
        3: {"pos": 3, "url": got[3]["url"]},
    }


def test_rows_by_id_and_unknown_ids(dataset: DatasetPaths) -> None:
    store = RowStore(dataset.rows)
    by_id = {row["sample_id"]: p for p, row in store.rows(range(ROWS)).items()}
    asked = ["id-5", "nope", "id-299", "id-5", "id-0"]
    assert store.positions_of(asked) == {i: by_id[i] for i in ("id-5", "id-299", "id-0")}


def test_hash_collisions_are_resolved_by_the_sample_id(dataset: DatasetPaths) -> None:
    """Give every row the same hash: lookups must still answer by the stored sample_id."""
    hashes = np.load(dataset.rows / ID_HASH_FILE)
    np.save(dataset.rows / ID_HASH_FILE, np.full_like(hashes, duckdb_hash("id-42")))
    store = RowStore(dataset.rows)
    position = store.positions_of(["id-42"])["id-42"]
    assert store.rows([position])[position]["sample_id"] == "id-42"
    assert store.positions_of(["id-43"]) == {}  # its hash is no longer in the map


def test_a_duckdb_that_hashes_differently_scans_instead(dataset: DatasetPaths) -> None:
    expected = RowStore(dataset.rows).positions_of(["id-7", "id-200", "nope"])
    meta = json.loads((dataset.rows / META_FILE).read_text())
    (dataset.rows / META_FILE).write_text(json.dumps({**meta, "hash_probe": 12345}))
    store = RowStore(dataset.rows)
    assert store.positions_of(["id-7", "id-200", "nope"]) == expected


def test_positions_where_a_hash_column_matches(dataset: DatasetPaths) -> None:
    store = RowStore(dataset.rows)
    rows = store.rows(range(ROWS))
    wanted = {rows[5]["url_sha256"], rows[77]["url_sha256"], "f" * 64}
    assert store.positions_where("url_sha256", sorted(wanted)) == {
        5: rows[5]["url_sha256"],
        77: rows[77]["url_sha256"],
    }
    assert store.positions_where("no_such_column", ["x"]) == {}


def test_record_batch_in_the_order_asked(dataset: DatasetPaths) -> None:
    store = RowStore(dataset.rows)
    batch = store.record_batch([9, 2, 150])
    assert batch.schema == store.record_schema()
    assert batch.schema.names[0] == "pos"
    rows = store.rows([9, 2, 150])
    assert batch.to_pylist()[1]["sample_id"] == rows[2]["sample_id"]
    assert [r["pos"] for r in batch.to_pylist()] == [9, 2, 150]
    assert store.empty_batch().num_rows == 0


def test_catalog_reads_the_store_and_still_hides(dataset: DatasetPaths) -> None:
    catalog = Catalog(CatalogConnection(timeout_s=10))
    catalog.attach("rs", dataset.catalog)
    catalog.hidden.replace("rs", [])  # a catalog-layer test: nothing hidden
    ids = ["id-9", "id-1", "missing", "id-250"]
    positions = [row["pos"] for row in catalog.rows_by_ids("rs", ids)]
    assert len(positions) == 3
    catalog.hidden.replace("rs", [positions[1]])
    rows = catalog.rows_by_ids("rs", ids)
    assert [r["sample_id"] for r in rows] == ["id-9", "id-250"]
    cards = catalog.rows_by_positions("rs", [positions[2], positions[1], positions[0]])
    assert [r["sample_id"] for r in cards] == ["id-250", "id-9"]
    assert list(cards[0]) == list(CARD_COLUMNS)
    # blocklist matching still sees hidden records (a second list must count them too)
    assert catalog.sample_ids_matching("rs", "sample_id", ["id-1"]) == ["id-1"]


def test_a_dataset_without_the_current_store_is_refused(dataset: DatasetPaths) -> None:
    shutil.rmtree(dataset.rows)
    assert dataset.outdated() and not dataset.exists()
    with pytest.raises(ValueError, match="older Loupe"):
        Catalog(CatalogConnection(timeout_s=10)).attach("rs", dataset.catalog)


def write_store(con: duckdb.DuckDBPyConnection, sql: str, folder: Path) -> None:
    """A row store of a query's rows in their own order (what ingest does, without a sort)."""
    table = con.sql(sql).to_arrow_table()
    writer = RowStoreWriter(folder, table.schema)
    for batch in table.to_batches():
        writer.write(batch)
    rows = table.num_rows
    hashes = np.array(
        [duckdb_hash(str(v)) for v in table.column("sample_id").to_pylist()], dtype=np.uint64
    )
    by_hash = np.argsort(hashes, kind="stable")
    writer.finish(
        np.arange(rows), hashes[by_hash], by_hash, np.ones(rows, dtype=bool), hash_probe(con)
    )


def test_write_refuses_an_existing_folder(dataset: DatasetPaths) -> None:
    with pytest.raises(FileExistsError):
        RowStoreWriter(dataset.rows, pa.schema([pa.field("sample_id", pa.string())]))


def test_types_arrow_spells_differently_read_back_as_duckdb_gives_them(tmp_path: Path) -> None:
    con = duckdb.connect()
    sql = """SELECT i::VARCHAR AS sample_id,
           CASE WHEN i = 1 THEN NULL ELSE MAP {'a': i} END AS tags,
           INTERVAL 2 MONTH + INTERVAL (i) DAY + INTERVAL 5 SECOND AS age,
           uuid() AS uid, i::HUGEINT AS big, '{"x": 1}'::JSON AS doc
           FROM range(3) r(i)"""
    con.execute(f"CREATE TABLE source AS {sql}")
    write_store(con, "SELECT * FROM source", tmp_path / "rows")
    store = RowStore(tmp_path / "rows")
    expected = con.execute("SELECT * FROM source").fetchall()
    names = [row[0] for row in con.execute("DESCRIBE source").fetchall()]
    got = store.rows(range(3))
    for position, values in enumerate(expected):
        row = {"pos": position, **dict(zip(names, values, strict=True))}
        row["uid"] = str(row["uid"])  # Arrow has no UUID type: the text of it
        assert got[position] == row
