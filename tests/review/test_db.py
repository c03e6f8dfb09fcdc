"""The review database file: WAL + synchronous=FULL, migrations, append-only tables, threads."""

from __future__ import annotations

import sqlite3
import stat
import threading

import pytest

from app.review.db import MIGRATIONS, Database
from app.review.flags import RecordRef
from app.review.store import ReviewStore, review_db_path


def test_created_on_first_open_in_wal_with_full_sync(store: ReviewStore, review_settings) -> None:
    path = review_db_path(review_settings.state_dir)
    assert path.is_file() and path.name == "review.sqlite3"
    conn = store.db.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    # Password hashes and reporting URLs: readable by the owner only, WAL file included.
    for name in ("review.sqlite3", "review.sqlite3-wal"):
        assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600


def test_migrating_twice_is_harmless(store: ReviewStore) -> None:
    again = Database.open(store.db.path)
    try:
        assert again.migrate() == len(MIGRATIONS)
        assert again.hidden_version() == 0
    finally:
        again.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit SET actor = 'mallory'",
        "DELETE FROM audit",
        "DELETE FROM flags",
        "DELETE FROM users",
    ],
)
def test_history_cannot_be_rewritten(store: ReviewStore, people, statement: str) -> None:
    store.flags.flag(people["alice"], "tiny", RecordRef("r1"), "other")
    with pytest.raises(sqlite3.IntegrityError):
        with store.db.write() as conn:
            conn.execute(statement)
    assert store.audit.count() == 5  # four accounts and one flag, all still there


def test_failed_transaction_leaves_nothing(store: ReviewStore, people) -> None:
    before = store.audit.count()
    with pytest.raises(RuntimeError):
        with store.db.write() as conn:
            conn.execute(
                "INSERT INTO flags (dataset, sample_id, category, flagged_by, flagged_at) "
                "VALUES ('tiny', 'x', 'other', 'alice', '2026')"
            )
            raise RuntimeError("boom")
    assert store.flags.count() == 0
    assert store.audit.count() == before


def test_threads_write_concurrently(store: ReviewStore, people) -> None:
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(15):
                reviewer = people["alice"] if worker % 2 else people["bob"]
                store.flags.flag(reviewer, "tiny", RecordRef(f"t{worker}-{i}"), "other")
        except BaseException as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert store.flags.count() == 60
    assert len(store.audit.entries(action="flag.create", limit=1000)) == 60


def test_connections_of_ended_threads_are_closed(store: ReviewStore) -> None:
    for _ in range(5):
        thread = threading.Thread(target=lambda: store.flags.count())
        thread.start()
        thread.join()
    store.flags.count()
    assert store.db.open_connections() <= 2  # this thread's, and at most the last worker's


def test_closed_database_refuses_use(store: ReviewStore) -> None:
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.db.connection()


def test_processes_opening_a_fresh_database_at_once_all_start(tmp_path):
    """Workers of `loupe serve` start together on a fresh state folder: none may fail its
    start-up with "database is locked" (a journal-mode switch does not wait by itself)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    for attempt in range(4):
        path = tmp_path / f"try-{attempt}" / "review.sqlite3"
        barrier = context.Barrier(4)
        results = context.Queue()
        workers = [
            context.Process(target=_open_together, args=(path, barrier, results)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert outcomes == ["ok"] * 4, outcomes


def _open_together(path, barrier, results):
    from app.review.db import Database

    barrier.wait(timeout=60)  # every process imported: now all open at the same moment
    try:
        Database.open(path).close()
        results.put("ok")
    except Exception as error:  # reported to the test, which shows it
        results.put(repr(error))
