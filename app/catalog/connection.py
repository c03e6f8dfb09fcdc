"""One DuckDB instance for the whole server, with every dataset attached read-only.

The instance itself is in memory; each dataset's ``catalog.duckdb`` is attached READ_ONLY
under the alias ``ds_<name>``. The only writable table is the in-memory ``hidden`` table,
which the safety layer fills with the positions that must never be shown; attached databases
and that table are shared by every cursor of the instance.

Each thread gets its own cursor (DuckDB connections are not thread-safe), and each query runs
under a time limit: a timer interrupts the cursor when it expires.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from app.catalog.layout import check_dataset_name


class QueryTimeout(Exception):
    """A catalog query ran past the configured time limit."""


class CatalogConnection:
    def __init__(self, *, timeout_s: float, threads: int | None = None) -> None:
        config: dict[str, Any] = {"enable_external_access": True}
        if threads:
            config["threads"] = threads
        self._db = duckdb.connect(":memory:", config=config)
        self._db.execute("CREATE TABLE hidden (dataset VARCHAR, pos BIGINT)")
        self._db.execute("CREATE TABLE duplicates (dataset VARCHAR, pos BIGINT)")
        self._local = threading.local()
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._cursors: list[duckdb.DuckDBPyConnection] = []

    def attach(self, name: str, path: Path) -> str:
        """Attach a dataset's catalog read-only; returns the quoted schema alias."""
        alias = alias_for(name)
        with self._lock:
            self._db.execute(f"ATTACH ? AS {alias} (READ_ONLY)", [str(path)])
        return alias

    def missing_bytes(self, name: str, path: Path) -> int:
        """How many bytes an attached catalog file lacks against its own header: 0 when it
        is whole. DuckDB attaches a file cut short (a copy or a download that stopped) and
        fails only when a query reaches a missing block; this finds it at start-up, for the
        cost of one metadata read (real catalogs are exactly header + blocks long)."""
        _, rows = self.query(
            "SELECT block_size, total_blocks FROM pragma_database_size() WHERE database_name = ?",
            [alias_for(name).strip('"')],
        )
        if not rows:
            return 0
        block_size, total_blocks = rows[0]
        expected = DUCKDB_HEADER_BYTES + int(block_size) * int(total_blocks)
        return max(0, expected - path.stat().st_size)

    def detach(self, name: str) -> None:
        with self._lock:
            self._db.execute(f"DETACH DATABASE IF EXISTS {alias_for(name)}")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._db.cursor()
            self._local.cursor = cursor
            with self._lock:
                self._cursors.append(cursor)
        return cursor

    def query(
        self,
        sql: str,
        params: Sequence[Any] = (),
        *,
        timeout_s: float | None = None,
        guarded: bool = True,
    ) -> tuple[list[str], list[tuple]]:
        """Run ``sql`` with bound ``params``; returns column names and all rows.

        Every caller's SQL carries its own LIMIT; the timer guards the rest. Index lookups of
        a bounded list of keys pass ``guarded=False``: starting the timer thread costs ~1 ms,
        a large share of a lookup that takes a few.
        """
        cursor = self.cursor()
        limit = timeout_s or self._timeout_s
        timer = threading.Timer(limit, cursor.interrupt)
        if guarded:
            timer.start()
        try:
            result = cursor.execute(sql, list(params))
            names = [d[0] for d in result.description] if result.description else []
            rows = result.fetchall()
        except duckdb.InterruptException as error:
            raise QueryTimeout(f"the query took longer than {limit:g} s and was stopped") from error
        finally:
            timer.cancel()
        return names, rows

    def query_dicts(
        self, sql: str, params: Sequence[Any] = (), *, guarded: bool = True
    ) -> list[dict[str, Any]]:
        names, rows = self.query(sql, params, guarded=guarded)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def execute_writes(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Run statements in one transaction; writes touch only the in-memory tables."""
        with self._lock:
            self._db.execute("BEGIN TRANSACTION")
            try:
                for sql, params in statements:
                    self._db.execute(sql, list(params))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
            self._db.close()


# DuckDB's file starts with its main header and two database headers, 4 KiB each.
DUCKDB_HEADER_BYTES = 3 * 4096


def alias_for(name: str) -> str:
    return '"ds_' + check_dataset_name(name) + '"'
