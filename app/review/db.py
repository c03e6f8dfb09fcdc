"""The review database: one SQLite file in WAL mode, the only writable store in Loupe.

Why SQLite (and not a DuckDB file): review work is many tiny transactions from concurrent
requests, each of which must be on disk before the reviewer sees "saved". SQLite's WAL mode lets
readers run while one writer commits, ``synchronous=FULL`` fsyncs the log on every commit (so an
acknowledged flag survives ``kill -9`` and even a power cut), and ``BEGIN IMMEDIATE`` serialises
writers from several processes (the server and the ``loupe`` CLI) without lost updates. DuckDB is
built for the opposite shape (big analytic reads, one writing process).

Connections are per thread (``threading.local``): sqlite3 connections must not be shared
between threads mid-transaction, and FastAPI runs blocking calls on a thread pool.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

DB_FILE_NAME = "review.sqlite3"

# The flag categories and statuses: the database's CHECK constraints, the routes' parameters
# and the templates' choices all come from these two.
Category = Literal[
    "suspected_csam",
    "sexual",
    "violence",
    "personal_data",
    "copyright_watermark",
    "hateful",
    "other",
]
FlagStatus = Literal["open", "confirmed", "dismissed"]
CATEGORIES: tuple[str, ...] = get_args(Category)
STATUSES: tuple[str, ...] = get_args(FlagStatus)
ROLES: tuple[str, ...] = ("viewer", "reviewer", "admin")
# Why a record is quarantined: near a confirmed suspected-CSAM record in image-embedding space,
# or within PDQ's confident distance of its perceptual hash.
QuarantineReason = Literal["knn", "pdq"]
QUARANTINE_REASONS: tuple[str, ...] = get_args(QuarantineReason)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _append_only(table: str) -> tuple[str, ...]:
    return (
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} rows are never deleted'); END",
    )


# Each migration is a list of single statements (executescript would COMMIT mid-transaction).
# Append new migrations at the end; never edit one that has shipped.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        )""",
        "INSERT INTO meta (key, value) VALUES ('hidden_version', 0)",
        f"""CREATE TABLE users (
            id            INTEGER PRIMARY KEY,
            name          TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role          TEXT NOT NULL CHECK (role IN {_in(ROLES)}),
            password_hash TEXT NOT NULL,
            disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
            created_at    TEXT NOT NULL
        )""",
        *_append_only("users"),
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id    INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked_at TEXT,
            address    TEXT
        )""",
        "CREATE INDEX sessions_user ON sessions (user_id)",
        f"""CREATE TABLE flags (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset       TEXT NOT NULL,
            sample_id     TEXT NOT NULL,
            url           TEXT,
            url_sha256    TEXT,
            category      TEXT NOT NULL CHECK (category IN {_in(CATEGORIES)}),
            note          TEXT NOT NULL DEFAULT '',
            status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN {_in(STATUSES)}),
            flagged_by    TEXT NOT NULL,
            flagged_at    TEXT NOT NULL,
            decided_by    TEXT,
            decided_at    TEXT,
            decision_note TEXT,
            batch         TEXT
        )""",
        *_append_only("flags"),
        # At most one live (open or confirmed) flag per record and category: flagging again
        # returns the existing flag, which also makes client retries after a timeout harmless.
        """CREATE UNIQUE INDEX flags_live ON flags (dataset, sample_id, category)
           WHERE status IN ('open', 'confirmed')""",
        "CREATE INDEX flags_queue ON flags (dataset, status, category, id)",
        "CREATE INDEX flags_record ON flags (dataset, sample_id)",
        "CREATE INDEX flags_flagged_at ON flags (flagged_at)",
        """CREATE TABLE audit (
            id       INTEGER PRIMARY KEY AUTOINCREMENT,
            at       TEXT NOT NULL,
            actor    TEXT NOT NULL,
            action   TEXT NOT NULL,
            target   TEXT NOT NULL,
            dataset  TEXT,
            previous TEXT,
            new      TEXT
        )""",
        # The audit log is append-only at the database level, not just by convention.
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE INDEX audit_target ON audit (target, id)",
        """CREATE TABLE blocklists (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            name           TEXT NOT NULL,
            source         TEXT NOT NULL,
            dataset        TEXT,
            kind           TEXT NOT NULL,
            entries        INTEGER NOT NULL,
            content_sha256 TEXT NOT NULL,
            imported_by    TEXT NOT NULL,
            imported_at    TEXT NOT NULL
        )""",
        *_append_only("blocklists"),
        """CREATE TABLE blocklist_entries (
            list_id INTEGER NOT NULL REFERENCES blocklists(id),
            value   TEXT NOT NULL,
            PRIMARY KEY (list_id, value)
        ) WITHOUT ROWID""",
        # Which lists have been matched against which dataset's catalog, and at what build.
        """CREATE TABLE blocklist_resolutions (
            list_id         INTEGER NOT NULL REFERENCES blocklists(id),
            dataset         TEXT NOT NULL,
            catalog_version TEXT NOT NULL,
            resolved_at     TEXT NOT NULL,
            hits            INTEGER NOT NULL,
            PRIMARY KEY (list_id, dataset)
        )""",
        """CREATE TABLE blocklist_hits (
            dataset   TEXT NOT NULL,
            sample_id TEXT NOT NULL,
            list_id   INTEGER NOT NULL REFERENCES blocklists(id),
            PRIMARY KEY (dataset, sample_id, list_id)
        ) WITHOUT ROWID""",
    ),
    # 2: perceptual-hash blocklists and the quarantine around confirmed suspected-CSAM flags.
    # Only additions: databases in users' state folders are brought up to date in place.
    (
        # A PDQ list matches within this many bits (NULL for every other kind).
        "ALTER TABLE blocklists ADD COLUMN max_distance INTEGER",
        # Records hidden because they look like a confirmed suspected-CSAM record: its image
        # embedding neighbours ('knn') or perceptual-hash matches ('pdq'). A row is never
        # deleted; an admin's release fills in the released_* columns.
        f"""CREATE TABLE IF NOT EXISTS quarantine (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset        TEXT NOT NULL,
            sample_id      TEXT NOT NULL,
            url_sha256     TEXT,
            reason         TEXT NOT NULL CHECK (reason IN {_in(QUARANTINE_REASONS)}),
            similarity     REAL,
            distance       INTEGER,
            source_flag    INTEGER NOT NULL REFERENCES flags(id),
            created_at     TEXT NOT NULL,
            released_at    TEXT,
            released_by    TEXT,
            release_reason TEXT
        )""",
        *_append_only("quarantine"),
        # One row per record and confirmed flag, released or not: confirming the same flag
        # again (after a re-open) does not bring back what an admin released.
        """CREATE UNIQUE INDEX IF NOT EXISTS quarantine_once
           ON quarantine (dataset, sample_id, source_flag)""",
        "CREATE INDEX IF NOT EXISTS quarantine_live ON quarantine (dataset, released_at)",
        # Which confirmed flags have had their neighbourhood searched, with what: a flag
        # confirmed while the process died before the search is found here and searched later.
        """CREATE TABLE IF NOT EXISTS quarantine_runs (
            flag_id    INTEGER PRIMARY KEY REFERENCES flags(id),
            dataset    TEXT NOT NULL,
            ran_at     TEXT NOT NULL,
            actor      TEXT NOT NULL,
            methods    TEXT NOT NULL,
            found      INTEGER NOT NULL
        )""",
    ),
    # 3: failed sign-ins, so the login rate limit holds across restarts and processes; and an
    # index for the review queue's batches (a near-duplicate batch is listed as one item).
    (
        # key: "account:" or "address:" and an HMAC of the name or address (a mistyped name is
        # often password text, which must never be stored as typed); failed_at: Unix seconds.
        # Not append-only: rows older than the window are pruned as failures are written.
        """CREATE TABLE IF NOT EXISTS login_failures (
            key       TEXT NOT NULL,
            failed_at REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS login_failures_key ON login_failures (key, failed_at)",
        "CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures (failed_at)",
        "CREATE INDEX IF NOT EXISTS flags_batch ON flags (batch, id) WHERE batch IS NOT NULL",
    ),
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC text: sorts and compares correctly as a string in SQL."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class Database:
    """Thread-safe access to the review database file (one connection per thread)."""

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 15_000,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.clock = clock
        self._local = threading.local()
        # Every thread's connection, so close() can close them all and connections of threads
        # that have ended (thread pools retire idle workers) are closed instead of leaking.
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._all_lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, path: Path, **kwargs: object) -> Database:
        """Open (creating the file and folder if needed) and bring the schema up to date."""
        db = cls(path, **kwargs)  # type: ignore[arg-type]
        db.migrate()
        return db

    def now(self) -> str:
        return iso(self.clock())

    # --- connections -----------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the review database is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._local.depth = 0
            with self._all_lock:
                ended = [(t, c) for t, c in self._all if not t.is_alive()]
                self._all = [(t, c) for t, c in self._all if t.is_alive()]
                self._all.append((threading.current_thread(), conn))
            for _, old in ended:
                old.close()
        return conn

    def open_connections(self) -> int:
        with self._all_lock:
            return len(self._all)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            # Password hashes and reporting URLs live here: owner-only from the first byte.
            # SQLite gives the -wal and -shm files the same mode as the database file.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (BEGIN IMMEDIATE for writes).
        # check_same_thread=False only so that close() may close every thread's connection.
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self.busy_timeout_ms / 1000,
        )
        conn.row_factory = sqlite3.Row
        mode = self._switch_to_wal(conn)
        if str(mode).lower() != "wal":
            conn.close()
            raise RuntimeError(
                f"{self.path}: SQLite could not switch to WAL mode (got {mode!r}); "
                "put state_dir on a local file system"
            )
        # FULL: fsync the WAL on every commit, so an acknowledged change is on disk.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        return conn

    def _switch_to_wal(self, conn: sqlite3.Connection) -> str:
        """``PRAGMA journal_mode=WAL``, retried while another process holds the database.

        SQLite answers a journal-mode change with "database is locked" at once, without its
        busy handler, while another connection writes: two workers of ``loupe serve`` starting
        on a fresh state folder made one of them fail its start-up."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.005
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    conn.close()
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

    def close(self) -> None:
        self._closed = True
        with self._all_lock:
            conns, self._all = self._all, []
        for _, conn in conns:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                pass

    # --- transactions ----------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; nested calls on the same thread join the outer one.

        BEGIN IMMEDIATE takes the write lock up front, so two writers never both read, then
        both try to upgrade (which SQLite would answer with SQLITE_BUSY mid-transaction).
        """
        conn = self.connection()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            self._local.depth = 0
            conn.execute("ROLLBACK")
            raise
        self._local.depth = 0
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read snapshot: several SELECTs see the same committed state."""
        conn = self.connection()
        if self._local.depth:
            yield conn
            return
        conn.execute("BEGIN")
        self._local.depth = 1
        try:
            yield conn
        finally:
            self._local.depth = 0
            conn.execute("COMMIT")

    # --- schema ----------------------------------------------------------------------------
    def migrate(self) -> int:
        """Apply missing migrations; safe when several processes start at once."""
        with self.write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, statements in enumerate(MIGRATIONS, start=1):
                if number <= version:
                    continue
                for statement in statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")
                version = number
        return version

    def bump_hidden_version(self, conn: sqlite3.Connection) -> None:
        """Call inside a write transaction that changes which records are hidden."""
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'hidden_version'")

    def hidden_version(self) -> int:
        row = (
            self.connection()
            .execute("SELECT value FROM meta WHERE key = 'hidden_version'")
            .fetchone()
        )
        return int(row[0])
