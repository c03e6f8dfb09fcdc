"""PDQ hashes of the pictures the server fetched from the web, kept by (dataset, sample id).

A dataset's local pictures are hashed by ``loupe embed`` into ``vectors/pdq.npz``; a record
with no local picture is only ever seen when the server fetches its URL (``LOUPE_REMOTE_IMAGES``),
so the image service hashes what it fetched and keeps the hash here, next to the link status:
``<state_dir>/remote-pdq.sqlite3``. PDQ blocklists and the quarantine match against both.

One small SQLite file in WAL mode, a connection per call (as ``linkstatus``): the server and
the CLI may both write, and a fetch costs far more than opening a connection.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_MAX_IDS_PER_QUERY = 500


@dataclass(frozen=True)
class RemoteHash:
    dataset: str
    sample_id: str
    hex: str  # 64 lower-case hex digits
    quality: int
    hashed_at: float


class RemoteHashStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        if not self._ready:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                """CREATE TABLE IF NOT EXISTS remote_pdq (
                    dataset   TEXT NOT NULL,
                    sample_id TEXT NOT NULL,
                    hash      TEXT NOT NULL,
                    quality   INTEGER NOT NULL,
                    hashed_at REAL NOT NULL,
                    PRIMARY KEY (dataset, sample_id)
                ) WITHOUT ROWID"""
            )
            self._ready = True
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def put(self, dataset: str, sample_id: str, hex_digest: str, quality: int) -> None:
        if len(hex_digest) != 64:
            raise ValueError("a PDQ hash is 64 hex digits")
        conn = self._connect()
        try:
            with conn:
                conn.execute(
                    "INSERT OR REPLACE INTO remote_pdq (dataset, sample_id, hash, quality, "
                    "hashed_at) VALUES (?, ?, ?, ?, ?)",
                    (dataset, str(sample_id), hex_digest.lower(), int(quality), time.time()),
                )
        finally:
            conn.close()

    def get(self, dataset: str, sample_id: str) -> RemoteHash | None:
        found = self.many(dataset, [sample_id])
        return found.get(str(sample_id))

    def many(self, dataset: str, sample_ids: Sequence[str]) -> dict[str, RemoteHash]:
        ids = [str(s) for s in sample_ids]
        found: dict[str, RemoteHash] = {}
        if not self.path.exists():
            return found
        conn = self._connect()
        try:
            for start in range(0, len(ids), _MAX_IDS_PER_QUERY):
                chunk = ids[start : start + _MAX_IDS_PER_QUERY]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(
                    "SELECT sample_id, hash, quality, hashed_at FROM remote_pdq "  # noqa: S608
                    f"WHERE dataset = ? AND sample_id IN ({marks})",
                    (dataset, *chunk),
                ):
                    found[row[0]] = RemoteHash(dataset, row[0], row[1], row[2], row[3])
        finally:
            conn.close()
        return found

    def all(self, dataset: str) -> list[RemoteHash]:
        """Every hash kept for ``dataset`` (matching a list reads them all: one per fetched
        picture, so at most the pictures people looked at)."""
        if not self.path.exists():
            return []
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT sample_id, hash, quality, hashed_at FROM remote_pdq WHERE dataset = ? "
                "ORDER BY sample_id",
                (dataset,),
            ).fetchall()
        finally:
            conn.close()
        return [RemoteHash(dataset, *row) for row in rows]
