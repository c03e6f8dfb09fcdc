"""The dataset overview, and filtering the grid on link status."""

from __future__ import annotations

import typing

from bs4 import BeautifulSoup

from app.catalog.filters import LinkStatus
from app.images.linkstatus import STATUSES, LinkCheck


def record_checks(client, statuses: dict[str, str]) -> None:
    links = client.app.state.workspace.images.links
    links.record_many(
        LinkCheck(dataset="tiny", sample_id=sid, status=status, domain="photos.example")
        for sid, status in statuses.items()
    )


def test_filter_statuses_match_the_link_store():
    assert set(typing.get_args(LinkStatus)) == set(STATUSES)


def test_overview_page_and_json(client):
    data = client.get("/api/overview").json()
    assert data["rows"] == 120 and data["visible_rows"] == 120
    assert data["links"]["checked"] == 0
    assert sum(v["count"] for v in data["facets"]["language"]) == 120
    page = BeautifulSoup(client.get("/overview").text, "html.parser")
    assert page.select_one("#stat-rows").text == "120"
    assert "check-links" in page.text


def test_link_status_filter_and_rot_figures(client):
    record_checks(client, {"1000": "ok", "1001": "dead", "1002": "dead", "1003": "gone"})
    dead = client.get("/api/records", params={"link": "dead"}).json()
    assert sorted(r["sample_id"] for r in dead["records"]) == ["1001", "1002"]
    assert dead["total"] == 2
    both = client.get("/api/records", params={"link": ["dead", "gone"], "q": "photo"}).json()
    assert both["total"] == 3
    facets = client.get("/api/facets", params={"link": "ok"}).json()
    assert sum(v["count"] for v in facets["language"]) == 1
    links = client.get("/api/overview").json()["links"]
    assert links["checked"] == 4 and links["alive"] == 1
    page = BeautifulSoup(client.get("/overview").text, "html.parser")
    assert page.select_one("#stat-alive").text == "25.0%"


def test_unknown_link_status_is_a_422(client):
    assert client.get("/api/records", params={"link": "bogus"}).status_code == 422
