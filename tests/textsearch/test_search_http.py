"""Caption search through the real app: plurals over HTTP, and what an empty search offers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from bs4 import BeautifulSoup

from tests.factories import SUBJECTS

# The tiny dataset's captions are "A photo of a <subject>, picture number <i>", subjects in
# turn; the languages cycle through en, de, fr, es, ja and nl whatever the words are.
ASTRONAUT_ROWS = [i for i in range(120) if SUBJECTS[i % len(SUBJECTS)] == "astronaut"]


def records(client, **params) -> list[dict]:
    response = client.get("/api/records", params={"size": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["records"]


def test_a_plural_finds_the_singular_captions(client):
    found = records(client, q="astronauts")
    # Whatever language CLD3 would have said: English, German, French, Spanish, Japanese...
    assert sorted(r["sample_id"] for r in found) == sorted(str(1000 + i) for i in ASTRONAUT_ROWS)
    assert all("astronaut" in r["caption"] for r in found)
    assert len(records(client, q="Astronaut")) == len(found)
    english = records(client, q="astronauts", lang="en")
    assert english and all(r["language"] == "en" for r in english)
    assert len(english) < len(found)


def test_an_empty_caption_search_offers_contains_and_meaning(client):
    response = client.get("/", params={"q": "zebras crossing", "lang": "en"})
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    empty = page.select_one("#grid #no-caption-match")
    assert empty is not None and "zebras crossing" in empty.text
    contains = urlsplit(empty.select_one("a.try-contains")["href"])
    assert contains.path == "/"
    assert parse_qs(contains.query) == {"contains": ["zebras crossing"], "lang": ["en"]}
    meaning = urlsplit(empty.select_one("a.try-meaning")["href"])  # the tiny set has vectors
    assert parse_qs(meaning.query) == {
        "q": ["zebras crossing"],
        "lang": ["en"],
        "mode": ["meaning"],
    }
    for link in (contains, meaning):
        assert client.get(f"{link.path}?{link.query}").status_code == 200


def test_the_offer_is_only_made_for_caption_words(client):
    page = BeautifulSoup(client.get("/", params={"contains": "zebras"}).text, "html.parser")
    assert page.select_one("#no-caption-match") is None
    assert "No record matches" in page.select_one("#grid li.empty").text
    page = BeautifulSoup(client.get("/", params={"q": "astronauts"}).text, "html.parser")
    assert page.select_one("#no-caption-match") is None


def test_without_vectors_only_contains_is_offered(client, monkeypatch):
    from app.explore.semantic import MeaningStatus

    workspace = client.app.state.workspace
    monkeypatch.setattr(
        workspace.semantic,
        "status",
        lambda dataset: MeaningStatus(False, False, False, False, None, {}),
    )
    page = BeautifulSoup(client.get("/", params={"q": '"zebras"'}).text, "html.parser")
    empty = page.select_one("#no-caption-match")
    assert empty.select_one("a.try-meaning") is None
    assert parse_qs(urlsplit(empty.select_one("a.try-contains")["href"]).query) == {
        "contains": ["zebras"]
    }
    assert " ".join(empty.text.split()).endswith("Try captions containing “zebras”.")
