"""Link statuses per record and the rot figures drawn from them."""

from __future__ import annotations

import pytest

from app.images.linkstatus import LinkCheck, LinkStatusStore, domain_of


@pytest.fixture
def store(tmp_path):
    return LinkStatusStore(tmp_path / "linkstatus.sqlite3")


def test_record_and_read_back(store):
    store.record(LinkCheck("demo", "1", "dead", "HTTP 404", 404, "a.example"))
    got = store.get("demo", "1")
    assert (got.status, got.detail, got.http_status, got.domain) == (
        "dead",
        "HTTP 404",
        404,
        "a.example",
    )
    store.record(LinkCheck("demo", "1", "ok", "image fetched", 200, "a.example"))
    assert store.get("demo", "1").status == "ok"  # the latest check wins
    assert store.get("demo", "2") is None
    assert store.get("other", "1") is None


def test_unknown_status_refused(store):
    with pytest.raises(ValueError, match="unknown link status"):
        store.record(LinkCheck("demo", "1", "fine"))


def test_rot_stats_and_filters(store):
    rows = []
    for i in range(10):  # a.example: 8 alive of 10
        status = "ok" if i < 7 else ("changed" if i == 7 else "dead")
        rows.append(LinkCheck("demo", f"a{i}", status, domain="a.example"))
    for i, status in enumerate(["gone", "gone", "timeout", "ok"]):  # b.example: 1 of 4
        rows.append(LinkCheck("demo", f"b{i}", status, domain="b.example"))
    rows.append(LinkCheck("other", "z", "dead", domain="a.example"))
    assert store.record_many(rows) == 15

    stats = store.rot_stats("demo")
    assert stats.checked == 14 and stats.alive == 9
    assert stats.share_alive == pytest.approx(9 / 14)
    assert stats.by_status["gone"] == 2 and stats.by_status["opted_out"] == 0
    assert [(d.domain, d.checked, d.alive) for d in stats.by_domain] == [
        ("a.example", 10, 8),
        ("b.example", 4, 1),
    ]
    assert stats.by_domain[1].share_alive == 0.25
    assert store.rot_stats("demo", top_domains=1).by_domain[0].domain == "a.example"

    assert store.ids_with_status("demo", ["gone"]) == ["b0", "b1"]
    assert store.ids_with_status("demo", ["DROP TABLE"]) == []
    ids = [f"a{i}" for i in range(10)] + ["nope"] + [str(n) for n in range(1200)]
    statuses = store.statuses("demo", ids)
    assert statuses["a9"] == "dead" and "nope" not in statuses and len(statuses) == 10
    assert store.forget_dataset("other") == 1
    empty = store.rot_stats("nothing")
    assert empty.checked == 0 and empty.share_alive == 0.0


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.Example.COM/a.jpg", "example.com"),
        ("http://cdn.x.example:8080/p", "cdn.x.example"),
        ("not a url", None),
        (None, None),
        ("http://[::1]/x", "::1"),
    ],
)
def test_domain_of(url, domain):
    assert domain_of(url) == domain
