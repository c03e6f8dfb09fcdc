"""Every read of a dataset's catalog: pages, counts, facets, histograms, rows by id.

The records table is written sorted by similarity (``pos`` order). A page in that order is a
plain ``LIMIT`` without ``ORDER BY``, which DuckDB stops early, and the next page continues
from the last ``pos`` seen (keyset), so deep pages cost what the first one does. Other orders
use ORDER BY with a bounded OFFSET. SQL only ever finds positions; the rows themselves come
from the dataset's row store (``app.catalog.rowstore``), which also answers lookups by id.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from app.catalog.connection import CatalogConnection, alias_for
from app.catalog.filters import Condition, build_where
from app.catalog.hidden import HiddenPositions
from app.catalog.layout import DatasetPaths
from app.catalog.rowstore import RowStore
from app.catalog.schema import (
    COLUMNS,
    FACET_COLUMNS,
    HISTOGRAM_BINS,
    SAMPLE_RATE,
    SCORE_DOMAINS,
    TOP_SORTS,
    bin_column,
    quote_identifier,
    top_table,
)

SortName = Literal["similarity", "aesthetic", "punsafe", "pwatermark", "size", "random"]
SORTS: tuple[str, ...] = ("similarity", "aesthetic", "punsafe", "pwatermark", "size", "random")

# ORDER BY text per sort name; the names come from this table only, never from a request.
_ORDER_BY: dict[str, str] = {
    "aesthetic": '"aesthetic" DESC NULLS LAST, pos',
    "punsafe": '"punsafe" DESC NULLS LAST, pos',
    "pwatermark": '"pwatermark" DESC NULLS LAST, pos',
    "size": '("width"::BIGINT * "height") DESC NULLS LAST, pos',
    "random": "hash(pos, ?::BIGINT), pos",
}

# Facets and histograms of datasets at least this large are estimated from the 1% sample
# table that ingest writes (a full scan of 10M rows for each costs 80-200 ms on 2 cores).
SAMPLE_FROM_ROWS = 1_000_000

# A page sorted by a score narrows to the top bins the sample says hold this many times the
# rows the page needs (the sample's estimate errs; a short result falls back to a full sort).
TOP_BINS_MARGIN = 3
# The columns blocklists and id lists match records on.
MATCH_COLUMNS: tuple[str, ...] = ("sample_id", "url_sha256", "md5", "sha256")

CARD_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    has_more: bool
    offset: int = 0
    next_after: int | None = None


@dataclass
class Histogram:
    score: str
    edges: list[float]
    counts: list[int]
    nulls: int = 0
    approximate: bool = False


@dataclass
class FacetValue:
    value: str | None
    count: int
    approximate: bool = False  # estimated from the 1% sample table (large datasets)


@dataclass
class Catalog:
    """Read-only queries over every attached dataset."""

    connection: CatalogConnection
    # Datasets large enough to answer facets and histograms from their 1% sample table.
    sampled: set[str] = field(default_factory=set)
    # Datasets with a 1 % sample table, and the row counts of those datasets.
    sample_tables: set[str] = field(default_factory=set)
    sizes: dict[str, int] = field(default_factory=dict)
    # The scores each dataset has a top table for (``schema.top_table``).
    top_sorted: dict[str, set[str]] = field(default_factory=dict)
    # Whole rows, by position or id.
    row_stores: dict[str, RowStore] = field(default_factory=dict)
    # The positions no read may return; every read of a dataset consults it and refuses
    # while the dataset's set is unknown (see app.catalog.hidden).
    hidden: HiddenPositions = field(init=False)

    def __post_init__(self) -> None:
        self.hidden = HiddenPositions(sync=self._sync_hidden_table)

    def _sync_hidden_table(self, name: str, positions: np.ndarray) -> None:
        """SQL's copy of a hidden set, replaced in one transaction."""
        statements: list[tuple[str, list[Any]]] = [("DELETE FROM hidden WHERE dataset = ?", [name])]
        if len(positions):
            statements.append(
                ("INSERT INTO hidden SELECT ?, unnest(?::BIGINT[])", [name, positions.tolist()])
            )
        self.connection.execute_writes(statements)

    # --- datasets -------------------------------------------------------------------------
    def attach(self, name: str, catalog_path: Path) -> None:
        row_folder = DatasetPaths(catalog_path.parent).rows
        if not RowStore.exists(row_folder):
            raise ValueError(
                f"{catalog_path.parent}: no current row store; the dataset was built by an "
                "older Loupe, ingest it again"
            )
        self.connection.attach(name, catalog_path)
        self.row_stores[name] = RowStore(row_folder)
        _, tables = self.connection.query(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", ["ds_" + name]
        )
        present = {row[0] for row in tables}
        if "records_sample" in present:
            self.sample_tables.add(name)
            _, total = self.connection.query(f"SELECT count(*) FROM {_table(name)}")
            self.sizes[name] = int(total[0][0])
            if total[0][0] >= SAMPLE_FROM_ROWS:
                self.sampled.add(name)
        self.top_sorted[name] = {s for s in TOP_SORTS if top_table(s) in present}

    def set_duplicates(self, name: str, positions: Sequence[int]) -> None:
        """The near-duplicates "hide duplicates" leaves out (all but one of each cluster)."""
        statements: list[tuple[str, list[Any]]] = [
            ("DELETE FROM duplicates WHERE dataset = ?", [name])
        ]
        if len(positions):
            statements.append(
                ("INSERT INTO duplicates SELECT ?, unnest(?::BIGINT[])", [name, list(positions)])
            )
        self.connection.execute_writes(statements)

    def positions_matching(self, name: str, column: str, values: Sequence[str]) -> list[int]:
        """Positions whose ``column`` (sample_id or a hash column) is one of ``values``."""
        if column not in MATCH_COLUMNS:
            raise ValueError(f"cannot match records on {column!r}")
        return sorted(self.row_stores[name].positions_where(column, values))

    def sample_ids_matching(self, name: str, column: str, values: Sequence[str]) -> list[str]:
        """Sample ids whose ``column`` is one of ``values``, hidden records included: the
        safety layer matches blocklists with it, and a record already hidden for one reason
        must still count as a hit of the next list."""
        positions = self.positions_matching(name, column, values)
        rows = self.row_stores[name].rows(positions, ["sample_id"])
        return [str(rows[p]["sample_id"]) for p in positions if rows[p]["sample_id"] is not None]

    # --- pages --------------------------------------------------------------------------------
    def page(
        self,
        name: str,
        conditions: Sequence[Condition],
        *,
        sort: str = "similarity",
        limit: int = 48,
        offset: int = 0,
        after: int | None = None,
        seed: int = 0,
        within: Sequence[int] | None = None,
    ) -> Page:
        """One page of records; ``within`` restricts to given positions (text/kNN hits).

        The positions come from DuckDB (in the catalog's own order a query that stops
        early), the rows from the row store.
        """
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r}")
        extra, extra_params = _within(within)
        if sort == "similarity" and after is not None:
            extra.append("pos > CAST(? AS BIGINT)")  # typed: row groups before it are skipped
            extra_params.append(after)
        # (Similarity is the catalog's own order: its pages never sort.)
        if sort in self.top_sorted.get(name, ()) and within is None:
            page = self._page_from_top_table(name, conditions, sort, limit, offset)
            if page is not None:
                return page
        if sort in SCORE_DOMAINS and sort in _ORDER_BY and within is None:
            narrowed = self._page_from_top_bins(name, conditions, sort, limit, offset)
            if narrowed is not None:
                return narrowed
        where, params = self._where(name, conditions, extra, extra_params)
        sql = f"SELECT pos FROM {_table(name)} {where}"
        if sort != "similarity":
            sql += f" ORDER BY {_ORDER_BY[sort]}"
            if sort == "random":
                params.append(seed)
        page = self._page(name, self._positions(sql, params, limit, offset), limit, offset)
        if sort == "similarity" and page.has_more and page.rows:
            page.next_after = page.rows[-1]["pos"]
        return page

    def _page_from_top_table(
        self,
        name: str,
        conditions: Sequence[Condition],
        sort: str,
        limit: int,
        offset: int,
    ) -> Page | None:
        """A page sorted by a score, read from the copy of the top rows stored in that order:
        no sort, and the scan stops at the page (0.6 ms instead of 41 at offset 5,000 of
        10M). When the copy holds too few matches for the page, None: the rows the page needs
        may lie beyond it."""
        where, params = self._where(name, conditions, [], [])
        sql = f"SELECT pos FROM {alias_for(name)}.{top_table(sort)} {where}"
        return self._whole_page(name, self._positions(sql, params, limit, offset), limit, offset)

    def _page_from_top_bins(
        self,
        name: str,
        conditions: Sequence[Condition],
        sort: str,
        limit: int,
        offset: int,
    ) -> Page | None:
        """A page sorted by a score of a large dataset, sorted among its top bins only.

        DuckDB's top-N over millions of matching rows costs ~230 ms at offset 5,000 of 10M.
        The 1 % sample tells which of the precomputed bins (``<score>_bin``, monotonic in the
        score) hold enough matches for the page; restricted to them, the same query sorts a
        few thousand rows. If the restricted set turns out too small for the page (the
        sample misjudged, or the rows end), None: the caller sorts everything."""
        if name not in self.sampled:
            return None
        need = offset + limit + 1
        column = quote_identifier(bin_column(sort))
        where, params = self._where(name, conditions, [f"{column} IS NOT NULL"], [])
        _, counts = self.connection.query(
            f"SELECT {column}, count(*) FROM {alias_for(name)}.records_sample {where} GROUP BY 1",
            params,
        )
        estimated, floor = 0, None
        for bin_index, count in sorted(counts, reverse=True):
            estimated += int(count) * SAMPLE_RATE
            if estimated >= TOP_BINS_MARGIN * need:
                floor = int(bin_index)
                break
        if not floor:  # bin 0 (or no bin at all) means no narrowing
            return None
        where, params = self._where(name, conditions, [f"{column} >= ?"], [floor])
        sql = f"SELECT pos FROM {_table(name)} {where} ORDER BY {_ORDER_BY[sort]}"
        return self._whole_page(name, self._positions(sql, params, limit, offset), limit, offset)

    def _positions(self, sql: str, params: list[Any], limit: int, offset: int) -> list[int]:
        """Up to ``limit`` + 1 positions ``sql`` selects from ``offset`` on: one more than
        the page, to know whether there are more."""
        _, found = self.connection.query(f"{sql} LIMIT ? OFFSET ?", [*params, limit + 1, offset])
        return [row[0] for row in found]

    def _page(self, name: str, found: list[int], limit: int, offset: int) -> Page:
        rows = self.rows_by_positions(name, found[:limit])
        return Page(rows=rows, has_more=len(found) > limit, offset=offset)

    def _whole_page(self, name: str, found: list[int], limit: int, offset: int) -> Page | None:
        """The page of a shortcut, or None when it found no row past the page: it may have
        run out before the true page ends, so the next way answers (rows not fetched)."""
        return self._page(name, found, limit, offset) if len(found) > limit else None

    def count(
        self,
        name: str,
        conditions: Sequence[Condition],
        within: Sequence[int] | None = None,
        cap: int | None = None,
    ) -> int:
        """How many records pass; with ``cap``, counting stops at ``cap + 1``."""
        extra, extra_params = _within(within)
        where, params = self._where(name, conditions, extra, extra_params)
        if cap is None:
            sql = f"SELECT count(*) FROM {_table(name)} {where}"
        else:
            sql = f"SELECT count(*) FROM (SELECT 1 FROM {_table(name)} {where} LIMIT ?)"
            params.append(cap + 1)
        _, rows = self.connection.query(sql, params)
        return int(rows[0][0])

    def facet(
        self,
        name: str,
        column: str,
        conditions: Sequence[Condition],
        *,
        limit: int = 20,
        within: Sequence[int] | None = None,
    ) -> list[FacetValue]:
        if column not in FACET_COLUMNS:
            raise ValueError(f"no facet on {column!r}")
        col = quote_identifier(column)
        table, scale = self._summary_table(name, within)
        extra, extra_params = _within(within)
        where, params = self._where(name, conditions, extra, extra_params)
        _, rows = self.connection.query(
            f"SELECT {col} AS value, count(*) AS n FROM {table} {where} "
            "GROUP BY 1 ORDER BY n DESC, value NULLS LAST LIMIT ?",
            [*params, limit],
        )
        return [
            FacetValue(value=row[0], count=int(row[1]) * scale, approximate=scale > 1)
            for row in rows
        ]

    def histograms(
        self,
        name: str,
        conditions: Sequence[Condition],
        within: Sequence[int] | None = None,
    ) -> dict[str, Histogram]:
        """Counts in HISTOGRAM_BINS equal bins over each score's fixed domain, all scores in
        one scan (the precomputed ``<score>_bin`` columns make each a small aggregate)."""
        scores = list(SCORE_DOMAINS)
        aggregates = ", ".join(
            f"histogram({quote_identifier(bin_column(score))}), "
            f"count(*) - count({quote_identifier(bin_column(score))})"
            for score in scores
        )
        table, scale = self._summary_table(name, within)
        extra, extra_params = _within(within)
        where, params = self._where(name, conditions, extra, extra_params)
        _, rows = self.connection.query(f"SELECT {aggregates} FROM {table} {where}", params)
        result: dict[str, Histogram] = {}
        for i, score in enumerate(scores):
            bins, nulls = rows[0][2 * i], rows[0][2 * i + 1]
            counts = [0] * HISTOGRAM_BINS
            for bin_index, n in (bins or {}).items():
                counts[int(bin_index)] += int(n) * scale
            result[score] = Histogram(
                score=score,
                edges=histogram_edges(score),
                counts=counts,
                nulls=int(nulls or 0) * scale,
                approximate=scale > 1,
            )
        return result

    # --- rows ---------------------------------------------------------------------------------
    def rows_by_ids(self, name: str, sample_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Full rows (extra columns too) for ``sample_ids``, in the order asked, hidden ones
        left out."""
        if not sample_ids:
            return []
        store = self.row_stores[name]
        positions = store.positions_of([str(s) for s in sample_ids])
        rows = self._visible_rows(name, list(positions.values()), None)
        return [rows[positions[str(s)]] for s in sample_ids if positions.get(str(s)) in rows]

    def rows_by_positions(
        self, name: str, positions: Sequence[int], columns: Sequence[str] | None = CARD_COLUMNS
    ) -> list[dict[str, Any]]:
        """Rows (card columns unless told) for ``positions``, in the order given, hidden ones
        left out."""
        wanted = [int(p) for p in positions]
        rows = self._visible_rows(name, wanted, columns)
        return [rows[p] for p in wanted if p in rows]

    def _visible_rows(
        self, name: str, positions: Sequence[int], columns: Sequence[str] | None
    ) -> dict[int, dict[str, Any]]:
        hidden = self.hidden.of(name)
        return self.row_stores[name].rows([p for p in positions if p not in hidden], columns)

    def record(self, name: str, sample_id: str) -> dict[str, Any] | None:
        rows = self.rows_by_ids(name, [sample_id])
        return rows[0] if rows else None

    def positions_passing(
        self, name: str, conditions: Sequence[Condition], positions: Sequence[int]
    ) -> set[int]:
        """Which of ``positions`` pass the filters (and are not hidden)."""
        if not len(positions):
            return set()
        where, params = self._where(
            name, conditions, ["pos IN (SELECT unnest(?::BIGINT[]))"], [[int(p) for p in positions]]
        )
        _, rows = self.connection.query(
            f"SELECT pos FROM {_table(name)} {where}",
            params,
        )
        return {row[0] for row in rows}

    def candidate_positions(
        self, name: str, conditions: Sequence[Condition], cap: int
    ) -> list[int] | None:
        """All positions passing the filters if there are at most ``cap``, else None."""
        where, params = self._where(name, conditions, [], [])
        _, rows = self.connection.query(
            f"SELECT pos FROM {_table(name)} {where} LIMIT ?",
            [*params, cap + 1],
        )
        if len(rows) > cap:
            return None
        return [row[0] for row in rows]

    def records_batch(self, name: str, positions: Sequence[int]) -> pa.RecordBatch:
        """Whole records at ``positions`` in the order given, hidden ones left out, as one
        Arrow batch (an export of a ranked answer: nearest neighbours)."""
        hidden = self.hidden.of(name)
        store = self.row_stores[name]
        return store.record_batch([int(p) for p in positions if int(p) not in hidden])

    # --- exports ------------------------------------------------------------------------------
    def export_batches(
        self,
        name: str,
        conditions: Sequence[Condition],
        *,
        within: Sequence[int] | None = None,
        batch_rows: int = 10_000,
        limit: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Every row passing the filters (hidden ones never), in ``pos`` order, as Arrow
        record batches of at most ``batch_rows`` (at least one batch, maybe empty): a download
        of millions of rows streams in bounded memory. DuckDB streams the positions, the row
        store gives their rows.

        The generator holds its own DuckDB cursor (a streaming download is resumed by
        whichever worker thread is free, and the per-thread cursors are shared), closed when
        the generator finishes or is closed. No time limit: the client reads at its own pace.
        """
        store = self.row_stores[name]
        extra, extra_params = _within(within)
        where, params = self._where(name, conditions, extra, extra_params)
        # No ORDER BY: the table is stored in pos order and DuckDB keeps insertion order, so
        # this streams without a sort of the whole result.
        sql = f"SELECT pos FROM {_table(name)} {where}"
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, int(limit)]
        cursor = self.connection.cursor().cursor()  # a new connection to the same database
        try:
            reader = cursor.sql(sql, params=params).to_arrow_reader(batch_rows)
            empty = True
            for positions in reader:
                if positions.num_rows:
                    empty = False
                    yield store.record_batch(positions.column(0).to_numpy())
            if empty:  # writers still need the columns: a CSV header, a parquet schema
                yield store.empty_batch()
        finally:
            cursor.close()

    # --- helpers ------------------------------------------------------------------------------
    def _summary_table(self, name: str, within: Sequence[int] | None) -> tuple[str, int]:
        """Where facets and histograms count: the sample of a large dataset (counts scaled up),
        else the records themselves. A restriction to given records is always counted exactly.
        """
        if name in self.sampled and within is None:
            return f"{alias_for(name)}.records_sample", SAMPLE_RATE
        return _table(name), 1

    def _where(
        self,
        name: str,
        conditions: Sequence[Condition],
        extra: Sequence[str],
        extra_params: Sequence[Any],
    ) -> tuple[str, list[Any]]:
        where, params = build_where(conditions)
        clauses = [where[len("WHERE ") :]] if where else []
        clauses.extend(extra)
        params = [*params, *extra_params]
        if len(self.hidden.of(name)):
            clauses.append("pos NOT IN (SELECT pos FROM hidden WHERE dataset = ?)")
            params.append(name)
        if not clauses:
            return "", []
        return "WHERE " + " AND ".join(clauses), params


def histogram_edges(score: str) -> list[float]:
    low, high = SCORE_DOMAINS[score]
    step = (high - low) / HISTOGRAM_BINS
    return [round(low + i * step, 6) for i in range(HISTOGRAM_BINS + 1)]


def _table(name: str) -> str:
    return f"{alias_for(name)}.records"


def _within(within: Sequence[int] | None) -> tuple[list[str], list[Any]]:
    if within is None:
        return [], []
    return ["pos IN (SELECT unnest(?::BIGINT[]))"], [[int(p) for p in within]]
