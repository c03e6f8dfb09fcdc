"""One DuckDB instance for the whole server, with every dataset attached read-only.

The instance itself is in memory; each dataset's ``catalog.duckdb`` is attached READ_ONLY
under the alias ``ds_<name>``. The only writable table is the in-memory ``hidden`` table,
which the safety layer fills with the positions that must never be shown; attached databases
and that table are shared by every cursor of the instance.

Each thread gets its own cursor (DuckDB connections are not thread-safe), and each query runs
under a time limit: one watchdog thread interrupts a cursor whose query outlives it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from app.catalog.layout import check_dataset_name


class QueryTimeout(Exception):
    """A catalog query ran past the configured time limit."""


class QueryWatchdog:
    """One thread that interrupts queries past their deadline.

    A ``threading.Timer`` per query started a thread for every query (~1 ms, more under load,
    where a server runs hundreds of queries a second); this thread sleeps until the earliest
    deadline of the queries running now and is woken only when a query with an earlier one
    starts."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._running: dict[int, tuple[float, Callable[[], None]]] = {}
        self._tokens = itertools.count()
        self._sleeps_until = float("inf")
        self._thread: threading.Thread | None = None

    def watch(self, seconds: float, interrupt: Callable[[], None]) -> int:
        """Call ``interrupt`` in ``seconds`` unless ``done`` is called first."""
        deadline = time.monotonic() + seconds
        with self._wake:
            token = next(self._tokens)
            self._running[token] = (deadline, interrupt)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="loupe-query-watchdog", daemon=True
                )
                self._thread.start()
            elif deadline < self._sleeps_until:
                self._wake.notify()
            return token

    def done(self, token: int) -> None:
        with self._wake:
            self._running.pop(token, None)

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                for token, (deadline, interrupt) in list(self._running.items()):
                    if deadline <= now:
                        del self._running[token]
                        interrupt()
                self._sleeps_until = min(
                    (deadline for deadline, _ in self._running.values()), default=float("inf")
                )
                wait = self._sleeps_until - now
                self._wake.wait(None if wait == float("inf") else max(wait, 0.0))


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
        self._watchdog = QueryWatchdog()

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
    ) -> tuple[list[str], list[tuple]]:
        """Run ``sql`` with bound ``params``; returns column names and all rows.

        Every caller's SQL carries its own LIMIT; the watchdog guards the rest.
        """
        cursor = self.cursor()
        limit = timeout_s or self._timeout_s
        token = self._watchdog.watch(limit, cursor.interrupt)
        try:
            result = cursor.execute(sql, list(params))
            names = [d[0] for d in result.description] if result.description else []
            rows = result.fetchall()
        except duckdb.InterruptException as error:
            raise QueryTimeout(f"the query took longer than {limit:g} s and was stopped") from error
        finally:
            self._watchdog.done(token)
        return names, rows

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        names, rows = self.query(sql, params)
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
