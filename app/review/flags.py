"""Flags: a reviewer marks a record (or a record and its near-duplicates) with a category;
a second reviewer confirms or dismisses it.

A flag names its record by (dataset, sample_id) and keeps the record's URL and URL SHA-256 from
the moment of flagging, so the queue and the removal export never need the catalog or the image.
For suspected CSAM the URL is kept in the database (reporting to the authorities needs it) but
never put into a ``Flag`` object: pages and APIs only ever see the id and the URL hash.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from app.catalog.schema import url_sha256
from app.review import audit
from app.review.db import CATEGORIES, STATUSES, Database, iso
from app.review.errors import Conflict, Forbidden, InvalidInput, NotFound, SecondReviewerRequired
from app.review.users import User

logger = logging.getLogger(__name__)

CSAM = "suspected_csam"
CATEGORY_LABELS: dict[str, str] = {
    "suspected_csam": "Suspected CSAM",
    "sexual": "Sexual content",
    "violence": "Violence / gore",
    "personal_data": "Personal data",
    "copyright_watermark": "Copyright / watermark",
    "hateful": "Hateful",
    "other": "Other",
}
MAX_NOTE_LENGTH = 2000
MAX_SAMPLE_ID_LENGTH = 256
MAX_URL_LENGTH = 8192
# One "flag all near-duplicates" action; far above any sensible duplicate cluster.
MAX_BATCH = 10_000
HEX64 = re.compile(r"^[0-9a-f]{64}$")
# A batch's name: the uuid4 hex written by flag() for a record and its near-duplicates.
BATCH_ID = re.compile(r"^[0-9a-f]{32}$")
# Members of one batch listed with its queue item (the rest: the queue filtered by the batch).
MAX_LISTED_MEMBERS = 100

HiddenCallback = Callable[[str, list[str]], None]


@dataclass(frozen=True)
class RecordRef:
    """What the catalog knows about a record at flag time."""

    sample_id: str
    url: str | None = None
    url_sha256: str | None = None


@dataclass(frozen=True)
class Flag:
    id: int
    dataset: str
    sample_id: str
    url: str | None  # always None for suspected CSAM, see the module docstring
    url_sha256: str | None
    category: str
    note: str
    status: str
    flagged_by: str
    flagged_at: str
    decided_by: str | None
    decided_at: str | None
    decision_note: str | None
    batch: str | None

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS[self.category]

    @property
    def hides_record(self) -> bool:
        return self.category == CSAM

    def public(self) -> dict[str, Any]:
        """JSON-ready form for the API and the audit log."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "sample_id": self.sample_id,
            "url": self.url,
            "url_sha256": self.url_sha256,
            "category": self.category,
            "note": self.note,
            "status": self.status,
            "flagged_by": self.flagged_by,
            "flagged_at": self.flagged_at,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at,
            "decision_note": self.decision_note,
            "batch": self.batch,
        }


@dataclass(frozen=True)
class FlagBatch:
    """Result of one flag action: one flag per distinct record, in the order given."""

    flags: list[Flag]
    created: int  # how many were new; the rest already had a live flag of that category
    batch: str | None


@dataclass(frozen=True)
class FlagFilter:
    """Review-queue filters; every field is optional. Dates are UTC days, both inclusive."""

    dataset: str | None = None
    category: str | None = None
    status: str | None = None
    reviewer: str | None = None  # matches who flagged or who decided
    since: date | None = None
    until: date | None = None
    sample_id: str | None = None
    batch: str | None = None  # the flags of one batch (flagged in one action)


@dataclass(frozen=True)
class QueueItem:
    """One line of the review queue: a flag, or a batch (a record and its near-duplicates,
    flagged in one action) with its members that match the queue's filters.

    A batch's flags share the category, note, flagger and time (one action made them); they
    may differ in status, when one was decided or re-opened alone. ``flags`` holds at most
    ``MAX_LISTED_MEMBERS`` of them, lowest id first: the record the reviewer flagged comes
    first. ``members`` and ``by_status`` count all of them.
    """

    batch: str | None
    flags: list[Flag]
    members: int
    by_status: dict[str, int]

    @classmethod
    def single(cls, flag: Flag) -> QueueItem:
        """A flag as an item of its own (batch or not)."""
        return cls(None, [flag], 1, {status: int(flag.status == status) for status in STATUSES})

    @property
    def lead(self) -> Flag:
        return self.flags[0]

    @property
    def is_batch(self) -> bool:
        return self.batch is not None

    @property
    def key(self) -> str:
        """The item's HTML id: ``batch-<hex>`` or ``flag-<id>``."""
        return f"batch-{self.batch}" if self.batch else f"flag-{self.lead.id}"

    @property
    def open(self) -> int:
        return self.by_status.get("open", 0)

    @property
    def hides_records(self) -> bool:
        return self.lead.category == CSAM

    @property
    def flagged_by(self) -> str:
        return self.lead.flagged_by

    def decisions(self) -> list[Flag]:
        """One listed flag per distinct decision (who, when to the minute, note): a batch
        decided at once shows one line, a batch decided piecemeal one per decision."""
        seen: dict[tuple[str | None, str, str | None], Flag] = {}
        for flag in self.flags:
            if flag.decided_by is not None:
                key = (flag.decided_by, (flag.decided_at or "")[:16], flag.decision_note)
                seen.setdefault(key, flag)
        return list(seen.values())

    def public(self) -> dict[str, Any]:
        """JSON-ready form: what the item says, its members by flag id and sample id."""
        lead = self.lead
        return {
            "batch": self.batch,
            "lead": lead.id,
            "sample_id": lead.sample_id,
            "members": self.members,
            "listed": [{"id": f.id, "sample_id": f.sample_id} for f in self.flags],
            "by_status": dict(self.by_status),
            "category": lead.category,
            "note": lead.note,
            "flagged_by": lead.flagged_by,
            "flagged_at": lead.flagged_at,
        }


def check_batch(batch: str) -> str:
    if not isinstance(batch, str) or not BATCH_ID.match(batch):
        raise InvalidInput(f"a batch is named by 32 hex digits, not {str(batch)[:40]!r}")
    return batch


def check_category(category: str) -> str:
    if category not in CATEGORIES:
        raise InvalidInput(f"unknown category {category!r}: use one of {', '.join(CATEGORIES)}")
    return category


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    return status


def _flag(row: sqlite3.Row) -> Flag:
    return Flag(
        id=row["id"],
        dataset=row["dataset"],
        sample_id=row["sample_id"],
        url=None if row["category"] == CSAM else row["url"],
        url_sha256=row["url_sha256"],
        category=row["category"],
        note=row["note"],
        status=row["status"],
        flagged_by=row["flagged_by"],
        flagged_at=row["flagged_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        decision_note=row["decision_note"],
        batch=row["batch"],
    )


def _check_record(record: RecordRef) -> RecordRef:
    if not isinstance(record.sample_id, str) or not record.sample_id:
        raise InvalidInput("a flagged record needs a sample id")
    if len(record.sample_id) > MAX_SAMPLE_ID_LENGTH:
        raise InvalidInput(f"sample id longer than {MAX_SAMPLE_ID_LENGTH} characters")
    if record.url is not None and len(record.url) > MAX_URL_LENGTH:
        raise InvalidInput(f"URL longer than {MAX_URL_LENGTH} characters")
    digest = record.url_sha256
    if digest is not None:
        digest = digest.strip().lower()
        if not HEX64.match(digest):
            raise InvalidInput(f"url_sha256 of {record.sample_id!r} is not 64 hex digits")
    elif record.url:
        digest = url_sha256(record.url)
    return RecordRef(record.sample_id, record.url, digest)


def _day_start(day: date) -> str:
    if isinstance(day, datetime):
        return iso(day if day.tzinfo else day.replace(tzinfo=UTC))
    return iso(datetime.combine(day, time.min, tzinfo=UTC))


def _day_end_exclusive(day: date) -> str:
    if isinstance(day, datetime):
        return iso(day if day.tzinfo else day.replace(tzinfo=UTC))
    return iso(datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC))


def _where(where: FlagFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if where.dataset is not None:
        clauses.append("dataset = ?")
        params.append(where.dataset)
    if where.category is not None:
        clauses.append("category = ?")
        params.append(check_category(where.category))
    if where.status is not None:
        clauses.append("status = ?")
        params.append(check_status(where.status))
    if where.reviewer is not None:
        clauses.append("(flagged_by = ? COLLATE NOCASE OR decided_by = ? COLLATE NOCASE)")
        params.extend([where.reviewer, where.reviewer])
    if where.since is not None:
        clauses.append("flagged_at >= ?")
        params.append(_day_start(where.since))
    if where.until is not None:
        clauses.append("flagged_at < ?")
        params.append(_day_end_exclusive(where.until))
    if where.sample_id is not None:
        clauses.append("sample_id = ?")
        params.append(where.sample_id)
    if where.batch is not None:
        clauses.append("batch = ?")
        params.append(check_batch(where.batch))
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _require_reviewer(user: User) -> None:
    if user.disabled:
        raise Forbidden(f"the account {user.name!r} is disabled")
    if not user.has_role("reviewer"):
        raise Forbidden("flagging and deciding need the reviewer role")


def _check_decision(reviewer: User, decision: str, note: str) -> None:
    _require_reviewer(reviewer)
    if decision not in ("confirmed", "dismissed"):
        raise InvalidInput("a decision is 'confirmed' or 'dismissed'")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidInput(f"the note is longer than {MAX_NOTE_LENGTH} characters")


def _second_reviewer(flag: Flag, reviewer: User, what: str = "") -> None:
    """The four-eyes rule: whoever raised a flag may not decide it."""
    if flag.flagged_by.casefold() == reviewer.name.casefold():
        raise SecondReviewerRequired(
            f"{what or f'flag {flag.id}'} was raised by {flag.flagged_by}; a different "
            "reviewer must confirm or dismiss it"
        )


class Flags:
    def __init__(self, db: Database, on_hidden: Iterable[HiddenCallback] | None = None) -> None:
        self.db = db
        # Shared with Safety: whoever registers a callback there is told about CSAM flags here.
        self.on_hidden: list[HiddenCallback] = (
            on_hidden if isinstance(on_hidden, list) else list(on_hidden or ())
        )

    # --- flagging --------------------------------------------------------------------------
    def flag(
        self,
        reviewer: User,
        dataset: str,
        records: RecordRef | Sequence[RecordRef],
        category: str,
        note: str = "",
    ) -> FlagBatch:
        """Flag one record, or several (a record and its near-duplicates) in one transaction.

        A record that already has a live (open or confirmed) flag of this category keeps it;
        that flag is returned instead of a new one.
        """
        _require_reviewer(reviewer)
        check_category(category)
        if len(note) > MAX_NOTE_LENGTH:
            raise InvalidInput(f"the note is longer than {MAX_NOTE_LENGTH} characters")
        if isinstance(records, RecordRef):
            records = [records]
        unique: dict[str, RecordRef] = {}
        for record in records:
            checked = _check_record(record)
            unique.setdefault(checked.sample_id, checked)
        if not unique:
            raise InvalidInput("nothing to flag: no records given")
        if len(unique) > MAX_BATCH:
            raise InvalidInput(f"at most {MAX_BATCH} records can be flagged at once")
        batch = uuid.uuid4().hex if len(unique) > 1 else None
        flags: list[Flag] = []
        created = 0
        with self.db.write() as conn:
            now = self.db.now()
            for record in unique.values():
                row = conn.execute(
                    "SELECT * FROM flags WHERE dataset = ? AND sample_id = ? AND category = ? "
                    "AND status IN ('open', 'confirmed')",
                    (dataset, record.sample_id, category),
                ).fetchone()
                if row is None:
                    cursor = conn.execute(
                        "INSERT INTO flags (dataset, sample_id, url, url_sha256, category, note, "
                        "flagged_by, flagged_at, batch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            dataset,
                            record.sample_id,
                            record.url,
                            record.url_sha256,
                            category,
                            note,
                            reviewer.name,
                            now,
                            batch,
                        ),
                    )
                    row = conn.execute(
                        "SELECT * FROM flags WHERE id = ?", (cursor.lastrowid,)
                    ).fetchone()
                    flag = _flag(row)
                    audit.record(
                        self.db,
                        conn,
                        actor=reviewer.name,
                        action="flag.create",
                        target=f"flag:{flag.id}",
                        dataset=dataset,
                        new=flag.public(),
                    )
                    created += 1
                else:
                    flag = _flag(row)
                flags.append(flag)
            if category == CSAM and created:
                self.db.bump_hidden_version(conn)
        if category == CSAM:
            # After the commit: the record is hidden in the database before any cache is touched.
            self._notify_hidden(dataset, [flag.sample_id for flag in flags])
        return FlagBatch(flags=flags, created=created, batch=batch)

    def _notify_hidden(self, dataset: str, sample_ids: list[str]) -> None:
        for callback in list(self.on_hidden):
            try:
                callback(dataset, sample_ids)
            except Exception:  # one failing listener must not stop the others
                logger.exception("on_hidden callback failed for dataset %s", dataset)

    # --- deciding --------------------------------------------------------------------------
    def decide(self, flag_id: int, reviewer: User, decision: str, note: str = "") -> Flag:
        """Confirm or dismiss an open flag; only a reviewer other than the flagger may."""
        _check_decision(reviewer, decision, note)
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM flags WHERE id = ?", (flag_id,)).fetchone()
            if row is None:
                raise NotFound(f"no flag {flag_id}")
            before = _flag(row)
            _second_reviewer(before, reviewer)
            if before.status != "open":
                raise Conflict(
                    f"flag {flag_id} is already {before.status} (by {before.decided_by})"
                )
            return self._decide_in(conn, before, reviewer, decision, note)

    def decide_batch(self, batch: str, reviewer: User, decision: str, note: str = "") -> list[Flag]:
        """Confirm or dismiss every open flag of a batch at once (one transaction, one audit
        row per flag, as if each had been decided alone); returns the flags decided.

        The four-eyes rule covers the batch: if the reviewer raised any flag of it, nothing is
        decided. Flags of the batch decided before (alone) are left as they are; a batch with
        no open flag left is a Conflict.
        """
        _check_decision(reviewer, decision, note)
        check_batch(batch)
        with self.db.write() as conn:
            rows = conn.execute(
                "SELECT * FROM flags WHERE batch = ? ORDER BY id", (batch,)
            ).fetchall()
            if not rows:
                raise NotFound(f"no batch {batch}")
            members = [_flag(row) for row in rows]
            for flag in members:
                _second_reviewer(flag, reviewer, what=f"the batch of flag {members[0].id}")
            waiting = [flag for flag in members if flag.status == "open"]
            if not waiting:
                raise Conflict(
                    f"every flag of the batch of flag {members[0].id} is already decided"
                )
            return [self._decide_in(conn, flag, reviewer, decision, note) for flag in waiting]

    def _decide_in(
        self, conn: sqlite3.Connection, before: Flag, reviewer: User, decision: str, note: str
    ) -> Flag:
        conn.execute(
            "UPDATE flags SET status = ?, decided_by = ?, decided_at = ?, decision_note = ? "
            "WHERE id = ?",
            (decision, reviewer.name, self.db.now(), note, before.id),
        )
        after = _flag(conn.execute("SELECT * FROM flags WHERE id = ?", (before.id,)).fetchone())
        audit.record(
            self.db,
            conn,
            actor=reviewer.name,
            action="flag.confirm" if decision == "confirmed" else "flag.dismiss",
            target=f"flag:{before.id}",
            dataset=before.dataset,
            previous=before.public(),
            new=after.public(),
        )
        return after

    def confirm(self, flag_id: int, reviewer: User, note: str = "") -> Flag:
        return self.decide(flag_id, reviewer, "confirmed", note)

    def dismiss(self, flag_id: int, reviewer: User, note: str = "") -> Flag:
        return self.decide(flag_id, reviewer, "dismissed", note)

    def reopen(self, flag_id: int, admin: User, note: str = "") -> Flag:
        """Undo a decision made in error (admins only); the old decision stays in the audit log."""
        if admin.disabled or not admin.has_role("admin"):
            raise Forbidden("re-opening a decided flag needs the admin role")
        with self.db.write() as conn:
            row = conn.execute("SELECT * FROM flags WHERE id = ?", (flag_id,)).fetchone()
            if row is None:
                raise NotFound(f"no flag {flag_id}")
            before = _flag(row)
            if before.status == "open":
                raise Conflict(f"flag {flag_id} is already open")
            try:
                conn.execute(
                    "UPDATE flags SET status = 'open', decided_by = NULL, decided_at = NULL, "
                    "decision_note = ? WHERE id = ?",
                    (note or None, flag_id),
                )
            except sqlite3.IntegrityError:
                raise Conflict(
                    f"record {before.sample_id} already has a live {before.category} flag"
                ) from None
            after = _flag(conn.execute("SELECT * FROM flags WHERE id = ?", (flag_id,)).fetchone())
            audit.record(
                self.db,
                conn,
                actor=admin.name,
                action="flag.reopen",
                target=f"flag:{flag_id}",
                dataset=before.dataset,
                previous=before.public(),
                new=after.public(),
            )
        return after

    def url_for_report(self, flag_id: int, admin: User) -> str | None:
        """The stored URL of any flag, suspected CSAM included, for a report to the authorities.

        Admins only, and every look is written to the audit log.
        """
        if admin.disabled or not admin.has_role("admin"):
            raise Forbidden("reading the URL of a hidden record needs the admin role")
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT dataset, sample_id, category, url FROM flags WHERE id = ?", (flag_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no flag {flag_id}")
            # Who read which flag's URL, for which record; never the URL itself.
            audit.record(
                self.db,
                conn,
                actor=admin.name,
                action="flag.read_url",
                target=f"flag:{flag_id}",
                dataset=row["dataset"],
                new={"sample_id": row["sample_id"], "category": row["category"]},
            )
        return row["url"]

    # --- reading ---------------------------------------------------------------------------
    def get(self, flag_id: int) -> Flag:
        row = (
            self.db.connection().execute("SELECT * FROM flags WHERE id = ?", (flag_id,)).fetchone()
        )
        if row is None:
            raise NotFound(f"no flag {flag_id}")
        return _flag(row)

    def for_record(self, dataset: str, sample_id: str) -> list[Flag]:
        rows = (
            self.db.connection()
            .execute(
                "SELECT * FROM flags WHERE dataset = ? AND sample_id = ? ORDER BY id",
                (dataset, sample_id),
            )
            .fetchall()
        )
        return [_flag(row) for row in rows]

    def queue(
        self, where: FlagFilter | None = None, *, limit: int = 50, offset: int = 0
    ) -> list[Flag]:
        """Flags matching the filters, newest first."""
        sql_where, params = _where(where or FlagFilter())
        limit = max(1, min(int(limit), 1000))
        offset = max(0, min(int(offset), 1_000_000))
        rows = (
            self.db.connection()
            .execute(
                f"SELECT * FROM flags {sql_where} ORDER BY id DESC LIMIT ? OFFSET ?",  # noqa: S608
                (*params, limit, offset),
            )
            .fetchall()
        )
        return [_flag(row) for row in rows]

    def queue_items(
        self,
        where: FlagFilter | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        listed: int = MAX_LISTED_MEMBERS,
        grouped: bool = True,
    ) -> list[QueueItem]:
        """The queue as reviewers read it, newest first: a flag alone is one item, the flags
        of one batch that match the filters are one item (placed by its newest flag).
        ``grouped=False``: every flag is an item of its own (one batch, decided one by one).

        The matching flags are read newest first, (id, batch) only, until the page's items
        are found: a first page reads a few hundred rows whatever the queue's size (at 100,000
        flags, a GROUP BY over all of them took 263 ms a page; this takes about 2 ms, see
        docs/review-and-safety.md). Then, per listed batch, its status counts and first
        ``listed`` members by the (batch, id) index; all in one snapshot.
        """
        if not grouped:
            return [
                QueueItem.single(flag) for flag in self.queue(where, limit=limit, offset=offset)
            ]
        sql_where, params = _where(where or FlagFilter())
        limit = max(1, min(int(limit), 1000))
        offset = max(0, min(int(offset), 1_000_000))
        listed = max(1, min(int(listed), MAX_BATCH))
        wanted = offset + limit
        with self.db.read() as conn:
            heads: list[tuple[int, str | None]] = []
            seen: set[int | str] = set()
            # sql_where holds fixed clauses with ? placeholders only (see _where).
            scan = conn.execute(
                f"SELECT id, batch FROM flags {sql_where} ORDER BY id DESC",  # noqa: S608
                params,
            )
            for flag_id, batch in scan:
                key = batch if batch is not None else flag_id
                if key in seen:
                    continue
                seen.add(key)
                heads.append((flag_id, batch))
                if len(heads) >= wanted:
                    break
            scan.close()
            heads = heads[offset:]
            singles = [flag_id for flag_id, batch in heads if batch is None]
            by_id: dict[int, Flag] = {}
            if singles:
                marks = ", ".join("?" * len(singles))
                for row in conn.execute(
                    f"SELECT * FROM flags WHERE id IN ({marks})",  # noqa: S608
                    singles,
                ):
                    by_id[row["id"]] = _flag(row)
            in_batch = f"{sql_where} AND batch = ?" if sql_where else "WHERE batch = ?"
            items: list[QueueItem] = []
            for flag_id, batch in heads:
                if batch is None:
                    items.append(QueueItem.single(by_id[flag_id]))
                    continue
                by_status = {status: 0 for status in STATUSES}
                for row in conn.execute(
                    f"SELECT status, count(*) AS n FROM flags {in_batch} "  # noqa: S608
                    "GROUP BY status",
                    (*params, batch),
                ):
                    by_status[row["status"]] = row["n"]
                rows = conn.execute(
                    f"SELECT * FROM flags {in_batch} ORDER BY id LIMIT ?",  # noqa: S608
                    (*params, batch, listed),
                ).fetchall()
                flags = [_flag(row) for row in rows]
                items.append(QueueItem(batch, flags, sum(by_status.values()), by_status))
        return items

    def count_items(self, where: FlagFilter | None = None, *, grouped: bool = True) -> int:
        """How many queue items (flags alone, batches) match the filters."""
        if not grouped:
            return self.count(where)
        sql_where, params = _where(where or FlagFilter())
        alone = f"{sql_where} AND batch IS NULL" if sql_where else "WHERE batch IS NULL"
        batched = f"{sql_where} AND batch IS NOT NULL" if sql_where else "WHERE batch IS NOT NULL"
        # Flags alone plus batches; grouping the batched rows by the (batch, id) index took
        # 8 ms at 100,000 flags where count(DISTINCT coalesce(batch, id)) took 40 ms.
        sql = (
            f"SELECT (SELECT count(*) FROM flags {alone}) + "  # noqa: S608
            f"(SELECT count(*) FROM (SELECT batch FROM flags {batched} GROUP BY batch))"
        )
        params = [*params, *params]
        return int(self.db.connection().execute(sql, params).fetchone()[0])

    def count(self, where: FlagFilter | None = None) -> int:
        sql_where, params = _where(where or FlagFilter())
        # sql_where holds fixed clauses with ? placeholders only (see _where).
        sql = f"SELECT count(*) FROM flags {sql_where}"  # noqa: S608
        return int(self.db.connection().execute(sql, params).fetchone()[0])

    def counts_by_category(self, dataset: str | None = None) -> dict[str, dict[str, int]]:
        """{category: {open, confirmed, dismissed, total}}, every category present (zeros too)."""
        counts = {c: {s: 0 for s in (*STATUSES, "total")} for c in CATEGORIES}
        sql_where, params = _where(FlagFilter(dataset=dataset))
        rows = (
            self.db.connection()
            .execute(
                f"SELECT category, status, count(*) AS n FROM flags {sql_where} "  # noqa: S608
                "GROUP BY category, status",
                params,
            )
            .fetchall()
        )
        for row in rows:
            counts[row["category"]][row["status"]] = row["n"]
            counts[row["category"]]["total"] += row["n"]
        return counts

    def reviewers(self, dataset: str | None = None) -> list[str]:
        """Everyone who flagged or decided something (for the queue's reviewer filter)."""
        sql_where, params = _where(FlagFilter(dataset=dataset))
        rows = (
            self.db.connection()
            .execute(
                f"SELECT flagged_by AS name FROM flags {sql_where} UNION "  # noqa: S608
                f"SELECT decided_by FROM flags {sql_where} "
                "ORDER BY name",
                [*params, *params],
            )
            .fetchall()
        )
        return [row["name"] for row in rows if row["name"] is not None]
