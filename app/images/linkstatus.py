"""What the last fetch of each record's URL found, and the link-rot figures drawn from it.

One small SQLite file, ``<state_dir>/linkstatus.sqlite3``, shared by the server (fetches on
demand) and ``loupe check-links`` (random samples in the background). WAL mode and short
transactions let both write at once.

Statuses:
    ok              the URL serves an image, and it matches the dataset's hash if there is one
    changed         it serves an image, but not the bytes the dataset recorded (md5/sha256)
    opted_out       the response carried X-Robots-Tag noai/noimageai; not read, not shown
    dead            HTTP 4xx/5xx, refused connection, broken TLS, too many redirects
    gone            the host name no longer resolves
    timeout         no complete answer in time
    not_image       the body is not an image (e.g. an HTML "not found" page)
    too_large       more bytes or pixels than the limits allow
    blocked_address the URL points at a private, loopback or otherwise refused address

"Alive" means the link still serves an image: ok + changed.
"""

from __future__ import annotations

import sqlite3
import time
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from app.catalog.filters import LinkStatus

# The filter's own list (the grid's link-status filter), so the two can never differ.
STATUSES: tuple[str, ...] = typing.get_args(LinkStatus)
ALIVE: frozenset[str] = frozenset({"ok", "changed"})
_MAX_IDS_PER_QUERY = 500  # stay far below SQLite's bound-parameter limit


@dataclass(frozen=True)
class LinkCheck:
    dataset: str
    sample_id: str
    status: str
    detail: str = ""
    http_status: int | None = None
    domain: str | None = None
    checked_at: float = field(default_factory=time.time)
    seconds: float | None = None


@dataclass(frozen=True)
class DomainRot:
    domain: str
    checked: int
    alive: int

    @property
    def share_alive(self) -> float:
        return self.alive / self.checked if self.checked else 0.0


@dataclass(frozen=True)
class RotStats:
    checked: int
    alive: int
    by_status: dict[str, int]
    by_domain: list[DomainRot]
    first_checked_at: float | None
    last_checked_at: float | None

    @property
    def share_alive(self) -> float:
        return self.alive / self.checked if self.checked else 0.0


def domain_of(url: str | None) -> str | None:
    """Host of a URL, lower-cased, without 'www.' (the catalog's domain column rule)."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    return host.removeprefix("www.")


_UPSERT = (
    "INSERT INTO link_status (dataset, sample_id, status, detail, http_status, domain, "
    "checked_at, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dataset, sample_id) "
    "DO UPDATE SET status = excluded.status, detail = excluded.detail, "
    "http_status = excluded.http_status, domain = excluded.domain, "
    "checked_at = excluded.checked_at, seconds = excluded.seconds"
)
_UPSERT_KEEP_NEWER = _UPSERT + " WHERE excluded.checked_at > link_status.checked_at"


class LinkStatusStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: cheap next to a fetch, and safe from any thread or process.
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        if not self._ready:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(
                """
                CREATE TABLE IF NOT EXISTS link_status (
                    dataset TEXT NOT NULL,
                    sample_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    detail TEXT NOT NULL DEFAULT '',
                    http_status INTEGER,
                    domain TEXT,
                    checked_at REAL NOT NULL,
                    seconds REAL,
                    PRIMARY KEY (dataset, sample_id)
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS link_status_by_status
                    ON link_status (dataset, status);
                """
            )
            self._ready = True
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def record(self, check: LinkCheck) -> None:
        self.record_many([check])

    def record_many(self, checks: Iterable[LinkCheck], *, keep_newer: bool = False) -> int:
        """Store checks; with ``keep_newer`` a record already checked later keeps its status
        (statuses seeded from an old download never overwrite a fresh check)."""
        rows = [
            (
                c.dataset,
                str(c.sample_id),
                c.status,
                c.detail[:500],
                c.http_status,
                c.domain,
                c.checked_at,
                c.seconds,
            )
            for c in checks
        ]
        for row in rows:
            if row[2] not in STATUSES:
                raise ValueError(f"unknown link status {row[2]!r}")
        conn = self._connect()
        try:
            with conn:
                conn.executemany(_UPSERT_KEEP_NEWER if keep_newer else _UPSERT, rows)
        finally:
            conn.close()
        return len(rows)

    def get(self, dataset: str, sample_id: str) -> LinkCheck | None:
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT status, detail, http_status, domain, checked_at, seconds "
                "FROM link_status WHERE dataset = ? AND sample_id = ?",
                (dataset, str(sample_id)),
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        return LinkCheck(dataset, str(sample_id), row[0], row[1], row[2], row[3], row[4], row[5])

    def statuses(self, dataset: str, sample_ids: Sequence[str]) -> dict[str, str]:
        """sample_id -> status for those of ``sample_ids`` that were checked (grid badges)."""
        found: dict[str, str] = {}
        ids = [str(s) for s in sample_ids]
        conn = self._connect()
        try:
            for start in range(0, len(ids), _MAX_IDS_PER_QUERY):
                chunk = ids[start : start + _MAX_IDS_PER_QUERY]
                marks = ",".join("?" * len(chunk))
                found.update(
                    conn.execute(
                        "SELECT sample_id, status FROM link_status "  # noqa: S608 (only '?' marks)
                        f"WHERE dataset = ? AND sample_id IN ({marks})",
                        (dataset, *chunk),
                    ).fetchall()
                )
        finally:
            conn.close()
        return found

    def ids_with_status(
        self, dataset: str, statuses: Sequence[str], limit: int = 100_000
    ) -> list[str]:
        """Sample ids whose last check gave one of ``statuses`` (for a browse filter)."""
        wanted = [s for s in statuses if s in STATUSES]
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT sample_id FROM link_status "  # noqa: S608 (only '?' marks)
                f"WHERE dataset = ? AND status IN ({marks}) ORDER BY sample_id LIMIT ?",
                (dataset, *wanted, int(limit)),
            ).fetchall()
        finally:
            conn.close()
        return [row[0] for row in rows]

    def rot_stats(self, dataset: str, top_domains: int = 20) -> RotStats:
        """Share of checked links still alive, overall and for the most-checked domains."""
        alive_marks = ",".join("?" * len(ALIVE))
        alive = tuple(sorted(ALIVE))
        conn = self._connect()
        try:
            by_status = dict(
                conn.execute(
                    "SELECT status, count(*) FROM link_status WHERE dataset = ? GROUP BY status",
                    (dataset,),
                ).fetchall()
            )
            first, last = conn.execute(
                "SELECT min(checked_at), max(checked_at) FROM link_status WHERE dataset = ?",
                (dataset,),
            ).fetchone()
            domains = conn.execute(
                "SELECT coalesce(domain, '(none)'), count(*), "  # noqa: S608 (only '?' marks)
                f"sum(CASE WHEN status IN ({alive_marks}) THEN 1 ELSE 0 END) "
                "FROM link_status WHERE dataset = ? GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?",
                (*alive, dataset, int(top_domains)),
            ).fetchall()
        finally:
            conn.close()
        checked = sum(by_status.values())
        return RotStats(
            checked=checked,
            alive=sum(n for status, n in by_status.items() if status in ALIVE),
            by_status={status: by_status.get(status, 0) for status in STATUSES},
            by_domain=[DomainRot(d, n, a or 0) for d, n, a in domains],
            first_checked_at=first,
            last_checked_at=last,
        )

    def forget_dataset(self, dataset: str) -> int:
        conn = self._connect()
        try:
            with conn:
                return conn.execute(
                    "DELETE FROM link_status WHERE dataset = ?", (dataset,)
                ).rowcount
        finally:
            conn.close()
