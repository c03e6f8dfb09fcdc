"""The catalog build: the rows of a query over the source files -> row store + DuckDB table.

One pass over the sources, in DuckDB (parquet decoding, type conversions, the domain and a
hash of the sample id are vectorised and run on every core), streams each row once into the
row store in source order. Everything after that works on the few columns that order and
filter:

1. duplicates of a sample_id are found among the id hashes, sorted by DuckDB (the first row in
   source order stays; equal hashes are checked against the ids);
2. the catalog order (similarity, highest first; ties in source order) is a DuckDB sort of
   two narrow columns;
3. the ``records`` table gets only ``schema.CATALOG_COLUMNS``, gathered from the row store in
   that order by Arrow and written by DuckDB as they come: ``pos`` is the row's place, which
   is also its rowid;
4. the row store gets its lookups (pos -> source row, sample_id hash -> pos).

Why not one sorted ``CREATE TABLE AS`` of whole rows: sorting and compressing the wide
columns (URLs, ids, hashes) cost ~75 % of the build at 10M rows, and nothing filters on them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from app.catalog.layout import DatasetPaths
from app.catalog.manifest import ScoreStats
from app.catalog.rowstore import (
    BATCH_ROWS,
    RowStoreWriter,
    hash_probe,
    read_rows_file,
    record_names,
)
from app.catalog.schema import (
    CATALOG_COLUMNS,
    HISTOGRAM_BINS,
    SAMPLE_RATE,
    SCORE_COLUMNS,
    SCORE_DOMAINS,
    TOP_SORTS,
    bin_column,
    top_table,
)

# The rows query carries this column beside the record's columns; it is not stored.
ID_HASH_COLUMN = "loupe.id_hash"


class LoadError(Exception):
    """The rows query failed while reading the sources (a bad file, a failed conversion).

    DuckDB's error arrives as a duckdb.Error, or, from inside the Arrow stream, as the
    OSError Arrow wraps it in."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class BuildStats:
    row_count: int
    rows_read: int
    duplicates_dropped: int
    schema: list[dict[str, str]]
    score_stats: dict[str, ScoreStats]
    timings: dict[str, float]  # seconds per step

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())


@dataclass(frozen=True)
class _Keys:
    """What the steps after the load need, one entry per source row."""

    similarity: np.ndarray  # float32, NaN where absent
    id_hashes: np.ndarray  # uint64


@dataclass(frozen=True)
class _Order:
    positions: np.ndarray  # the source row of each pos
    keep: np.ndarray  # bool per source row: False for a dropped duplicate
    hashes_sorted: np.ndarray  # every source row's id hash, ascending
    rows_by_hash: np.ndarray  # the source row of each entry of hashes_sorted


def build_catalog(
    paths: DatasetPaths,
    rows_sql: str,
    params: list[str],
    total_rows: int,
    *,
    threads: int,
    progress: bool,
) -> BuildStats:
    """Build ``paths.rows`` and ``paths.catalog`` from ``rows_sql`` (whose rows come in
    source order, carry every record column but ``pos`` and the ID_HASH_COLUMN).

    Raises LoadError if reading the sources fails."""
    timings: dict[str, float] = {}
    spill = paths.root / ".spill"
    con = duckdb.connect(str(paths.catalog))
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET temp_directory = ?", [str(spill)])
        # Source order in, source order out: the row store's row i must be source row i,
        # and the sorted table's rowid its pos.
        con.execute("SET preserve_insertion_order = true")
        with _step(timings, "read_rows"):
            try:
                schema, stored = _schemas(con, rows_sql, params)
            except duckdb.Error as error:
                raise LoadError(error) from error
            writer = RowStoreWriter(paths.rows, stored)
            try:
                keys = _load_rows(con, writer, rows_sql, params, total_rows, progress)
            finally:
                writer.close()
        # The steps after the read take about as long again; a bar says which one runs.
        with tqdm(total=4, desc="sort, write, index", disable=not progress) as bar:
            with _step(timings, "order"):
                order = _order(con, keys, paths.rows)
            bar.update()
            with _step(timings, "catalog"):
                _write_records(con, paths.rows, order.positions, threads)
            bar.update()
            with _step(timings, "lookups"):
                writer.finish(
                    order.positions,
                    order.hashes_sorted,
                    order.rows_by_hash,
                    order.keep,
                    hash_probe(con),
                )
            bar.update()
            with _step(timings, "stats"):
                score_stats = _score_stats(con)
            bar.update()
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    return BuildStats(
        row_count=len(order.positions),
        rows_read=writer.rows,
        duplicates_dropped=int((~order.keep).sum()),
        schema=_record_schema(schema),
        score_stats=score_stats,
        timings=timings,
    )


def _schemas(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[str]
) -> tuple[list[dict[str, str]], pa.Schema]:
    """The stored columns of the rows query, as DuckDB types (for the manifest) and as the
    Arrow schema of the row store; the query binds once and reads no row."""
    relation = con.sql(sql, params=params)
    described = [
        {"name": str(name), "type": str(kind)}
        for name, kind in zip(relation.columns, relation.types, strict=True)
        if name != ID_HASH_COLUMN
    ]
    empty = relation.limit(0).to_arrow_table()
    return described, empty.schema.remove(empty.schema.get_field_index(ID_HASH_COLUMN))


def _record_schema(stored: list[dict[str, str]]) -> list[dict[str, str]]:
    """The manifest's schema: every column of a record, stored or computed, with its type."""
    types = {c["name"]: c["type"] for c in stored}
    types["pos"] = "BIGINT"
    return [{"name": n, "type": types.get(n, "VARCHAR")} for n in record_names(list(types))]


def _load_rows(
    con: duckdb.DuckDBPyConnection,
    writer: RowStoreWriter,
    sql: str,
    params: list[str],
    total_rows: int,
    progress: bool,
) -> _Keys:
    """Stream the query's rows into the row store, keeping the columns the order needs.

    (A helper thread pulling from DuckDB while this one wrote was tried: no faster on 2
    cores, where DuckDB already keeps both busy.)"""
    similarity: list[np.ndarray] = []
    id_hashes: list[np.ndarray] = []
    try:
        batches = iter(con.sql(sql, params=params).to_arrow_reader(BATCH_ROWS))
    except duckdb.Error as error:
        raise LoadError(error) from error
    with tqdm(
        total=total_rows, unit="rows", unit_scale=True, desc="read", disable=not progress
    ) as bar:
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (duckdb.Error, OSError) as error:
                # DuckDB's error, or the OSError Arrow wraps it in when it arrives through the
                # stream (a failed conversion in a later file, a damaged file). A failed
                # write below is not the sources' fault and is not caught here.
                raise LoadError(error) from error
            hashes = batch.column(batch.schema.get_field_index(ID_HASH_COLUMN))
            id_hashes.append(hashes.to_numpy(zero_copy_only=False))
            scores = pc.fill_null(batch.column("similarity").cast(pa.float32()), np.nan)
            similarity.append(scores.to_numpy(zero_copy_only=False))
            writer.write(batch.drop_columns([ID_HASH_COLUMN]))
            bar.update(batch.num_rows)
    return _Keys(
        similarity=np.concatenate(similarity) if similarity else np.empty(0, np.float32),
        id_hashes=(
            np.concatenate(id_hashes).astype(np.uint64) if id_hashes else np.empty(0, np.uint64)
        ),
    )


def _order(con: duckdb.DuckDBPyConnection, keys: _Keys, folder: Path) -> _Order:
    """Drop repeated sample_ids (the first row in source order stays) and sort the rest:
    similarity descending, absent last, ties in source order. DuckDB sorts (on every core,
    ~3x numpy's single-threaded argsort)."""
    rows = len(keys.id_hashes)
    table = pa.table(
        {
            "row": pa.array(np.arange(rows, dtype=np.int64)),
            "id_hash": pa.array(keys.id_hashes),
            "similarity": pa.array(keys.similarity, from_pandas=True),  # NaN -> NULL
        }
    )
    con.register("ingest_keys", table)
    try:
        by_hash = con.sql("SELECT id_hash, row FROM ingest_keys ORDER BY id_hash, row").fetchnumpy()
        hashes_sorted = np.asarray(by_hash["id_hash"], dtype=np.uint64)
        rows_by_hash = np.asarray(by_hash["row"], dtype=np.int64)
        keep = _first_of_each_id(hashes_sorted, rows_by_hash, folder)
        if keep.all():
            sql = "SELECT row FROM ingest_keys ORDER BY similarity DESC NULLS LAST, row"
        else:
            con.unregister("ingest_keys")
            table = table.append_column("keep", pa.array(keep))
            con.register("ingest_keys", table)
            sql = "SELECT row FROM ingest_keys WHERE keep ORDER BY similarity DESC NULLS LAST, row"
        positions = np.asarray(con.sql(sql).fetchnumpy()["row"], dtype=np.int64)
    finally:
        con.unregister("ingest_keys")
    return _Order(positions, keep, hashes_sorted, rows_by_hash)


def _first_of_each_id(
    hashes_sorted: np.ndarray, rows_by_hash: np.ndarray, folder: Path
) -> np.ndarray:
    """Which source rows to keep: the first of each sample_id.

    Equal hashes are only candidates: their sample_ids are read and compared (a 64-bit
    collision of two different ids keeps both)."""
    keep = np.ones(len(hashes_sorted), dtype=bool)
    repeated = np.flatnonzero(hashes_sorted[1:] == hashes_sorted[:-1]) + 1
    if not len(repeated):
        return keep
    candidates = np.unique(np.concatenate([rows_by_hash[repeated], rows_by_hash[repeated - 1]]))
    ids = read_rows_file(folder).column("sample_id").take(pa.array(candidates)).to_pylist()
    seen: set[str] = set()
    for row, sample_id in zip(candidates.tolist(), ids, strict=True):  # ascending source row
        if sample_id in seen:
            keep[row] = False
        seen.add(sample_id)
    return keep


# Written by DuckDB without its dictionary/FSST string compression: it cost ~2.5 s of the
# ~5.5 s write at 10M rows (mostly for the captions) and the strings it would shrink are read
# by scans that are as fast either way; the file is ~2x larger (~1 GB at 10M rows).
_CATALOG_COMPRESSION_OFF = "dict_fsst"
# Without that compression, a filter on the language compares strings: 35 -> 70 ms for a
# count at 10M rows. As an ENUM of the dataset's languages it compares small integers (33 ms)
# and groups twice as fast. A dataset with more distinct values than this (a language
# column holding something else) keeps plain text.
_MAX_LANGUAGES = 4096
_LANGUAGE_TYPE = "language_values"
# Each top table holds this fraction of the rows (2 %), at least TOP_MIN_ROWS: deep enough
# for offset 5,000 under filters that keep one row in 25.
TOP_FRACTION = 50
TOP_MIN_ROWS = 20_000
# DuckDB's row group size: each Arrow chunk handed to it fills one group.
_CHUNK_ROWS = 122_880


def _write_records(
    con: duckdb.DuckDBPyConnection, folder: Path, order: np.ndarray, threads: int
) -> None:
    """``records`` (the catalog columns, in pos order) and ``records_sample``.

    The columns are gathered into pos order by Arrow (one column per thread; a take on one
    contiguous array) and written by DuckDB as they come: a write without ORDER BY keeps
    insertion order, so the rowid is the pos."""
    stored = [c for c in CATALOG_COLUMNS if c != "pos"]
    rows = read_rows_file(folder).select(stored)
    indices = pa.array(order)

    def gather(name: str) -> pa.ChunkedArray:
        # Straight from the memory map: combining the chunks first costs a copy (~2.5 s of
        # page faults at 10M rows) that a take across chunks does not need.
        return rows.column(name).take(indices)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        languages = pool.submit(lambda: pc.unique(rows.column("language")).drop_null())
        columns = dict(zip(stored, pool.map(gather, stored), strict=True))
    language = _language_type(con, sorted(languages.result().to_pylist()))
    # One chunk per column (what the takes give): the top tables take from it without the
    # concatenation a take across chunks costs (~1 s per table at 10M rows).
    whole = pa.table({"pos": pa.array(np.arange(len(order), dtype=np.int64)), **columns})
    sorted_rows = pa.Table.from_batches(whole.to_batches(max_chunksize=_CHUNK_ROWS))
    select = [
        f'CAST("{c}" AS {language}) AS "{c}"' if c == "language" else f'"{c}"'
        for c in CATALOG_COLUMNS
    ]
    for score, (lo, hi) in SCORE_DOMAINS.items():
        scaled = f"floor((CAST({score} AS DOUBLE) - {lo!r}) / {hi - lo!r} * {HISTOGRAM_BINS})"
        # CASE, not just least/greatest: DuckDB's greatest(NULL, 0) is 0, not NULL.
        select.append(
            f"CASE WHEN {score} IS NOT NULL THEN CAST(least(greatest({scaled}, 0), "
            f'{HISTOGRAM_BINS - 1}) AS UTINYINT) END AS "{bin_column(score)}"'
        )
    con.execute("SET disabled_compression_methods = ?", [_CATALOG_COMPRESSION_OFF])
    try:
        _create_from_arrow(con, "records", select, sorted_rows)
        for score in TOP_SORTS:
            top = _top_positions(columns[score])
            _create_from_arrow(con, top_table(score), select, whole.take(pa.array(top)))
    finally:
        con.execute("RESET disabled_compression_methods")
    # A deterministic 1% of the rows: large datasets' facets and histograms are estimated
    # from it (app.catalog.queries.Catalog._summary_table).
    con.execute(
        "CREATE TABLE records_sample AS SELECT * FROM records "
        f"WHERE hash(pos) % {SAMPLE_RATE} = 0 ORDER BY pos"
    )
    con.execute("CHECKPOINT")


def _create_from_arrow(
    con: duckdb.DuckDBPyConnection, table: str, select: list[str], rows: pa.Table
) -> None:
    """A table of ``rows`` in their order (the write keeps insertion order)."""
    con.register("arrow_rows", rows)
    try:
        con.execute(f"CREATE TABLE {table} AS SELECT {', '.join(select)} FROM arrow_rows")  # noqa: S608
    finally:
        con.unregister("arrow_rows")


def _top_positions(scores: pa.ChunkedArray) -> np.ndarray:
    """The positions of the top rows by a score (highest first, ties by position, absent
    scores never), as many as the top table holds."""
    values = pc.fill_null(scores, -np.inf).to_numpy()  # NaN never reaches here: ingest nulls it
    rows = len(values)
    present = int(np.count_nonzero(values > -np.inf))
    count = min(present, max(TOP_MIN_ROWS, rows // TOP_FRACTION))
    if count == 0:
        return np.empty(0, dtype=np.int64)
    boundary = np.partition(values, rows - count)[rows - count]
    candidates = np.flatnonzero(values >= boundary)
    ranked = candidates[np.lexsort((candidates, -values[candidates]))]
    return ranked[:count].astype(np.int64)


def _language_type(con: duckdb.DuckDBPyConnection, languages: list[str]) -> str:
    """The SQL type of the language column: an ENUM of ``languages`` (in sort order, so
    ORDER BY gives what it gives for text), or VARCHAR when there are none or too many."""
    if not languages or len(languages) > _MAX_LANGUAGES:
        return "VARCHAR"
    con.execute(f"CREATE TYPE {_LANGUAGE_TYPE} AS ENUM (SELECT unnest(?::VARCHAR[]))", [languages])
    return _LANGUAGE_TYPE


def _score_stats(con: duckdb.DuckDBPyConnection) -> dict[str, ScoreStats]:
    parts = [f"min({c}), max({c}), avg({c}), count({c})" for c in SCORE_COLUMNS]
    row = con.execute(f"SELECT {', '.join(parts)} FROM records").fetchall()[0]  # noqa: S608
    stats: dict[str, ScoreStats] = {}
    for i, column in enumerate(SCORE_COLUMNS):
        low, high, mean, count = row[4 * i : 4 * i + 4]
        stats[column] = ScoreStats(
            min=None if low is None else float(low),
            max=None if high is None else float(high),
            mean=None if mean is None else float(mean),
            non_null=int(count),
        )
    return stats


@contextmanager
def _step(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(time.perf_counter() - started, 3)
