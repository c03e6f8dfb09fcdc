"""Whole rows by position or sample_id from memory-mapped files beside the DuckDB catalog.

The DuckDB catalog holds only what queries filter, sort and count on (scores, sizes,
categories, the caption); the whole row of every record lives here, as ingest read it. Two
reasons: fetching 50 scattered rows from DuckDB's compressed columns costs 20-50 ms at 10M
rows (every string column of every row decompresses a vector of its segment), the same rows
from an uncompressed, memory-mapped Arrow IPC file 1-3 ms; and writing the wide columns (URLs,
ids, hashes) only once, unsorted and uncompressed, is what took ingest from 165,000 to over
500,000 rows a second. The folder ``rows/`` holds:

    rows.arrow      every source row in source order (row i is source_row i), every column
                    of the record but ``pos``; duplicates dropped at ingest are still here
    order.npy       int64, the row of each ``pos``: order[pos] = source row
    id_hash.npy     DuckDB's hash() of each kept record's sample_id, sorted
    id_pos.npy      the ``pos`` of each entry of id_hash.npy
    store.json      format version, and hash('loupe') of the DuckDB that built it

so a position is two addresses, and a sample_id a binary search (collisions are resolved by
reading the candidates' sample_id).

``url_sha256`` is not stored: it is computed from the URL for the rows read (a microsecond
each). Hashing 10M URLs at ingest cost ~4 s of a ~20 s build and 700 MB of the file; blocklists
and flags that match on it use an index of the hashes built on first use (~3 s per 10M rows,
once per server process). The ids are hashed by DuckDB during ingest's single pass
over the rows; a lookup hashes the asked ids with the same function. DuckDB does not promise
hash() stays the same across releases, so the store records a probe value and a DuckDB that
hashes differently looks ids up by a scan instead (correct, only slower).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from app.catalog.schema import COLUMNS, url_sha256

STORE_VERSION = 3
# Columns of a record computed from another column when read, never stored.
COMPUTED_FROM: dict[str, str] = {"url_sha256": "url"}
# A batch holding more of the wanted rows than this gives them by one take, not by slices.
TAKE_FROM_ROWS = 8
ROWS_FILE = "rows.arrow"
ORDER_FILE = "order.npy"
ID_HASH_FILE = "id_hash.npy"
ID_POS_FILE = "id_pos.npy"
META_FILE = "store.json"
HASH_PROBE = "loupe"

# Rows per record batch of the file: small enough that a lookup touches little, large
# enough that the batch directory stays short (~150 batches at 10M rows).
BATCH_ROWS = 65_536


def record_names(stored: Sequence[str]) -> list[str]:
    """The columns of a record, stored and computed, in catalog order (``pos`` first, then
    schema.COLUMNS, then the extra source columns in the order stored)."""
    known = [c.name for c in COLUMNS]
    present = set(stored) | {c for c, source in COMPUTED_FROM.items() if source in stored}
    return [c for c in known if c in present or c == "pos"] + [c for c in stored if c not in known]


def hash_probe(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT hash(?::VARCHAR)", [HASH_PROBE]).fetchall()[0][0])


class RowStoreWriter:
    """Rows appended in source order, then the lookups written by :meth:`finish`."""

    def __init__(self, folder: Path, schema: pa.Schema) -> None:
        folder.mkdir()
        self.folder = folder
        self._sink = pa.OSFile(str(folder / ROWS_FILE), "wb")
        self._writer = pa.ipc.new_file(self._sink, schema)
        self._open = True
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        if self._open:
            self._open = False
            self._writer.close()
            self._sink.close()

    def finish(
        self,
        order: np.ndarray,
        hashes_sorted: np.ndarray,
        rows_by_hash: np.ndarray,
        keep: np.ndarray,
        probe: int,
    ) -> None:
        """Write the lookups. ``order``: the source row of each pos; ``hashes_sorted`` and
        ``rows_by_hash``: every source row's id hash in ascending order and its row;
        ``keep``: False for the source rows that are no record (dropped duplicates)."""
        self.close()
        order = np.ascontiguousarray(order, dtype=np.int64)
        pos_of_row = np.full(len(keep), -1, dtype=np.int64)
        pos_of_row[order] = np.arange(len(order), dtype=np.int64)
        kept = keep[rows_by_hash]
        np.save(self.folder / ORDER_FILE, order)
        np.save(self.folder / ID_HASH_FILE, np.ascontiguousarray(hashes_sorted[kept]))
        np.save(self.folder / ID_POS_FILE, pos_of_row[rows_by_hash[kept]])
        meta = {"version": STORE_VERSION, "id_hash": "duckdb hash()", "hash_probe": probe}
        (self.folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")


def read_rows_file(folder: Path) -> pa.Table:
    """The rows file as one zero-copy table over the memory map (source order)."""
    return pa.ipc.open_file(pa.memory_map(str(folder / ROWS_FILE), "r")).read_all()


class RowStore:
    """Read-only access to a row store folder, shared by every thread."""

    def __init__(self, folder: Path) -> None:
        reader = pa.ipc.open_file(pa.memory_map(str(folder / ROWS_FILE), "r"))
        self.schema: pa.Schema = reader.schema
        self._batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        starts, start = [], 0
        for batch in self._batches:
            starts.append(start)
            start += batch.num_rows
        self._starts = np.array(starts, dtype=np.int64)
        self.source_rows = start
        self._order = np.load(folder / ORDER_FILE, mmap_mode="r")
        self.row_count = len(self._order)
        self._pos_of_row: np.ndarray | None = None
        # Arrow gives a MAP as (key, value) pairs and an INTERVAL as MonthDayNano; DuckDB
        # gives a dict and a timedelta. Rows read here must equal the rows DuckDB gives.
        self._maps = [f.name for f in self.schema if pa.types.is_map(f.type)]
        self._intervals = [f.name for f in self.schema if pa.types.is_interval(f.type)]
        self._id_hashes = np.load(folder / ID_HASH_FILE, mmap_mode="r")
        self._id_positions = np.load(folder / ID_POS_FILE, mmap_mode="r")
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        self._hasher = duckdb.connect(":memory:")
        # A hashing cursor per thread: one shared behind a lock made every id lookup of a
        # loaded server wait in line.
        self._hashers = threading.local()
        self._hash_usable = hash_probe(self._hasher) == meta.get("hash_probe")
        self.names = record_names(self.schema.names)
        self._computed_indexes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._index_lock = threading.Lock()

    @staticmethod
    def exists(folder: Path) -> bool:
        names = (ROWS_FILE, ORDER_FILE, ID_HASH_FILE, ID_POS_FILE, META_FILE)
        if not all((folder / name).is_file() for name in names):
            return False
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(meta, dict) and meta.get("version") == STORE_VERSION

    # --- lookups ------------------------------------------------------------------------------
    def positions_of(self, sample_ids: Sequence[str]) -> dict[str, int]:
        """The ``pos`` of each of ``sample_ids`` that is in the store."""
        wanted = list(dict.fromkeys(str(s) for s in sample_ids))
        if not wanted:
            return {}
        if not self._hash_usable:
            return dict(self._scan("sample_id", wanted))
        candidates = self._candidates(wanted, self._id_hashes, self._id_positions)
        found = self.rows(list(candidates), ["sample_id"])
        return {
            candidates[position]: position
            for position, row in found.items()
            if row["sample_id"] == candidates[position]
        }

    def positions_where(self, column: str, values: Sequence[str]) -> dict[int, str]:
        """Every ``pos`` whose ``column`` is one of ``values``, with that value: a scan of
        the column (blocklists match hash columns this way, a few times per server start)."""
        if column == "sample_id":
            return {p: s for s, p in self.positions_of(values).items()}
        if column in COMPUTED_FROM:
            return self._computed_positions(column, values)
        return {p: v for v, p in self._scan(column, values)}

    def _computed_positions(self, column: str, values: Sequence[str]) -> dict[int, str]:
        """Positions whose computed ``column`` is one of ``values``, by an index of DuckDB
        hashes of the computed values (built on first use), checked against the values."""
        wanted = list(dict.fromkeys(str(v) for v in values))
        source = COMPUTED_FROM[column]
        if not wanted or source not in self.schema.names:
            return {}
        candidates = self._candidates(wanted, *self._computed_index(column))
        pos_of_row = self.positions_by_source_row()
        found = self.source_rows_at(list(candidates), [column])
        return {
            int(pos_of_row[row]): value
            for row, value in candidates.items()
            if pos_of_row[row] >= 0 and found[row][column] == value
        }

    def _computed_index(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(sorted hashes of the column's values, their source rows), built once, on its own
        DuckDB connection: lookups by id go on meanwhile."""
        with self._index_lock:
            if column not in self._computed_indexes:
                table = pa.table(
                    {
                        "row": pa.array(np.arange(self.source_rows, dtype=np.int64)),
                        "value": pa.chunked_array(
                            [b.column(COMPUTED_FROM[column]) for b in self._batches]
                        ),
                    }
                )
                with duckdb.connect(":memory:") as con:
                    con.register("computed_source", table)
                    # Only url_sha256 is computed today; its SQL is sha256 of the source.
                    found = con.sql(
                        "SELECT hash(sha256(value)) AS key, row FROM computed_source "
                        "WHERE value IS NOT NULL ORDER BY key"
                    ).fetchnumpy()
                self._computed_indexes[column] = (
                    np.asarray(found["key"], dtype=np.uint64),
                    np.asarray(found["row"], dtype=np.int64),
                )
            return self._computed_indexes[column]

    def _candidates(
        self, values: Sequence[str], sorted_hashes: np.ndarray, entries: np.ndarray
    ) -> dict[int, str]:
        """The entries (positions or rows) whose hash equals one of ``values``' DuckDB hash,
        each with that value: candidates only, a hash can collide."""
        hasher = getattr(self._hashers, "cursor", None)
        if hasher is None:
            hasher = self._hashers.cursor = self._hasher.cursor()
        hashed = hasher.execute(
            "SELECT list_transform(?::VARCHAR[], lambda x: hash(x))", [list(values)]
        ).fetchall()[0][0]
        keys = np.array(hashed, dtype=np.uint64)
        lows = np.searchsorted(sorted_hashes, keys, side="left")
        highs = np.searchsorted(sorted_hashes, keys, side="right")
        found: dict[int, str] = {}
        for value, low, high in zip(values, lows, highs, strict=True):
            for entry in entries[low:high]:
                found[int(entry)] = value
        return found

    def _scan(self, column: str, values: Sequence[str]) -> list[tuple[str, int]]:
        if column not in self.schema.names or not values:
            return []
        value_set = pa.array(list(dict.fromkeys(str(v) for v in values)), type=pa.string())
        pos_of_row = self.positions_by_source_row()
        found: list[tuple[str, int]] = []
        for start, batch in zip(self._starts, self._batches, strict=True):
            data = batch.column(column)
            hits = pc.indices_nonzero(pc.fill_null(pc.is_in(data, value_set=value_set), False))
            for offset in hits.to_numpy().astype(np.int64).tolist():
                position = int(pos_of_row[int(start) + offset])
                if position >= 0:  # a duplicate dropped at ingest is no record
                    found.append((data[offset].as_py(), position))
        return found

    def positions_by_source_row(self) -> np.ndarray:
        """The inverse of ``order``: the pos of each source row, -1 for dropped rows."""
        if self._pos_of_row is None:
            inverse = np.full(self.source_rows, -1, dtype=np.int64)
            inverse[self._order] = np.arange(self.row_count, dtype=np.int64)
            self._pos_of_row = inverse
        return self._pos_of_row

    # --- rows ---------------------------------------------------------------------------------
    def rows(
        self, positions: Sequence[int], columns: Sequence[str] | None = None
    ) -> dict[int, dict[str, Any]]:
        """Rows at ``positions`` (those that exist), keyed by position; only ``columns`` if
        given. Each row has its columns in catalog order (``pos`` first)."""
        wanted = sorted({int(p) for p in positions if 0 <= int(p) < self.row_count})
        if not wanted:
            return {}
        names = self._names(columns)
        table, by_source = self._take_sorted(
            self._order[np.array(wanted, dtype=np.int64)], self._stored_for(names)
        )
        positions_by_source = np.array(wanted, dtype=np.int64)[by_source].tolist()
        return dict(
            zip(positions_by_source, self._dicts(table, names, positions_by_source), strict=True)
        )

    def source_rows_at(
        self, rows: Sequence[int], columns: Sequence[str] | None = None
    ) -> dict[int, dict[str, Any]]:
        """Rows by their place in the source files (``source_row``), dropped ones too; no
        ``pos``."""
        wanted = np.array(sorted({int(r) for r in rows if 0 <= int(r) < self.source_rows}))
        if not len(wanted):
            return {}
        names = [n for n in self._names(columns) if n != "pos"]
        table, _ = self._take_sorted(wanted.astype(np.int64), self._stored_for(names))
        return dict(zip(wanted.tolist(), self._dicts(table, names, None), strict=True))

    def record_batch(self, positions: Sequence[int] | np.ndarray) -> pa.RecordBatch:
        """Whole records at ``positions`` (all valid), in the order given, ``pos`` first: the
        shape an export writes."""
        wanted = np.asarray(positions, dtype=np.int64)
        if not len(wanted):
            return self.empty_batch()
        table, by_source = self._take_sorted(self._order[wanted], None)
        # Back from source-row order to the order asked for.
        back = np.empty(len(by_source), dtype=np.int64)
        back[by_source] = np.arange(len(by_source), dtype=np.int64)
        table = table.take(pa.array(back)).combine_chunks()
        arrays: list[pa.Array] = []
        for name in self.names:
            if name == "pos":
                arrays.append(pa.array(wanted, type=pa.int64()))
            elif name in COMPUTED_FROM:
                sources = table.column(COMPUTED_FROM[name]).to_pylist()
                hashed = [None if v is None else url_sha256(v) for v in sources]
                arrays.append(pa.array(hashed, type=pa.string()))
            else:
                arrays.append(table.column(name).combine_chunks())
        return pa.RecordBatch.from_arrays(arrays, schema=self.record_schema())

    def record_schema(self) -> pa.Schema:
        stored = {f.name: f for f in self.schema}
        return pa.schema(
            [
                pa.field("pos", pa.int64())
                if name == "pos"
                else stored.get(name, pa.field(name, pa.string()))
                for name in self.names
            ]
        )

    def empty_batch(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_pylist([], schema=self.record_schema())

    def _names(self, columns: Sequence[str] | None) -> list[str]:
        if columns is None:
            return self.names
        return [c for c in columns if c in self.names]

    def _stored_for(self, names: Sequence[str]) -> list[str]:
        """The stored columns needed to give ``names`` (computed ones need their source)."""
        needed = {COMPUTED_FROM.get(n, n) for n in names} | {n for n in names}
        return [c for c in self.schema.names if c in needed]

    def _dicts(
        self, table: pa.Table, names: Sequence[str], positions: Sequence[int] | None
    ) -> list[dict[str, Any]]:
        stored = table.to_pylist()
        self._convert(stored)
        rows = []
        for i, row in enumerate(stored):
            out: dict[str, Any] = {}
            for name in names:
                if name == "pos":
                    out["pos"] = positions[i] if positions is not None else None
                elif name in COMPUTED_FROM:
                    source = row.get(COMPUTED_FROM[name])
                    out[name] = None if source is None else url_sha256(source)
                else:
                    out[name] = row[name]
            rows.append(out)
        return rows

    def _take_sorted(
        self, sources: np.ndarray, columns: Sequence[str] | None
    ) -> tuple[pa.Table, np.ndarray]:
        """The rows at source rows ``sources`` (unique), as one chunk in ascending source
        order, and the index into ``sources`` of each row returned.

        Rows are sliced out (or taken, where a batch holds many of them) and the pieces
        combined into one chunk before converting: ``Table.take`` across batches would first
        concatenate whole columns (hundreds of ms and GBs at 10M rows), and converting 50
        one-row chunks costs twice what one 50-row chunk does."""
        by_source = np.argsort(sources, kind="stable")
        ordered = sources[by_source]
        batch_of = np.searchsorted(self._starts, ordered, side="right") - 1
        pieces = []
        for index in np.unique(batch_of):
            batch = self._batches[int(index)]
            offsets = ordered[batch_of == index] - self._starts[index]
            if columns is not None:
                batch = batch.select(list(columns))
            if len(offsets) > TAKE_FROM_ROWS:
                pieces.append(batch.take(pa.array(offsets, type=pa.int64())))
            else:  # a slice is free; a take costs ~10 us per column
                pieces.extend(batch.slice(int(offset), 1) for offset in offsets)
        schema = self.schema
        if columns is not None:
            schema = pa.schema([self.schema.field(c) for c in columns])
        return pa.Table.from_batches(pieces, schema=schema).combine_chunks(), by_source

    def _convert(self, rows: list[dict[str, Any]]) -> None:
        for name in self._maps:
            for row in rows:
                if row.get(name) is not None:
                    row[name] = dict(row[name])
        for name in self._intervals:
            for row in rows:
                if row.get(name) is not None:
                    row[name] = _timedelta(row[name])


def _timedelta(value: Any) -> dt.timedelta:
    """DuckDB's own conversion of an interval: a month counts 30 days."""
    months, days, nanoseconds = value
    return dt.timedelta(days=months * 30 + days, microseconds=nanoseconds / 1000)
