"""Error pages keep the dataset, the filters and the navigation, and lead with a sentence."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from bs4 import BeautifulSoup

from tests.factories import build_dataset


def page_of(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def link(page: BeautifulSoup, text: str) -> str:
    found = [a["href"] for a in page.select(".error-links a") if text in a.get_text()]
    assert found, f"no link {text!r}"
    return found[0]


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query)


@pytest.mark.parametrize(
    ("url", "status", "lead", "at_fault", "grid"),
    [
        # A page size above the cap: the grid again, with the other filters, without size.
        (
            "/?size=5000&lang=en&punsafe_max=0.4",
            400,
            "is at most",
            ["size"],
            [("lang", "en"), ("punsafe_max", "0.4")],
        ),
        ("/?page=100000&q=cat", 400, "is deeper than", ["page"], [("q", "cat")]),
        # A value the schema refuses, on another page: the lab again without it, and the grid.
        (
            "/lab?similarity_min=7&lang=de",
            422,
            "similarity_min",
            ["similarity_min"],
            [("lang", "de")],
        ),
        ("/?sort=bogus&ds=tiny&q=dog", 422, "sort", ["sort"], [("ds", "tiny"), ("q", "dog")]),
        # An unknown dataset: dropped from the links; the navigation is the default dataset's.
        ("/overview?ds=nope&lang=en", 404, "no dataset named 'nope'", ["ds"], [("lang", "en")]),
        (
            "/records/does-not-exist?ds=tiny",
            404,
            "no record 'does-not-exist'",
            [],
            [("ds", "tiny")],
        ),
        ("/nowhere?lang=fr", 404, "There is no page at /nowhere.", [], [("lang", "fr")]),
    ],
)
def test_an_error_page_leads_with_a_sentence_and_keeps_the_filters(
    client, url, status, lead, at_fault, grid
):
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    page = page_of(response)
    # The first thing in <main> is the sentence.
    heading = page.select_one("main h1")
    assert heading is page.select_one("main").find(["h1", "h2", "p"])
    assert lead in heading.get_text(" ", strip=True)
    # A message is capitalised by CSS (the text stays the JSON's); one that starts with the
    # parameter's name starts with it as code.
    code = heading.find("code")
    assert ("is-sentence" in heading["class"]) is (code is None)
    assert heading.get_text(strip=True)[-1] == "."
    assert str(status) in page.select_one(".error-status").get_text()
    # Back to the grid, with every filter but the one at fault.
    back = link(page, "Back to the grid")
    assert urlsplit(back).path == "/"
    assert query_of(back) == grid
    for name in at_fault:
        assert name not in dict(query_of(back))
        assert name in page.select_one("main").get_text()
    # The header keeps its navigation, on the dataset of the request (or the default one).
    nav = [a["href"] for a in page.select(".topbar nav a")]
    assert "/?ds=tiny" in nav and "/overview?ds=tiny" in nav and "/docs" in nav
    assert page.select_one(".dataset-name").get_text() == "tiny"


def test_the_page_asked_for_is_offered_again_without_what_it_refused(client):
    page = page_of(client.get("/lab?similarity_min=7&lang=de&present=1"))
    again = link(page, "Open /lab again")
    assert urlsplit(again).path == "/lab"
    assert query_of(again) == [("lang", "de"), ("present", "1")]
    assert client.get(again).status_code == 200
    assert "Back to the grid with your filters" in page.get_text()


def test_a_grid_link_without_filters_says_so(client):
    page = page_of(client.get("/nowhere"))
    assert link(page, "Back to the grid") == "/"
    assert "with your filters" not in page.select_one(".error-links").get_text()


def test_several_refused_values_are_listed(client):
    page = page_of(client.get("/?similarity_min=7&aesthetic_max=99"))
    assert page.select_one("main h1").get_text() == "The address has 2 values this page cannot use."
    fields = {code.get_text() for code in page.select(".error-details code")}
    assert fields == {"similarity_min", "aesthetic_max"}


def test_the_dataset_of_the_request_is_kept(tiny_data_dir, tmp_path):
    """With two datasets, the error keeps the one the request named."""
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    data_dir = tmp_path / "indexes"
    data_dir.mkdir()
    (data_dir / "tiny").symlink_to(tiny_data_dir / "tiny", target_is_directory=True)
    build_dataset(data_dir, "second", n=20, with_images=False)
    settings = Settings(data_dir=data_dir, state_dir=tmp_path / "state", default_dataset="tiny")
    with TestClient(create_app(settings)) as client:
        page = page_of(client.get("/?ds=second&size=5000"))
        assert page.select_one("#ds-switch option[selected]")["value"] == "second"
        assert "/overview?ds=second" in [a["href"] for a in page.select(".topbar nav a")]
        assert query_of(link(page, "Back to the grid")) == [("ds", "second")]


def test_json_errors_are_unchanged(client):
    response = client.get("/api/records", params={"size": 5000})
    assert response.status_code == 400
    assert response.json() == {"detail": "size is at most 200 records per page (got 5000)"}
    asked = client.get("/?size=5000", headers={"Accept": "application/json"})
    assert asked.json()["detail"].startswith("size is at most")


def test_a_method_not_allowed_page_says_so(client):
    response = client.delete("/overview")
    assert response.status_code == 405
    assert "/overview does not answer DELETE requests." in page_of(response).select_one("h1").text


def test_an_error_rendered_with_only_status_and_message_is_a_whole_page(client):
    """app.web.identity answers a refused form with the page and just its message."""
    client.get("/login")  # the visitor's CSRF cookie
    response = client.post("/prefs/blur", data={"blur": "off"}, headers={"Accept": "text/html"})
    assert response.status_code == 403
    page = page_of(response)
    lead = page.select_one("main h1").get_text(" ", strip=True)
    assert "security token" in lead or "expired" in lead
    assert page.select_one(".error-status").get_text(strip=True) == "Error 403"
    assert link(page, "Back to the grid") == "/"
