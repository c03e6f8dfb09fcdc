"""The audit log: who did what, when, and what the thing looked like before.

``record`` is called inside the same transaction as the change it describes, so a change and
its log row are committed together or not at all. Triggers in the schema refuse UPDATE and
DELETE on the table: the log can only grow.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from app.review.db import Database


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    target: str
    dataset: str | None
    previous: dict[str, Any] | None
    new: dict[str, Any] | None


def _dump(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def record(
    db: Database,
    conn: sqlite3.Connection,
    *,
    actor: str,
    action: str,
    target: str,
    dataset: str | None = None,
    previous: dict[str, Any] | None = None,
    new: dict[str, Any] | None = None,
) -> None:
    """Append one row; must run inside the caller's write transaction (``db.write()``)."""
    if not conn.in_transaction:
        raise RuntimeError("audit.record must run inside the change's transaction")
    conn.execute(
        "INSERT INTO audit (at, actor, action, target, dataset, previous, new) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (db.now(), actor, action, target, dataset, _dump(previous), _dump(new)),
    )


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        dataset=row["dataset"],
        previous=None if row["previous"] is None else json.loads(row["previous"]),
        new=None if row["new"] is None else json.loads(row["new"]),
    )


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def entries(
        self,
        *,
        target: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        dataset: str | None = None,
        limit: int = 100,
        before_id: int | None = None,
    ) -> list[AuditEntry]:
        """Newest first; ``before_id`` pages backwards (keyset, cheap at any depth)."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("target", target),
            ("actor", actor),
            ("action", action),
            ("dataset", dataset),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if before_id is not None:
            clauses.append("id < ?")
            params.append(before_id)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        limit = max(1, min(int(limit), 10_000))
        rows = (
            self.db.connection()
            .execute(
                f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ?",  # noqa: S608 fixed names
                (*params, limit),
            )
            .fetchall()
        )
        return [_entry(row) for row in rows]

    def count(self) -> int:
        return int(self.db.connection().execute("SELECT count(*) FROM audit").fetchone()[0])
