"""The review queue's batches in the store: one item per batch, decided at once under the
four-eyes rule (one audit row per flag), notes kept; and the migration that added them."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from app.review.db import MIGRATIONS, Database
from app.review.errors import Conflict, InvalidInput, NotFound, SecondReviewerRequired
from app.review.flags import FlagFilter, QueueItem, RecordRef
from app.review.store import ReviewStore


def refs(*numbers: int) -> list[RecordRef]:
    return [RecordRef(f"r{i}", f"https://example.org/{i}.jpg") for i in numbers]


@pytest.fixture
def queue(store: ReviewStore, people) -> dict[str, str | int]:
    """A batch of 12 by alice (r0 and 11 near-duplicates), then a flag alone by bob, then a
    suspected-CSAM batch of 3 by alice."""
    batch = store.flags.flag(people["alice"], "tiny", refs(*range(12)), "other", "same logo")
    single = store.flags.flag(people["bob"], "tiny", refs(50), "sexual").flags[0]
    csam = store.flags.flag(people["alice"], "tiny", refs(60, 61, 62), "suspected_csam")
    assert batch.batch and csam.batch
    return {"batch": batch.batch, "single": single.id, "csam": csam.batch}


def test_a_batch_is_one_item_newest_first(store: ReviewStore, queue) -> None:
    items = store.flags.queue_items()
    assert [(i.batch, i.members) for i in items] == [
        (queue["csam"], 3),
        (None, 1),
        (queue["batch"], 12),
    ]
    batch = items[2]
    assert batch.is_batch and batch.key == f"batch-{queue['batch']}"
    assert batch.lead.sample_id == "r0"  # the record flagged comes first
    assert [f.sample_id for f in batch.flags] == [f"r{i}" for i in range(12)]
    assert batch.by_status == {"open": 12, "confirmed": 0, "dismissed": 0}
    assert batch.lead.note == "same logo" and batch.flagged_by == "alice"
    assert items[0].hides_records and not batch.hides_records
    assert items[1].key == f"flag-{queue['single']}"
    assert store.flags.count_items() == 3 and store.flags.count() == 16


def test_items_page_and_list_a_bounded_number_of_members(store: ReviewStore, queue) -> None:
    assert [i.batch for i in store.flags.queue_items(limit=1, offset=2)] == [queue["batch"]]
    (item,) = store.flags.queue_items(FlagFilter(batch=queue["batch"]), listed=5)
    assert len(item.flags) == 5 and item.members == 12
    public = item.public()
    assert public["members"] == 12 and len(public["listed"]) == 5
    assert public["listed"][0] == {"id": item.lead.id, "sample_id": "r0"}


def test_one_by_one_lists_each_flag_of_a_batch(store: ReviewStore, queue) -> None:
    where = FlagFilter(batch=queue["batch"])
    items = store.flags.queue_items(where, grouped=False)
    assert len(items) == 12 and all(not i.is_batch and i.members == 1 for i in items)
    assert store.flags.count_items(where, grouped=False) == 12
    with pytest.raises(InvalidInput, match="32 hex digits"):
        store.flags.queue_items(FlagFilter(batch="nope"))


def test_a_batch_is_decided_at_once_one_audit_row_per_flag(
    store: ReviewStore, people, queue
) -> None:
    decided = store.flags.decide_batch(queue["batch"], people["bob"], "dismissed", "a logo")
    assert len(decided) == 12
    assert {(f.status, f.decided_by, f.decision_note) for f in decided} == {
        ("dismissed", "bob", "a logo")
    }
    rows = store.audit.entries(action="flag.dismiss")
    assert len(rows) == 12 and {r.actor for r in rows} == {"bob"}
    assert {r.target for r in rows} == {f"flag:{f.id}" for f in decided}
    (item,) = store.flags.queue_items(FlagFilter(batch=queue["batch"]))
    assert item.by_status == {"open": 0, "confirmed": 0, "dismissed": 12}
    (decision,) = item.decisions()  # decided at once: one line
    assert decision.decision_note == "a logo"
    with pytest.raises(Conflict, match="already decided"):
        store.flags.decide_batch(queue["batch"], people["carol"], "confirmed")


def test_the_flagger_cannot_decide_their_own_batch(store: ReviewStore, people, queue) -> None:
    with pytest.raises(SecondReviewerRequired, match="different reviewer"):
        store.flags.decide_batch(queue["batch"], people["alice"], "confirmed")
    with pytest.raises(SecondReviewerRequired):  # the name's case does not matter
        store.flags.decide_batch(
            queue["batch"], replace(people["alice"], name="ALICE"), "confirmed"
        )
    assert store.flags.count(FlagFilter(status="open")) == 16
    assert store.audit.entries(action="flag.confirm") == []


def test_members_decided_alone_are_left_as_they_are(store: ReviewStore, people, queue) -> None:
    (item,) = store.flags.queue_items(FlagFilter(batch=queue["batch"]))
    first = store.flags.dismiss(item.flags[0].id, people["carol"], "not this one")
    decided = store.flags.decide_batch(queue["batch"], people["bob"], "confirmed")
    assert len(decided) == 11 and first.id not in {f.id for f in decided}
    assert store.flags.get(first.id).decision_note == "not this one"
    (item,) = store.flags.queue_items(FlagFilter(batch=queue["batch"]))
    assert item.by_status == {"open": 0, "confirmed": 11, "dismissed": 1}
    assert len(item.decisions()) == 2
    # A status filter splits the batch: only its matching members are the item.
    (dismissed,) = store.flags.queue_items(FlagFilter(status="dismissed"))
    assert dismissed.batch == queue["batch"] and dismissed.members == 1


def test_bad_batch_decisions(store: ReviewStore, people, queue) -> None:
    with pytest.raises(NotFound):
        store.flags.decide_batch("0" * 32, people["bob"], "confirmed")
    with pytest.raises(InvalidInput):
        store.flags.decide_batch(queue["batch"], people["bob"], "maybe")
    with pytest.raises(InvalidInput, match="note"):
        store.flags.decide_batch(queue["batch"], people["bob"], "dismissed", "x" * 2001)
    assert store.flags.count(FlagFilter(status="open")) == 16


def test_a_single_item_from_a_flag(store: ReviewStore, queue) -> None:
    flag = store.flags.get(queue["single"])
    item = QueueItem.single(flag)
    assert item.by_status == {"open": 1, "confirmed": 0, "dismissed": 0}
    assert item.lead is flag and not item.is_batch


def test_a_database_of_version_2_gains_the_new_table_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    path = tmp_path / "review.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN")
    for statement in (*MIGRATIONS[0], *MIGRATIONS[1]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version=2")
    conn.execute(
        "INSERT INTO flags (dataset, sample_id, category, flagged_by, flagged_at, batch) "
        "VALUES ('tiny', 'r1', 'other', 'alice', '2026-01-01T00:00:00.000000Z', ?)",
        ("a" * 32,),
    )
    conn.execute("COMMIT")
    conn.close()
    db = Database.open(path)
    try:
        assert db.connection().execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        store = ReviewStore(db, "k" * 40)
        (item,) = store.flags.queue_items()
        assert item.batch == "a" * 32 and item.lead.sample_id == "r1"
        tables = {r[0] for r in db.connection().execute("SELECT name FROM sqlite_master")}
        assert {"login_failures", "login_failures_key", "flags_batch"} <= tables
    finally:
        db.close()
