"""The confirmed removal list: parquet and CSV written, read back, and compared."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from app.review import exports
from app.review.flags import RecordRef, url_sha256
from app.review.store import ReviewStore

COLUMNS = ["SAMPLE_ID", "URL", "url_sha256", "category", "flagged_by", "confirmed_by", "decided_at"]


def ref(i: int) -> RecordRef:
    return RecordRef(f"r{i}", f"https://example.org/{i}.jpg")


@pytest.fixture
def decided(store: ReviewStore, people, clock) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    f1 = store.flags.flag(alice, "tiny", ref(1), "sexual").flags[0]
    f2 = store.flags.flag(alice, "tiny", ref(2), "suspected_csam").flags[0]
    f3 = store.flags.flag(bob, "tiny", ref(3), "violence").flags[0]
    store.flags.flag(bob, "tiny", ref(4), "other")  # stays open: not exported
    f5 = store.flags.flag(bob, "elsewhere", ref(5), "hateful").flags[0]
    clock.advance(minutes=1)
    store.flags.confirm(f1.id, bob)
    clock.advance(minutes=1)
    store.flags.confirm(f2.id, carol)
    store.flags.dismiss(f3.id, alice)  # dismissed: not exported
    store.flags.confirm(f5.id, alice)


def test_removals_round_trip(store: ReviewStore, decided, clock, tmp_path: Path) -> None:
    written = exports.export_removals(store.db, ["tiny"], tmp_path / "out")
    assert [(name, path.name, rows) for name, path, rows in written] == [
        ("tiny", "tiny-removals.parquet", 2),
        ("tiny", "tiny-removals.csv", 2),
    ]
    table = pq.read_table(tmp_path / "out" / "tiny-removals.parquet")
    assert table.column_names == COLUMNS
    rows = table.to_pylist()
    assert [r["SAMPLE_ID"] for r in rows] == ["r1", "r2"]
    assert rows[0] == {
        "SAMPLE_ID": "r1",
        "URL": "https://example.org/1.jpg",
        "url_sha256": url_sha256("https://example.org/1.jpg"),
        "category": "sexual",
        "flagged_by": "alice",
        "confirmed_by": "bob",
        "decided_at": datetime(2026, 3, 1, 12, 1, tzinfo=UTC),
    }
    # Suspected CSAM: listed by id and URL hash, never by URL.
    assert rows[1]["URL"] is None and rows[1]["category"] == "suspected_csam"
    assert rows[1]["url_sha256"] == url_sha256("https://example.org/2.jpg")
    assert rows[1]["confirmed_by"] == "carol"

    # Read back with the export's own types: the CSV carries exactly what the parquet does.
    types = {field.name: field.type for field in exports.REMOVAL_SCHEMA}
    options = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    from_csv = pacsv.read_csv(tmp_path / "out" / "tiny-removals.csv", convert_options=options)
    assert from_csv.column_names == COLUMNS
    assert from_csv.to_pylist() == rows
    assert "example.org/2.jpg" not in (tmp_path / "out" / "tiny-removals.csv").read_text()


def test_csam_urls_only_on_request_and_logged(store: ReviewStore, decided) -> None:
    table = exports.removals_table(store.db, "tiny", include_csam_urls=True, actor="carol")
    assert table.column("URL").to_pylist() == [
        "https://example.org/1.jpg",
        "https://example.org/2.jpg",
    ]
    (entry,) = store.audit.entries(action="export.csam_urls")
    assert entry.actor == "carol" and entry.dataset == "tiny"


def test_datasets_and_empty_exports(store: ReviewStore, decided, tmp_path: Path) -> None:
    assert exports.datasets_with_flags(store.db) == ["elsewhere", "tiny"]
    written = exports.export_removals(store.db, ["empty"], tmp_path, ["csv"])
    assert written[0][2] == 0
    assert pacsv.read_csv(tmp_path / "empty-removals.csv").column_names == COLUMNS
    assert not list(tmp_path.glob(".*tmp"))
    with pytest.raises(ValueError, match="unknown export format"):
        exports.export_removals(store.db, ["tiny"], tmp_path, ["xlsx"])


def test_bytes_for_a_download(store: ReviewStore, decided) -> None:
    import io

    table = exports.removals_table(store.db, "tiny")
    assert pq.read_table(io.BytesIO(exports.to_bytes(table, "parquet"))).equals(table)
    assert exports.to_bytes(table, "csv").startswith(b'"SAMPLE_ID","URL","url_sha256"')
