"""The overview shows the server's paths to admins only; classroom mode says what it hides."""

from __future__ import annotations

from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from app.catalog.filters import RecordFilter
from app.config import Settings
from app.main import create_app
from app.review.flags import RecordRef
from tests.web.review_support import add_people, review_client, sign_in


def built(page: BeautifulSoup) -> BeautifulSoup:
    section = page.select_one(".overview-built")
    assert section is not None
    return section


@pytest.mark.parametrize("who", [None, "vic", "alice"])
def test_visitors_see_file_names_only(settings, who):
    with review_client(settings) as (client, app):
        sign_in(client, app, who)
        paths = app.state.workspace.datasets["tiny"].manifest.source_files
        assert paths and all("/" in p for p in paths)
        data = client.get("/api/overview").json()
        assert data["source_files"] == [Path(p).name for p in paths]
        assert data["paths_shown"] is False
        store = data["image_store"]
        assert store is None or "/" not in (store.get("path") or "")
        page = BeautifulSoup(client.get("/overview").text, "html.parser")
        section = built(page)
        shown = [code.get_text() for code in section.select(".path-list code")]
        assert shown == [Path(p).name for p in paths]
        assert "paths shown to admins" in section.get_text()
        assert not any(p in page.text for p in paths)


def test_admins_see_the_paths(settings):
    with review_client(settings) as (client, app):
        sign_in(client, app, "carol")
        paths = app.state.workspace.datasets["tiny"].manifest.source_files
        data = client.get("/api/overview").json()
        assert data["source_files"] == paths and data["paths_shown"] is True
        section = built(BeautifulSoup(client.get("/overview").text, "html.parser"))
        assert [code.get_text() for code in section.select(".path-list code")] == paths
        assert "paths shown to admins" not in section.get_text()


@pytest.fixture
def classroom(tiny_data_dir, tmp_path):
    settings = Settings(
        data_dir=tiny_data_dir,
        state_dir=tmp_path / "state",
        classroom_mode=True,
        classroom_words=["astronaut", "red panda"],
    )
    with TestClient(create_app(settings)) as client:
        add_people(client.app.state.workspace.review)
        yield client


def test_classroom_banner_says_the_threshold_and_how_many(classroom):
    workspace = classroom.app.state.workspace
    dataset = workspace.datasets["tiny"]
    everyone = workspace.catalog.count("tiny", [])
    shown = classroom.get("/api/count").json()["total"]
    hidden = workspace.explorer.classroom_hidden(dataset)
    assert hidden == everyone - shown > 0
    for url in ("/", "/overview", "/lab", "/docs", "/nowhere"):
        banner = BeautifulSoup(classroom.get(url).text, "html.parser").select_one(".banner")
        text = banner.get_text(" ", strip=True)
        assert "records with punsafe above 0.5" in text, url
        assert "captions with 2 listed words" in text, url
        assert f"{hidden:,} records in this dataset" in text, url
    # An htmx swap of the grid does not carry the banner (nor count for it).
    partial = classroom.get("/", headers={"HX-Request": "true"})
    assert 'class="banner"' not in partial.text


def test_overview_hidden_count_includes_classroom_mode(classroom):
    workspace = classroom.app.state.workspace
    data = classroom.get("/api/overview").json()
    hidden = workspace.explorer.classroom_hidden(workspace.datasets["tiny"])
    assert data["hidden_by_classroom"] == hidden
    assert data["hidden_by_review"] == 0
    assert data["hidden_rows"] == hidden
    assert data["visible_rows"] == data["rows"] - data["hidden_rows"]
    page = BeautifulSoup(classroom.get("/overview").text, "html.parser")
    assert page.select_one("#stat-hidden").text == f"{hidden:,}"
    assert f"{hidden:,} by classroom mode" in page.text


def test_classroom_count_follows_the_hidden_set(classroom):
    """Kept per hidden-set version: a record hidden by a flag is no longer counted as hidden
    by classroom mode (it is hidden by the flag), and a visible one flagged changes nothing."""
    workspace = classroom.app.state.workspace
    explorer, dataset = workspace.explorer, workspace.datasets["tiny"]
    before = explorer.classroom_hidden(dataset)
    assert explorer.classroom_hidden(dataset) == before  # kept
    unsafe = workspace.catalog.record("tiny", "1000")
    assert unsafe["punsafe"] > 0.5  # every tenth record of the tiny dataset
    visible = classroom.get("/api/records", params={"size": 1}).json()["records"][0]
    review = workspace.review
    alice = review.users.get("alice")
    for row in (unsafe, visible):
        ref = RecordRef(sample_id=row["sample_id"], url=row["url"])
        review.flags.flag(alice, "tiny", ref, "suspected_csam")
    classroom.get("/")  # each request brings the hidden sets up to date
    assert explorer.classroom_hidden(dataset) == before - 1
    data = classroom.get("/api/overview").json()
    assert data["hidden_by_review"] == 2
    assert data["hidden_rows"] == 2 + before - 1


def test_no_classroom_no_banner_no_count(client):
    workspace = client.app.state.workspace
    assert workspace.explorer.classroom_hidden(workspace.datasets["tiny"]) == 0
    assert BeautifulSoup(client.get("/").text, "html.parser").select_one(".banner") is None
    data = client.get("/api/overview").json()
    assert data["hidden_by_classroom"] == 0 and data["hidden_rows"] == data["hidden_by_review"]
    assert workspace.explorer.count(workspace.datasets["tiny"], RecordFilter()) == 120
