"""The query time limit: one watchdog thread stops a query that outlives it, and only that one."""

from __future__ import annotations

import threading
import time

import pytest

from app.catalog.connection import CatalogConnection, QueryTimeout, QueryWatchdog

SLOW = "SELECT count(*) FROM range(1000000000000) a"


def test_a_query_past_its_limit_is_stopped():
    connection = CatalogConnection(timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        connection.query(SLOW)
    assert time.monotonic() - started < 10
    # The cursor is usable again, and a quick query is left alone.
    assert connection.query("SELECT 42")[1] == [(42,)]


def test_queries_in_several_threads_each_keep_their_own_limit():
    connection = CatalogConnection(timeout_s=0.5)
    outcomes: dict[str, object] = {}

    def run(name: str, sql: str, timeout_s: float | None) -> None:
        try:
            outcomes[name] = connection.query(sql, timeout_s=timeout_s)[1]
        except QueryTimeout as error:
            outcomes[name] = error

    threads = [
        threading.Thread(target=run, args=("slow", SLOW, None)),
        threading.Thread(target=run, args=("quick", "SELECT 1", 30.0)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert isinstance(outcomes["slow"], QueryTimeout)
    assert outcomes["quick"] == [(1,)]


def test_the_watchdog_calls_only_what_is_still_running():
    watchdog = QueryWatchdog()
    called: list[str] = []
    finished = watchdog.watch(0.05, lambda: called.append("finished"))
    watchdog.done(finished)
    watchdog.watch(0.1, lambda: called.append("late"))
    watchdog.watch(30, lambda: called.append("far"))
    # An earlier deadline registered after a far one still wakes the thread in time.
    watchdog.watch(0.02, lambda: called.append("early"))
    time.sleep(0.5)
    assert called == ["early", "late"]
