"""The review store's side of perceptual hashes and the quarantine, with the workspace replaced
by small resolvers: PDQ lists (reading, never guessed, the distance stored per list, matched
again when the hash file changes, fetched-picture hits), the quarantine table (hidden, released
with a reason, not brought back by the same flag, pending searches), and the migration of a
database made before any of this existed."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from app.images.phash import CONFIDENT_DISTANCE
from app.review.blocklist import PDQ_DEFAULT_DISTANCE, PDQ_MAX_DISTANCE, read_blocklist
from app.review.db import MIGRATIONS, Database
from app.review.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.review.flags import RecordRef
from app.review.quarantine import Neighbour
from app.review.store import ReviewStore

PDQ = [f"{i:02x}" * 32 for i in (0x11, 0x22, 0x33)]


def test_the_review_store_and_the_image_layer_agree_on_the_confident_distance() -> None:
    assert PDQ_DEFAULT_DISTANCE == CONFIDENT_DISTANCE == 31


# --- reading PDQ lists -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("plain.txt", "\n".join(PDQ), "hex64"),  # 64 hex digits alone are never PDQ
        ("hashes.csv", "hash\n" + "\n".join(PDQ), "hex64"),
        ("te.csv", "pdq_hash,quality\n" + "".join(f"{h},90\n" for h in PDQ), "pdq"),
        ("pdq.csv", "PDQ\n" + "\n".join(h.upper() for h in PDQ), "pdq"),
        ("pdq.txt", "pdq\n" + "\n".join(PDQ), "pdq"),
        ("mixed.csv", "md5,pdq\n" + "".join(f"{i:032x},{h}\n" for i, h in enumerate(PDQ)), "md5"),
    ],
)
def test_pdq_comes_from_a_column_name_or_kind_never_from_the_shape(
    tmp_path: Path, name: str, text: str, kind: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    parsed = read_blocklist(path)
    assert parsed.kind == kind
    explicit = read_blocklist(path, "pdq") if kind != "md5" else None
    if explicit is not None:
        assert explicit.kind == "pdq" and explicit.values == PDQ


def test_a_bad_pdq_value_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(PDQ[0] + "\n" + "ab" * 16 + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 2: .* is not a PDQ hash"):
        read_blocklist(path, "pdq")


def test_the_distance_is_stored_per_list_and_checked(store: ReviewStore, tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("\n".join(PDQ), encoding="utf-8")
    default = store.blocklists.import_file(path, actor="carol", kind="pdq").blocklist
    assert default.kind == "pdq" and default.max_distance == PDQ_DEFAULT_DISTANCE
    assert default.public()["max_distance"] == 31
    tight = store.blocklists.import_file(path, actor="carol", kind="pdq", max_distance=10)
    assert not tight.already_imported and tight.blocklist.max_distance == 10
    again = store.blocklists.import_file(path, actor="carol", kind="pdq", max_distance=10)
    assert again.already_imported
    for bad in (-1, PDQ_MAX_DISTANCE + 1):
        with pytest.raises(InvalidInput, match="max_distance"):
            store.blocklists.import_file(path, actor="carol", kind="pdq", max_distance=bad)
    ids = tmp_path / "ids.txt"
    ids.write_text("r1\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="PDQ lists only"):
        store.blocklists.import_file(ids, actor="carol", max_distance=5)


# --- matching PDQ lists ----------------------------------------------------------------------
class FakeHashes:
    """The workspace's resolver for one dataset, reduced to what Safety sees."""

    def __init__(self) -> None:
        self.version = "pdq:1"
        self.calls: list[tuple[str, int, dict]] = []
        self.matches = {PDQ[0]: ["r1"], PDQ[1]: ["r2"]}

    def resolve(self, kind: str, values: list[str], **options) -> list[str]:
        self.calls.append((kind, len(values), options))
        return [i for v in values for i in self.matches.get(v, [])]


def test_pdq_lists_are_matched_with_their_distance_and_again_when_the_hashes_change(
    store: ReviewStore, tmp_path: Path
) -> None:
    path = tmp_path / "list.txt"
    path.write_text(PDQ[0] + "\n", encoding="utf-8")
    store.blocklists.import_file(path, actor="carol", kind="pdq", max_distance=12)
    fake = FakeHashes()
    store.safety.register_resolver(
        "tiny", fake.resolve, "build-1", kind_version=lambda kind: fake.version
    )
    assert store.safety.hidden_sample_ids("tiny") == {"r1"}
    assert fake.calls == [("pdq", 1, {"max_distance": 12})]
    store.safety.recheck()
    assert store.safety.hidden_sample_ids("tiny") == {"r1"}
    assert len(fake.calls) == 1, "same hash file: the stored match is reused"

    fake.version = "pdq:2"  # `loupe embed` rewrote pdq.npz
    fake.matches[PDQ[0]] = ["r1", "r9"]
    store.safety.recheck()
    assert store.safety.hidden_sample_ids("tiny") == {"r1", "r9"}
    assert len(fake.calls) == 2


def test_a_fetched_picture_that_matches_is_added_to_the_lists_hits(
    store: ReviewStore, tmp_path: Path
) -> None:
    path = tmp_path / "list.txt"
    path.write_text(PDQ[0] + "\n", encoding="utf-8")
    blocklist = store.blocklists.import_file(path, actor="carol", kind="pdq").blocklist
    fake = FakeHashes()
    store.safety.register_resolver("tiny", fake.resolve, "b", kind_version=lambda k: "pdq:1")
    assert store.safety.hidden_sample_ids("tiny") == {"r1"}
    assert store.safety.pdq_lists("tiny") == [blocklist]
    version = store.safety.version()
    assert store.safety.add_matches("tiny", blocklist, ["r5"]) == 1
    assert store.safety.add_matches("tiny", blocklist, ["r5"]) == 0
    assert store.safety.version() > version
    assert store.safety.hidden_sample_ids("tiny") == {"r1", "r5"}
    assert store.blocklists.hits("tiny") == {blocklist.id: 2}


# --- the quarantine --------------------------------------------------------------------------
def confirmed_csam(store: ReviewStore, people, sample_id: str = "r0", dataset: str = "tiny"):
    url = f"https://example.org/{sample_id}.jpg"
    flag = store.flags.flag(
        people["alice"], dataset, RecordRef(sample_id, url), "suspected_csam"
    ).flags[0]
    return store.flags.confirm(flag.id, people["bob"])


def url_hash(sample_id: str) -> str:
    return hashlib.sha256(f"https://example.org/{sample_id}.jpg".encode()).hexdigest()


def test_quarantined_records_are_hidden_until_released(store: ReviewStore, people) -> None:
    flag = confirmed_csam(store, people)
    assert [f.id for f in store.quarantine.pending()] == [flag.id]
    version = store.safety.version()
    added = store.quarantine.add(
        flag,
        [
            Neighbour("tiny", "r1", url_hash("r1"), "knn", similarity=0.9312),
            Neighbour("tiny", "r1", url_hash("r1"), "pdq", distance=12),  # the PDQ row wins
            Neighbour("tiny", "r2", url_hash("r2"), "knn", similarity=0.95),
            Neighbour("tiny", "r0", url_hash("r0"), "pdq", distance=0),  # the flagged one
        ],
        actor="bob",
        methods={"knn": "2 within 0.9", "pdq": "1 within 31 bits"},
    )
    assert [(q.sample_id, q.reason) for q in added] == [("r1", "pdq"), ("r2", "knn")]
    assert store.safety.version() > version
    assert store.safety.hidden_sample_ids("tiny") == {"r0", "r1", "r2"}
    assert store.quarantine.pending() == []
    run = store.quarantine.run_of(flag.id)
    assert run is not None and run.found == 2 and run.methods["knn"] == "2 within 0.9"
    assert store.quarantine.counts_by_flag([flag.id]) == {flag.id: 2}

    with pytest.raises(Forbidden):
        store.quarantine.release("tiny", "r2", people["alice"], "an unrelated bicycle")
    with pytest.raises(InvalidInput, match="say why"):
        store.quarantine.release("tiny", "r2", people["carol"], "no")
    with pytest.raises(NotFound):
        store.quarantine.release("tiny", "r9", people["carol"], "never quarantined at all")
    released = store.quarantine.release("tiny", "r2", people["carol"], "an unrelated bicycle")
    assert released[0].released_by == "carol" and not released[0].live
    assert store.safety.hidden_sample_ids("tiny") == {"r0", "r1"}
    (entry,) = store.audit.entries(action="quarantine.release")
    assert entry.new["reason"] == "an unrelated bicycle"
    # The same flag's search again (a re-confirmation) leaves the released record alone.
    again = store.quarantine.add(
        flag, [Neighbour("tiny", "r2", None, "knn", 0.95)], actor="bob", methods={}
    )
    assert again == [] and "r2" not in store.safety.hidden_sample_ids("tiny")
    with pytest.raises(sqlite3.IntegrityError):
        with store.db.write() as conn:
            conn.execute("DELETE FROM quarantine")


def test_only_a_confirmed_csam_flag_quarantines(store: ReviewStore, people) -> None:
    open_flag = store.flags.flag(people["alice"], "tiny", RecordRef("r3"), "suspected_csam")
    other = store.flags.flag(people["alice"], "tiny", RecordRef("r4"), "sexual").flags[0]
    other = store.flags.confirm(other.id, people["bob"])
    for flag in (open_flag.flags[0], other):
        with pytest.raises(Conflict):
            store.quarantine.add(flag, [], actor="bob", methods={})


def test_a_quarantined_url_hides_the_same_picture_in_other_datasets(
    store: ReviewStore, people
) -> None:
    flag = confirmed_csam(store, people)
    store.quarantine.add(
        flag, [Neighbour("tiny", "r1", url_hash("r1"), "knn", 0.97)], actor="bob", methods={}
    )
    calls = []

    def resolve(kind: str, values: list[str], **options) -> list[str]:
        calls.append((kind, sorted(values)))
        return ["other-r1"] if url_hash("r1") in values else []

    store.safety.register_resolver("other", resolve, "b")
    assert store.safety.hidden_sample_ids("other") == {"other-r1"}
    assert ("url_sha256", sorted([url_hash("r0"), url_hash("r1")])) in calls


def test_a_database_from_before_is_migrated_in_place(tmp_path: Path) -> None:
    """A review database made by the first schema keeps its flags and lists."""
    path = tmp_path / "review.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN")
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute(
        "INSERT INTO flags (dataset, sample_id, category, flagged_by, flagged_at) "
        "VALUES ('tiny', 'r1', 'suspected_csam', 'alice', '2026-01-01T00:00:00.000000Z')"
    )
    conn.execute(
        "INSERT INTO blocklists (name, source, kind, entries, content_sha256, imported_by, "
        "imported_at) VALUES ('old', 'old.txt', 'md5', 1, 'x', 'carol', '2026')"
    )
    conn.execute("COMMIT")
    conn.close()

    db = Database.open(path)
    try:
        assert db.connection().execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        store = ReviewStore(db, "k" * 40)
        (old,) = store.blocklists.lists()
        assert old.name == "old" and old.max_distance is None
        assert store.flags.count() == 1
        assert store.quarantine.count() == 0 and store.quarantine.pending() == []
    finally:
        db.close()
