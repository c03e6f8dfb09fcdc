"""The quarantine: records hidden because they look like a *confirmed* suspected-CSAM record.

The Stanford Internet Observatory's audit of LAION-5B (Dec 2023) expanded from confirmed hits
to their nearest neighbours in CLIP space: 27 hits in one segment led to 88 more. Loupe does
the same when a second reviewer confirms a suspected-CSAM flag: the workspace
(``app.workspace.quarantine``) finds the records whose image embedding is within
``LOUPE_QUARANTINE_SIMILARITY`` of the flagged record's, or whose PDQ hash is within 31 bits of
its hash, and this store hides them from everyone, in the same way as the flag hides its own
record (``Safety.hidden`` reads the live rows).

Nobody has looked at a quarantined record, and nobody should have to: the quarantine is listed
for admins by sample id and URL hash only, never as images or captions. An admin who is sure a
record is unrelated (from its metadata, say) may release it with a reason; the release is
written to the audit log, and the row stays (rows are never deleted). Releasing a record does
not let the same confirmed flag quarantine it again; a different confirmed flag can.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app.review import audit
from app.review.db import QUARANTINE_REASONS, Database
from app.review.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.review.flags import CSAM, MAX_NOTE_LENGTH, MAX_SAMPLE_ID_LENGTH, Flag, _flag
from app.review.users import User

MAX_RELEASE_REASON = MAX_NOTE_LENGTH
MIN_RELEASE_REASON = 10  # "unrelated" alone is not a reason an auditor can follow


@dataclass(frozen=True)
class Neighbour:
    """A record found near a confirmed flag's record, as the workspace hands it over (PDQ
    matches may come from another dataset served alongside)."""

    dataset: str
    sample_id: str
    url_sha256: str | None
    reason: str  # "knn" or "pdq"
    similarity: float | None = None  # cosine of the image embeddings, for "knn"
    distance: int | None = None  # Hamming distance of the PDQ hashes, for "pdq"


@dataclass(frozen=True)
class Quarantined:
    id: int
    dataset: str
    sample_id: str
    url_sha256: str | None
    reason: str
    similarity: float | None
    distance: int | None
    source_flag: int
    created_at: str
    released_at: str | None
    released_by: str | None
    release_reason: str | None

    @property
    def live(self) -> bool:
        return self.released_at is None

    def public(self) -> dict[str, Any]:
        """JSON-ready (the API and the audit log): ids and hashes only, no URL, no caption."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "sample_id": self.sample_id,
            "url_sha256": self.url_sha256,
            "reason": self.reason,
            "similarity": self.similarity,
            "distance": self.distance,
            "source_flag": self.source_flag,
            "created_at": self.created_at,
            "released_at": self.released_at,
            "released_by": self.released_by,
            "release_reason": self.release_reason,
        }


@dataclass(frozen=True)
class QuarantineRun:
    flag_id: int
    dataset: str
    ran_at: str
    actor: str
    methods: dict[str, str]  # "knn" / "pdq" -> what was done ("searched", or why not)
    found: int


def _quarantined(row: sqlite3.Row) -> Quarantined:
    return Quarantined(**{key: row[key] for key in row.keys()})


def _run(row: sqlite3.Row) -> QuarantineRun:
    return QuarantineRun(
        flag_id=row["flag_id"],
        dataset=row["dataset"],
        ran_at=row["ran_at"],
        actor=row["actor"],
        methods=json.loads(row["methods"]),
        found=row["found"],
    )


def _check_neighbour(neighbour: Neighbour) -> Neighbour:
    if not neighbour.sample_id or len(neighbour.sample_id) > MAX_SAMPLE_ID_LENGTH:
        raise InvalidInput(f"bad sample id for the quarantine: {neighbour.sample_id[:80]!r}")
    if neighbour.reason not in QUARANTINE_REASONS:
        raise InvalidInput(f"unknown quarantine reason {neighbour.reason!r}")
    return neighbour


class Quarantine:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- adding (the workspace, right after a confirmation) --------------------------------
    def add(
        self,
        flag: Flag,
        neighbours: Iterable[Neighbour],
        *,
        actor: str,
        methods: dict[str, str],
    ) -> list[Quarantined]:
        """Quarantine ``neighbours`` of confirmed suspected-CSAM ``flag`` (one transaction with
        its audit row and the run record); returns the rows added. A record already
        quarantined by this flag, released or not, is left as it is."""
        if flag.category != CSAM or flag.status != "confirmed":
            raise Conflict(f"flag {flag.id} is not a confirmed suspected-CSAM flag")
        # One row per record: the closest evidence wins (a PDQ match over a kNN one).
        chosen: dict[tuple[str, str], Neighbour] = {}
        for neighbour in map(_check_neighbour, neighbours):
            key = (neighbour.dataset, neighbour.sample_id)
            if key == (flag.dataset, flag.sample_id):
                continue
            if key not in chosen or neighbour.reason == "pdq":
                chosen[key] = neighbour
        added: list[Quarantined] = []
        with self.db.write() as conn:
            now = self.db.now()
            for neighbour in chosen.values():
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO quarantine (dataset, sample_id, url_sha256, reason, "
                    "similarity, distance, source_flag, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        neighbour.dataset,
                        neighbour.sample_id,
                        neighbour.url_sha256,
                        neighbour.reason,
                        None if neighbour.similarity is None else round(neighbour.similarity, 4),
                        neighbour.distance,
                        flag.id,
                        now,
                    ),
                )
                if cursor.rowcount:
                    row = conn.execute(
                        "SELECT * FROM quarantine WHERE id = ?", (cursor.lastrowid,)
                    ).fetchone()
                    added.append(_quarantined(row))
            conn.execute(
                "INSERT INTO quarantine_runs (flag_id, dataset, ran_at, actor, methods, found) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (flag_id) DO UPDATE SET "
                "ran_at = excluded.ran_at, actor = excluded.actor, methods = excluded.methods, "
                "found = excluded.found",
                (
                    flag.id,
                    flag.dataset,
                    now,
                    actor,
                    json.dumps(methods, sort_keys=True),
                    len(chosen),
                ),
            )
            audit.record(
                self.db,
                conn,
                actor=actor,
                action="quarantine.add",
                target=f"flag:{flag.id}",
                dataset=flag.dataset,
                new={
                    "added": [f"{q.dataset}/{q.sample_id}" for q in added],
                    "found": len(chosen),
                    "methods": methods,
                },
            )
            if added:
                self.db.bump_hidden_version(conn)
        return added

    def pending(self) -> list[Flag]:
        """Confirmed suspected-CSAM flags whose neighbourhood has not been searched yet (the
        process died between the confirmation and the search, or the flag was confirmed by
        a Loupe from before the quarantine existed)."""
        rows = (
            self.db.connection()
            .execute(
                "SELECT f.* FROM flags f LEFT JOIN quarantine_runs r ON r.flag_id = f.id "
                "WHERE f.category = ? AND f.status = 'confirmed' AND r.flag_id IS NULL "
                "ORDER BY f.id",
                (CSAM,),
            )
            .fetchall()
        )
        return [_flag(row) for row in rows]

    # --- reading ---------------------------------------------------------------------------
    def entries(
        self,
        *,
        dataset: str | None = None,
        live: bool | None = None,
        source_flag: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Quarantined]:
        """Newest first."""
        where, params = self._where(dataset, live, source_flag)
        limit = max(1, min(int(limit), 1000))
        offset = max(0, min(int(offset), 1_000_000))
        rows = (
            self.db.connection()
            .execute(
                f"SELECT * FROM quarantine {where} ORDER BY id DESC LIMIT ? OFFSET ?",  # noqa: S608
                (*params, limit, offset),
            )
            .fetchall()
        )
        return [_quarantined(row) for row in rows]

    def count(
        self,
        *,
        dataset: str | None = None,
        live: bool | None = None,
        source_flag: int | None = None,
    ) -> int:
        where, params = self._where(dataset, live, source_flag)
        sql = f"SELECT count(*) FROM quarantine {where}"  # noqa: S608 fixed clauses, ? only
        return int(self.db.connection().execute(sql, params).fetchone()[0])

    def counts_by_flag(self, flag_ids: Sequence[int]) -> dict[int, int]:
        """{flag id: records it keeps quarantined now} for the review queue."""
        ids = [int(i) for i in flag_ids][:1000]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = (
            self.db.connection()
            .execute(
                "SELECT source_flag, count(*) FROM quarantine "  # noqa: S608 only '?' marks
                f"WHERE released_at IS NULL AND source_flag IN ({marks}) GROUP BY source_flag",
                ids,
            )
            .fetchall()
        )
        return {int(row[0]): int(row[1]) for row in rows}

    def run_of(self, flag_id: int) -> QuarantineRun | None:
        row = (
            self.db.connection()
            .execute("SELECT * FROM quarantine_runs WHERE flag_id = ?", (flag_id,))
            .fetchone()
        )
        return None if row is None else _run(row)

    @staticmethod
    def _where(
        dataset: str | None, live: bool | None, source_flag: int | None
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if dataset is not None:
            clauses.append("dataset = ?")
            params.append(dataset)
        if live is True:
            clauses.append("released_at IS NULL")
        elif live is False:
            clauses.append("released_at IS NOT NULL")
        if source_flag is not None:
            clauses.append("source_flag = ?")
            params.append(int(source_flag))
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params

    # --- releasing (admins) ----------------------------------------------------------------
    def release(self, dataset: str, sample_id: str, admin: User, reason: str) -> list[Quarantined]:
        """Release one quarantined record (every live row of it) with a logged reason."""
        if admin.disabled or not admin.has_role("admin"):
            raise Forbidden("releasing a quarantined record needs the admin role")
        reason = (reason or "").strip()
        if len(reason) < MIN_RELEASE_REASON:
            raise InvalidInput(
                f"say why the record is released (at least {MIN_RELEASE_REASON} characters): "
                "the reason is kept in the audit log"
            )
        if len(reason) > MAX_RELEASE_REASON:
            raise InvalidInput(f"the reason is longer than {MAX_RELEASE_REASON} characters")
        with self.db.write() as conn:
            rows = conn.execute(
                "SELECT * FROM quarantine WHERE dataset = ? AND sample_id = ? "
                "AND released_at IS NULL ORDER BY id",
                (dataset, str(sample_id)),
            ).fetchall()
            if not rows:
                raise NotFound(f"record {sample_id!r} of {dataset} is not quarantined")
            before = [_quarantined(row) for row in rows]
            now = self.db.now()
            conn.executemany(
                "UPDATE quarantine SET released_at = ?, released_by = ?, release_reason = ? "
                "WHERE id = ?",
                [(now, admin.name, reason, q.id) for q in before],
            )
            after = [
                _quarantined(
                    conn.execute("SELECT * FROM quarantine WHERE id = ?", (q.id,)).fetchone()
                )
                for q in before
            ]
            audit.record(
                self.db,
                conn,
                actor=admin.name,
                action="quarantine.release",
                target=f"record:{dataset}/{sample_id}",
                dataset=dataset,
                previous={"rows": [q.public() for q in before]},
                new={"rows": [q.public() for q in after], "reason": reason},
            )
            self.db.bump_hidden_version(conn)
        return after
