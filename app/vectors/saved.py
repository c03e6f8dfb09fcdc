"""Query embeddings kept under a short id, so a search by an uploaded picture is a URL.

A search by picture is a POST (the picture travels in the request body). Its result page
must page, be bookmarked, shared and exported like any other, and Back must not post the
picture again: the server keeps the picture's *embedding* — never the picture — under a short
id and redirects to ``/?vec=<id>``. Why an id rather than the vector in the URL: a 512-float
vector is ~1.4 KB of URL even as base64 float16 (2 KB for ViT-L/14), too long to share or read,
and a kept vector can expire; the id is the first 16 hex digits of the vector's SHA-256, so the
same picture gives the same URL.

One SQLite file in the state folder (``query_vectors.sqlite3``); entries older than the time to
live (``LOUPE_QUERY_VECTOR_TTL_S``) are refused and purged.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VECTOR_ID = re.compile(r"^[0-9a-f]{16}$")
MAX_DIM = 4096


class SavedVectorMissing(LookupError):
    """No vector under that id (never saved, or expired)."""


@dataclass(frozen=True)
class SavedVector:
    id: str
    kind: str  # "image" or "caption": the embedding space it searches
    vector: np.ndarray
    created_at: float


class SavedVectors:
    def __init__(self, path: Path, ttl_s: float) -> None:
        self.path = path
        self.ttl_s = ttl_s
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        if not self._ready:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS query_vectors (id TEXT PRIMARY KEY, kind TEXT NOT "
                "NULL, vector BLOB NOT NULL, created_at REAL NOT NULL) WITHOUT ROWID"
            )
            self._ready = True
        return conn

    def save(self, kind: str, vector: np.ndarray) -> str:
        """Keep ``vector`` (float32, at most MAX_DIM values); returns its id."""
        data = np.asarray(vector, dtype=np.float32).ravel()
        if not 2 <= data.size <= MAX_DIM or not np.isfinite(data).all():
            raise ValueError("a query vector must hold 2 to 4096 finite numbers")
        blob = data.tobytes()
        vector_id = hashlib.sha256(kind.encode() + b"\0" + blob).hexdigest()[:16]
        now = time.time()
        conn = self._connect()
        try:
            with conn:
                conn.execute("DELETE FROM query_vectors WHERE created_at < ?", (now - self.ttl_s,))
                conn.execute(
                    "INSERT INTO query_vectors (id, kind, vector, created_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at",
                    (vector_id, kind, blob, now),
                )
        finally:
            conn.close()
        return vector_id

    def load(self, vector_id: str) -> SavedVector:
        if not VECTOR_ID.match(vector_id):
            raise SavedVectorMissing(f"{vector_id!r} is not a saved search's id")
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT kind, vector, created_at FROM query_vectors WHERE id = ?", (vector_id,)
            ).fetchone()
        finally:
            conn.close()
        if row is None or time.time() - row[2] > self.ttl_s:
            raise SavedVectorMissing(
                "this search by picture has expired or is unknown here: upload the picture again"
            )
        return SavedVector(vector_id, row[0], np.frombuffer(row[1], dtype=np.float32), row[2])
