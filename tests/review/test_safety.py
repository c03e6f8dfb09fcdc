"""The hidden set: suspected-CSAM flags and blocklists, matched against a real DuckDB catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.review.errors import BlocklistUnresolved
from app.review.flags import RecordRef, url_sha256
from app.review.store import ReviewStore
from tests.review.conftest import make_resolver


def ref(i: int) -> RecordRef:
    return RecordRef(f"r{i}", f"https://example.org/{i}.jpg")


@pytest.fixture
def heard(store: ReviewStore) -> list[tuple[str, list[str]]]:
    calls: list[tuple[str, list[str]]] = []
    store.add_hidden_listener(lambda dataset, ids: calls.append((dataset, list(ids))))
    return calls


def test_nothing_hidden_at_first(store: ReviewStore) -> None:
    assert store.safety.hidden_sample_ids("tiny") == frozenset()
    assert not store.safety.is_hidden("tiny", "r1")


def test_csam_flag_hides_at_once_and_for_good(store: ReviewStore, people, heard) -> None:
    version = store.safety.version()
    flag = store.flags.flag(people["alice"], "tiny", ref(1), "suspected_csam").flags[0]
    assert store.safety.version() > version
    assert heard[0] == ("tiny", ["r1"])  # before anyone asked for the hidden set
    assert store.safety.is_hidden("tiny", "r1")
    assert not store.safety.is_hidden("tiny", "r2")
    # Another dataset may hold the same URL: without its catalog resolver, no answer at all.
    with pytest.raises(BlocklistUnresolved):
        store.safety.is_hidden("other", "r1")

    # A dismissal by a second reviewer is recorded but does not bring the image back.
    store.flags.dismiss(flag.id, people["bob"], "looks like an adult")
    assert store.safety.is_hidden("tiny", "r1")
    store.flags.reopen(flag.id, people["carol"])
    store.flags.confirm(flag.id, people["bob"])
    assert store.safety.is_hidden("tiny", "r1")


@pytest.mark.parametrize(
    "category", ["sexual", "violence", "personal_data", "copyright_watermark", "hateful", "other"]
)
def test_other_categories_do_not_hide(store: ReviewStore, people, heard, category) -> None:
    flag = store.flags.flag(people["alice"], "tiny", ref(1), category).flags[0]
    store.flags.confirm(flag.id, people["bob"])
    assert store.safety.hidden_sample_ids("tiny") == frozenset()
    assert heard == []


def test_hidden_set_is_cached_per_version(store: ReviewStore, people) -> None:
    first = store.safety.hidden("tiny")
    assert store.safety.hidden("tiny") is first
    store.flags.flag(people["alice"], "tiny", [ref(1), ref(2)], "suspected_csam")
    second = store.safety.hidden("tiny")
    assert second is not first and second.version > first.version
    assert second.sample_ids == {"r1", "r2"}


def test_sample_id_blocklist_needs_no_catalog(store: ReviewStore, tmp_path: Path, heard) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("r3\nr4\n", encoding="utf-8")
    store.blocklists.import_file(path, actor="carol")
    assert store.safety.hidden_sample_ids("tiny") == {"r3", "r4"}
    assert store.safety.hidden_sample_ids("other") == {"r3", "r4"}
    assert ("tiny", ["r3", "r4"]) in heard
    (match,) = store.audit.entries(action="blocklist.match", dataset="tiny")
    assert match.actor == "system" and match.new["hits"] == 2


def test_dataset_scoped_list(store: ReviewStore, tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("r3\n", encoding="utf-8")
    store.blocklists.import_file(path, actor="carol", dataset="tiny")
    assert store.safety.is_hidden("tiny", "r3")
    assert not store.safety.is_hidden("other", "r3")


@pytest.mark.parametrize(
    ("content", "hidden"),
    [
        ("\n".join(url_sha256(f"https://example.org/{i}.jpg") for i in (1, 2)), {"r1", "r2"}),
        ("https://example.org/5.jpg\n", {"r5"}),
        (f"md5\n{3:032x}\n{4:032x}\n{'f' * 32}\n", {"r3", "r4"}),
        (f"sha256\n{106:064x}\n", {"r6"}),
        # 64 hex digits with no column name: tried as URL hash and as image hash.
        (f"{107:064x}\n{url_sha256('https://example.org/8.jpg')}\n", {"r7", "r8"}),
    ],
)
def test_hash_blocklists_resolve_through_the_catalog(
    store: ReviewStore, catalog, tmp_path: Path, content: str, hidden: set[str]
) -> None:
    path = tmp_path / (
        "list.csv" if "\n" in content and content[:3] in ("md5", "sha") else "list.txt"
    )
    path.write_text(content, encoding="utf-8")
    store.blocklists.import_file(path, actor="carol")
    with pytest.raises(BlocklistUnresolved, match="no catalog resolver"):
        store.safety.hidden_sample_ids("tiny")  # fails closed, never a partial answer
    store.safety.register_resolver("tiny", make_resolver(catalog), catalog_version="build-1")
    assert store.safety.hidden_sample_ids("tiny") == hidden


def test_resolution_is_stored_and_redone_for_a_new_build(
    store: ReviewStore, catalog, tmp_path
) -> None:
    path = tmp_path / "md5.csv"
    path.write_text(f"md5\n{3:032x}\n", encoding="utf-8")
    store.blocklists.import_file(path, actor="carol")
    calls: list[tuple[str, int]] = []
    store.safety.register_resolver("tiny", make_resolver(catalog, calls), "build-1")
    assert store.safety.hidden_sample_ids("tiny") == {"r3"}
    assert calls == [("md5", 1)]

    # Another process (a restart) with the same build: matches are read back, not redone.
    reopened = ReviewStore(store.db, "k" * 40)
    again: list[tuple[str, int]] = []
    reopened.safety.register_resolver("tiny", make_resolver(catalog, again), "build-1")
    assert reopened.safety.hidden_sample_ids("tiny") == {"r3"}
    assert again == []

    # The catalog is rebuilt and the record now has another id: matched again.
    catalog.execute("UPDATE records SET sample_id = 'r3-new' WHERE sample_id = 'r3'")
    store.safety.register_resolver("tiny", make_resolver(catalog, calls), "build-2")
    assert store.safety.hidden_sample_ids("tiny") == {"r3-new"}
    assert store.blocklists.hits("tiny") == {1: 1}


def test_csam_url_hides_the_same_image_in_other_datasets(
    store: ReviewStore, people, catalog
) -> None:
    store.flags.flag(
        people["alice"], "laion-a", RecordRef("x9", "https://example.org/9.jpg"), "suspected_csam"
    )
    with pytest.raises(BlocklistUnresolved):
        store.safety.hidden_sample_ids("tiny")
    store.safety.register_resolver("tiny", make_resolver(catalog))
    assert store.safety.hidden_sample_ids("tiny") == {"r9"}
    assert store.safety.hidden_sample_ids("laion-a") == {"x9"}


def test_an_import_from_another_process_is_seen(
    store: ReviewStore, review_settings, tmp_path, heard
) -> None:
    assert store.safety.hidden_sample_ids("tiny") == frozenset()
    other = ReviewStore.open(review_settings)  # what `loupe blocklist import` does
    try:
        path = tmp_path / "ids.txt"
        path.write_text("r5\n", encoding="utf-8")
        other.blocklists.import_file(path, actor="cli:ops")
    finally:
        other.close()
    assert store.safety.is_hidden("tiny", "r5")
    assert ("tiny", ["r5"]) in heard


def test_a_failing_listener_does_not_stop_hiding(store: ReviewStore, people, heard) -> None:
    def broken(dataset: str, ids: list[str]) -> None:
        raise OSError("disk full")

    store.on_hidden.insert(0, broken)
    store.flags.flag(people["alice"], "tiny", ref(2), "suspected_csam")
    assert heard == [("tiny", ["r2"])]
    assert store.safety.is_hidden("tiny", "r2")


def test_a_list_imported_while_matching_is_not_missed(
    store: ReviewStore, review_settings, catalog, tmp_path: Path
) -> None:
    """The CLI imports a list while the server is matching another: the next call sees it."""
    first = tmp_path / "md5.csv"
    first.write_text(f"md5\n{3:032x}\n", encoding="utf-8")
    second = tmp_path / "ids.txt"
    second.write_text("r7\n", encoding="utf-8")
    store.blocklists.import_file(first, actor="carol")
    resolve = make_resolver(catalog)

    def resolve_while_cli_imports(kind: str, values: list[str]) -> list[str]:
        cli = ReviewStore.open(review_settings)
        try:
            cli.blocklists.import_file(second, actor="cli:ops")
        finally:
            cli.close()
        return resolve(kind, values)

    store.safety.register_resolver("tiny", resolve_while_cli_imports)
    store.safety.hidden_sample_ids("tiny")
    assert store.safety.hidden_sample_ids("tiny") == {"r3", "r7"}
