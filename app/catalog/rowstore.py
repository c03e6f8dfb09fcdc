"""Whole rows by position or sample_id from memory-mapped files beside the DuckDB catalog.

DuckDB answers filters, counts and facets from compressed columns, but fetching 50 scattered
rows from it costs 20-50 ms at 10M rows: every string column of every row decompresses a
vector of its segment. The same rows from an uncompressed Arrow IPC file, memory-mapped,
cost 1-3 ms: a row is a few offsets into pages the OS already caches. Ingest writes, in the
folder ``rows/``:

    rows.arrow      every column of ``records`` in ``pos`` order (row i is pos i)
    id_hash.npy     the first 8 bytes of md5(sample_id) as little-endian uint64, sorted
    id_pos.npy      the ``pos`` of each entry of id_hash.npy

so a position is an address, and a sample_id is a binary search (hash collisions are
resolved by reading the candidates' sample_id).
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

# A batch holding more of the wanted rows than this gives them by one take, not by slices.
TAKE_FROM_ROWS = 8
ROWS_FILE = "rows.arrow"
ID_HASH_FILE = "id_hash.npy"
ID_POS_FILE = "id_pos.npy"

# Rows per record batch of the file: small enough that a lookup touches little, large
# enough that the batch directory stays short (~150 batches at 10M rows).
BATCH_ROWS = 65_536


def id_hash(sample_id: str) -> int:
    """The lookup key of a sample_id; DuckDB's ``md5_number_upper`` computes the same."""
    return int.from_bytes(hashlib.md5(sample_id.encode()).digest()[:8], "little")  # noqa: S324


def write_row_store(con: duckdb.DuckDBPyConnection, folder: Path, table: str = "records") -> int:
    """Write the row store of ``table`` into ``folder`` (which must not exist yet); returns
    the row count.

    The table was written in ``pos`` order and DuckDB scans in insertion order, so the rows
    need no sort. The dataset folder is renamed into place only when complete, so a reader
    never sees half a store.
    """
    folder.mkdir()
    reader = con.sql(f"SELECT * FROM {table}").to_arrow_reader(BATCH_ROWS)  # noqa: S608
    rows = 0
    with (
        pa.OSFile(str(folder / ROWS_FILE), "wb") as sink,
        pa.ipc.new_file(sink, reader.schema) as writer,
    ):
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    keys = con.sql(
        f"SELECT md5_number_upper(sample_id) AS hash, pos FROM {table} "  # noqa: S608
        "ORDER BY hash, pos"
    ).fetchnumpy()
    np.save(folder / ID_HASH_FILE, np.ascontiguousarray(keys["hash"], dtype=np.uint64))
    np.save(folder / ID_POS_FILE, np.ascontiguousarray(keys["pos"], dtype=np.int64))
    return rows


class RowStore:
    """Read-only access to a row store folder, shared by every thread."""

    def __init__(self, folder: Path) -> None:
        reader = pa.ipc.open_file(pa.memory_map(str(folder / ROWS_FILE), "r"))
        self._batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        self._starts: list[int] = []
        start = 0
        for batch in self._batches:
            self._starts.append(start)
            start += batch.num_rows
        self.row_count = start
        # Arrow gives a MAP as (key, value) pairs and an INTERVAL as MonthDayNano; DuckDB
        # gives a dict and a timedelta. Rows read here must equal the rows DuckDB gives.
        self._maps = [f.name for f in reader.schema if pa.types.is_map(f.type)]
        self._intervals = [f.name for f in reader.schema if pa.types.is_interval(f.type)]
        self._id_hashes = np.load(folder / ID_HASH_FILE, mmap_mode="r")
        self._id_positions = np.load(folder / ID_POS_FILE, mmap_mode="r")

    @staticmethod
    def exists(folder: Path) -> bool:
        return all((folder / name).is_file() for name in (ROWS_FILE, ID_HASH_FILE, ID_POS_FILE))

    def positions_of(self, sample_ids: Sequence[str]) -> dict[str, int]:
        """The ``pos`` of each of ``sample_ids`` that is in the store."""
        wanted = list(dict.fromkeys(str(s) for s in sample_ids))
        if not wanted:
            return {}
        hashes = np.array([id_hash(s) for s in wanted], dtype=np.uint64)
        lows = np.searchsorted(self._id_hashes, hashes, side="left")
        highs = np.searchsorted(self._id_hashes, hashes, side="right")
        candidates: dict[int, str] = {}
        for sample_id, low, high in zip(wanted, lows, highs, strict=True):
            for position in self._id_positions[low:high]:
                candidates[int(position)] = sample_id
        found = self.rows(list(candidates), ["sample_id"])
        return {
            candidates[position]: position
            for position, row in found.items()
            if row["sample_id"] == candidates[position]
        }

    def rows(
        self, positions: Sequence[int], columns: Sequence[str] | None = None
    ) -> dict[int, dict[str, Any]]:
        """Rows at ``positions`` (those that exist), keyed by position; only ``columns`` if
        given.

        Rows are sliced out (or taken, where a batch holds many of them) and the pieces
        combined into one chunk before converting: ``Table.take`` across batches would first
        concatenate whole columns (hundreds of ms and GBs at 10M rows), and converting 50
        one-row chunks costs twice what one 50-row chunk does."""
        wanted = sorted({int(p) for p in positions if 0 <= int(p) < self.row_count})
        if not wanted:
            return {}
        by_batch: dict[int, list[int]] = {}
        for position in wanted:
            index = bisect.bisect_right(self._starts, position) - 1
            by_batch.setdefault(index, []).append(position - self._starts[index])
        pieces = []
        for index, offsets in by_batch.items():
            batch = self._batches[index]
            if len(offsets) > TAKE_FROM_ROWS:
                pieces.append(batch.take(pa.array(offsets, type=pa.int64())))
            else:  # a slice is free; a take costs ~10 us per column
                pieces.extend(batch.slice(offset, 1) for offset in offsets)
        table = pa.Table.from_batches(pieces)
        if columns is not None:
            table = table.select(list(columns))
        rows = table.combine_chunks().to_pylist()
        for name in self._maps:
            for row in rows:
                if row.get(name) is not None:
                    row[name] = dict(row[name])
        for name in self._intervals:
            for row in rows:
                if row.get(name) is not None:
                    row[name] = _timedelta(row[name])
        return dict(zip(wanted, rows, strict=True))


def _timedelta(value: Any) -> dt.timedelta:
    """DuckDB's own conversion of an interval: a month counts 30 days."""
    months, days, nanoseconds = value
    return dt.timedelta(days=months * 30 + days, microseconds=nanoseconds / 1000)
