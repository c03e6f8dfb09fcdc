"""Flags: lifecycle, the second-reviewer rule, batches, audit rows, queue filters and counts."""

from __future__ import annotations

from datetime import date

import pytest

from app.review.db import CATEGORIES
from app.review.errors import Conflict, Forbidden, InvalidInput, NotFound, SecondReviewerRequired
from app.review.flags import FlagFilter, RecordRef, url_sha256
from app.review.store import ReviewStore


def ref(i: int) -> RecordRef:
    return RecordRef(f"r{i}", f"https://example.org/{i}.jpg")


def test_flag_confirm_lifecycle_with_audit(store: ReviewStore, people) -> None:
    alice, bob = people["alice"], people["bob"]
    batch = store.flags.flag(alice, "tiny", ref(1), "violence", "gore in the corner")
    (flag,) = batch.flags
    assert batch.created == 1 and batch.batch is None
    assert (
        flag.status == "open" and flag.flagged_by == "alice" and flag.note == "gore in the corner"
    )
    assert flag.url == "https://example.org/1.jpg"
    assert flag.url_sha256 == url_sha256("https://example.org/1.jpg")

    confirmed = store.flags.confirm(flag.id, bob, "agreed")
    assert confirmed.status == "confirmed" and confirmed.decided_by == "bob"
    assert confirmed.decision_note == "agreed" and confirmed.decided_at is not None

    history = store.audit.entries(target=f"flag:{flag.id}")
    assert [entry.action for entry in history] == ["flag.confirm", "flag.create"]
    assert history[0].actor == "bob" and history[0].dataset == "tiny"
    assert history[0].previous["status"] == "open"
    assert history[0].new["status"] == "confirmed"
    assert history[1].previous is None and history[1].new["flagged_by"] == "alice"


def test_flagger_cannot_decide_own_flag(store: ReviewStore, people) -> None:
    flag = store.flags.flag(people["alice"], "tiny", ref(1), "sexual").flags[0]
    for decide in (store.flags.confirm, store.flags.dismiss):
        with pytest.raises(SecondReviewerRequired, match="different reviewer") as caught:
            decide(flag.id, people["alice"])
        assert isinstance(caught.value, PermissionError)
    assert store.flags.get(flag.id).status == "open"
    assert [e.action for e in store.audit.entries(target=f"flag:{flag.id}")] == ["flag.create"]


def test_viewer_may_neither_flag_nor_decide(store: ReviewStore, people) -> None:
    with pytest.raises(Forbidden):
        store.flags.flag(people["vic"], "tiny", ref(1), "other")
    flag = store.flags.flag(people["alice"], "tiny", ref(1), "other").flags[0]
    with pytest.raises(Forbidden):
        store.flags.dismiss(flag.id, people["vic"])
    disabled_bob = store.users.disable("bob", actor="carol")
    with pytest.raises(Forbidden, match="disabled"):
        store.flags.dismiss(flag.id, disabled_bob)


def test_decided_once_only(store: ReviewStore, people) -> None:
    flag = store.flags.flag(people["alice"], "tiny", ref(1), "other").flags[0]
    store.flags.dismiss(flag.id, people["bob"], "fine")
    with pytest.raises(Conflict, match="already dismissed"):
        store.flags.confirm(flag.id, people["carol"])
    with pytest.raises(NotFound):
        store.flags.confirm(999, people["carol"])


def test_admin_reopens_a_mistaken_decision(store: ReviewStore, people) -> None:
    flag = store.flags.flag(people["alice"], "tiny", ref(1), "other").flags[0]
    store.flags.confirm(flag.id, people["bob"])
    with pytest.raises(Forbidden):
        store.flags.reopen(flag.id, people["bob"])
    reopened = store.flags.reopen(flag.id, people["carol"], "confirmed by mistake")
    assert reopened.status == "open" and reopened.decided_by is None
    actions = [e.action for e in store.audit.entries(target=f"flag:{flag.id}")]
    assert actions == ["flag.reopen", "flag.confirm", "flag.create"]


def test_near_duplicates_flagged_in_one_transaction(store: ReviewStore, people) -> None:
    records = [ref(i) for i in range(5)] + [ref(2)]  # a repeat is flagged once
    batch = store.flags.flag(people["alice"], "tiny", records, "copyright_watermark", "same logo")
    assert batch.created == 5 and batch.batch is not None
    assert [f.sample_id for f in batch.flags] == ["r0", "r1", "r2", "r3", "r4"]
    assert {f.batch for f in batch.flags} == {batch.batch}
    assert len(store.audit.entries(action="flag.create")) == 5


def test_a_bad_record_in_a_batch_flags_nothing(store: ReviewStore, people) -> None:
    records = [ref(1), RecordRef("r2", url_sha256="not-a-hash")]
    with pytest.raises(InvalidInput, match="url_sha256"):
        store.flags.flag(people["alice"], "tiny", records, "other")
    assert store.flags.count() == 0 and store.audit.entries(action="flag.create") == []


def test_flagging_again_returns_the_live_flag(store: ReviewStore, people) -> None:
    first = store.flags.flag(people["alice"], "tiny", ref(1), "hateful").flags[0]
    again = store.flags.flag(people["bob"], "tiny", [ref(1), ref(2)], "hateful")
    assert again.created == 1 and again.flags[0].id == first.id
    store.flags.dismiss(first.id, people["bob"])
    # Dismissed flags are history: new evidence gets a new flag.
    fresh = store.flags.flag(people["bob"], "tiny", ref(1), "hateful").flags[0]
    assert fresh.id != first.id and fresh.status == "open"
    # Another category on the same record is its own flag.
    other = store.flags.flag(people["bob"], "tiny", ref(1), "other").flags[0]
    assert other.id not in (first.id, fresh.id)
    assert [f.id for f in store.flags.for_record("tiny", "r1")] == [first.id, fresh.id, other.id]


@pytest.mark.parametrize(
    "bad",
    [
        {"category": "nsfw"},
        {"note": "n" * 2001},
        {"records": []},
        {"records": [RecordRef("")]},
        {"records": [RecordRef("x" * 257)]},
    ],
)
def test_bad_flags_are_refused(store: ReviewStore, people, bad) -> None:
    args = {"records": [ref(1)], "category": "other", "note": ""} | bad
    with pytest.raises(InvalidInput):
        store.flags.flag(people["alice"], "tiny", **args)


def test_csam_flag_never_exposes_the_url(store: ReviewStore, people) -> None:
    flag = store.flags.flag(people["alice"], "tiny", ref(7), "suspected_csam").flags[0]
    assert flag.url is None and flag.url_sha256 == url_sha256("https://example.org/7.jpg")
    assert flag.hides_record
    assert store.flags.get(flag.id).url is None
    assert store.flags.queue()[0].url is None
    assert "example.org" not in str(store.audit.entries(limit=1000))
    with pytest.raises(Forbidden):
        store.flags.url_for_report(flag.id, people["bob"])
    assert store.flags.url_for_report(flag.id, people["carol"]) == "https://example.org/7.jpg"
    (entry,) = store.audit.entries(action="flag.read_url")
    assert entry.actor == "carol" and entry.target == f"flag:{flag.id}"


@pytest.fixture
def busy_queue(store: ReviewStore, people, clock) -> dict[str, int]:
    """Flags over three days, two datasets, several categories and reviewers."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    ids = {}
    clock.now = clock.now.replace(month=3, day=1)
    ids["a"] = store.flags.flag(alice, "tiny", ref(1), "sexual").flags[0].id
    ids["b"] = store.flags.flag(alice, "tiny", ref(2), "violence").flags[0].id
    clock.advance(days=1)
    ids["c"] = store.flags.flag(bob, "tiny", ref(3), "sexual").flags[0].id
    ids["d"] = store.flags.flag(bob, "other-set", ref(1), "sexual").flags[0].id
    clock.advance(days=1)
    ids["e"] = store.flags.flag(carol, "tiny", ref(4), "personal_data").flags[0].id
    store.flags.confirm(ids["a"], bob)
    store.flags.dismiss(ids["c"], carol)
    return ids


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (FlagFilter(), "edcba"),
        (FlagFilter(dataset="tiny"), "ecba"),
        (FlagFilter(dataset="tiny", category="sexual"), "ca"),
        (FlagFilter(status="open"), "edb"),
        (FlagFilter(status="confirmed"), "a"),
        (FlagFilter(dataset="tiny", status="dismissed"), "c"),
        (FlagFilter(reviewer="bob"), "dca"),  # flagged by bob, or decided by bob
        (FlagFilter(reviewer="CAROL"), "ec"),
        (FlagFilter(since=date(2026, 3, 2)), "edc"),
        (FlagFilter(until=date(2026, 3, 2)), "dcba"),
        (FlagFilter(since=date(2026, 3, 2), until=date(2026, 3, 2)), "dc"),
        (FlagFilter(dataset="tiny", sample_id="r2"), "b"),
        (FlagFilter(category="hateful"), ""),
    ],
)
def test_queue_filters(store: ReviewStore, busy_queue, where: FlagFilter, expected: str) -> None:
    by_id = {v: k for k, v in busy_queue.items()}
    assert "".join(by_id[f.id] for f in store.flags.queue(where)) == expected
    assert store.flags.count(where) == len(expected)


def test_queue_pages(store: ReviewStore, busy_queue) -> None:
    first = store.flags.queue(limit=2)
    second = store.flags.queue(limit=2, offset=2)
    assert [f.id for f in first + second] == [f.id for f in store.flags.queue()][:4]


def test_queue_refuses_unknown_filter_values(store: ReviewStore) -> None:
    with pytest.raises(InvalidInput):
        store.flags.queue(FlagFilter(status="pending"))
    with pytest.raises(InvalidInput):
        store.flags.count(FlagFilter(category="'; DROP TABLE flags; --"))


def test_counts_by_category(store: ReviewStore, busy_queue) -> None:
    counts = store.flags.counts_by_category("tiny")
    assert list(counts) == list(CATEGORIES)
    assert counts["sexual"] == {"open": 0, "confirmed": 1, "dismissed": 1, "total": 2}
    assert counts["violence"] == {"open": 1, "confirmed": 0, "dismissed": 0, "total": 1}
    assert counts["hateful"]["total"] == 0
    assert store.flags.counts_by_category()["sexual"]["total"] == 3
    assert store.flags.reviewers("tiny") == ["alice", "bob", "carol"]
