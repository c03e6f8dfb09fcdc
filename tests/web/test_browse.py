"""The grid and the record page through the real app, checked by parsing the HTML."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def cards(page: BeautifulSoup) -> list:
    return page.select("#grid li.card")


def test_grid_shows_cards_and_total(client):
    response = client.get("/")
    assert response.status_code == 200
    page = soup(response)
    assert page.select_one("#total-count").text == "120"
    assert len(cards(page)) == 48
    # Default order is CLIP similarity, highest first.
    sims = [
        float(b.text.split()[1])
        for b in page.select("#grid .badge[title='CLIP image–text similarity']")
    ]
    assert sims == sorted(sims, reverse=True)


def test_caption_search_and_language_filter(client):
    page = soup(client.get("/", params={"q": "astronaut", "lang": "en"}))
    found = cards(page)
    assert found
    for card in found:
        assert "astronaut" in card.select_one(".caption").text
        assert card.select_one(".badge-lang").text == "en"
    language_boxes = page.select("input[name=lang]")
    checked = [box["value"] for box in language_boxes if box.has_attr("checked")]
    assert checked == ["en"]
    # The language facet ignores its own filter, so other languages stay selectable.
    assert {"de", "fr"} <= {box["value"] for box in language_boxes}


def test_htmx_request_gets_the_partial_with_out_of_band_facets(client):
    response = client.get("/", params={"q": "cat"}, headers={"HX-Request": "true"})
    page = soup(response)
    assert page.select_one("html") is None
    assert page.select_one("#grid") is not None
    assert page.select_one("#facet-panel")["hx-swap-oob"] == "true"


def test_unsafe_images_are_blurred_until_revealed(client):
    page = soup(client.get("/", params={"punsafe_min": 0.8}))
    found = cards(page)
    assert found
    for card in found:
        assert "is-blurred" in card["class"]
        assert card.select_one("input.reveal-toggle") is not None


def csrf_token(client) -> str:
    page = soup(client.get("/"))
    return page.select_one("form.blur-toggle input[name=csrf_token]")["value"]


def test_blur_can_be_turned_off_for_the_session(client):
    response = client.post(
        "/prefs/blur",
        data={"blur": "off", "back": "/?punsafe_min=0.8", "csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/?punsafe_min=0.8"
    page = soup(client.get("/", params={"punsafe_min": 0.8}))
    assert not any("is-blurred" in card["class"] for card in cards(page))


def test_blur_redirect_never_leaves_the_site(client):
    response = client.post(
        "/prefs/blur",
        data={"blur": "off", "back": "https://evil.example/", "csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_captions_are_escaped(client):
    response = client.get("/", params={"contains": "script"})
    page = soup(response)
    assert page.select("#grid script") == []
    assert '<script>alert("x")</script>' in page.select_one("#grid .caption").text
    assert "&lt;script&gt;" in response.text


def test_keyset_pages_continue_in_order(client):
    first = client.get("/api/records", params={"size": 50}).json()
    second = client.get(first["next"]).json()
    positions = [r["pos"] for r in first["records"]] + [r["pos"] for r in second["records"]]
    assert positions == list(range(100))


def test_random_sample_is_seeded(client):
    a = client.get("/api/records", params={"sort": "random", "seed": 5, "size": 10}).json()
    b = client.get("/api/records", params={"sort": "random", "seed": 5, "size": 10}).json()
    c = client.get("/api/records", params={"sort": "random", "seed": 6, "size": 10}).json()
    ids = lambda r: [x["sample_id"] for x in r["records"]]  # noqa: E731
    assert ids(a) == ids(b) != ids(c)


def test_record_page_shows_provenance(client):
    response = client.get("/records/1001")
    page = soup(response)
    link = page.select_one(".facts .url a")
    assert link["rel"] == ["noopener", "noreferrer", "nofollow"]
    assert page.select_one(".url-text").text.startswith("https://www.")
    verdicts = {li.select_one("strong").text: li for li in page.select("ol.verdicts li")}
    assert list(verdicts) == [
        "Alt text and size rules",
        "Language",
        "CLIP similarity",
        "NSFW detector (punsafe)",
        "Watermark detector (pwatermark)",
        "Aesthetic predictor",
    ]
    assert "0.28" in verdicts["CLIP similarity"].text
    # A verdict is said in words and a mark, not in colour alone.
    assert verdicts["CLIP similarity"].select_one(".verdict-mark").text in ("✓", "✗")
    assert "passes" in verdicts["CLIP similarity"].text or "does not pass" in (
        verdicts["CLIP similarity"].text
    )
    # The two attributions corrected in issue 10.
    assert "EfficientNet" in verdicts["Watermark detector (pwatermark)"].text
    assert "not CLIP-based" in verdicts["Watermark detector (pwatermark)"].text
    assert "zero-shot CLIP keyword matching" in page.text
    assert page.select_one(".verdict-summary").text.startswith(("kept by", "below the"))
    assert page.select_one("details.raw pre").text.strip().startswith("{")
    domain = client.get("/api/records/1001").json()["domain"]
    assert page.select_one(f"a[href='/?ds=tiny&domain={domain}']").text == domain


@pytest.mark.parametrize(
    ("url", "status", "phrase"),
    [
        ("/?similarity_min=2", 422, "similarity_min"),
        ("/?punsafe_min=0.9&punsafe_max=0.1", 422, "greater than"),
        ("/?size=5000", 400, "at most"),
        ("/?page=100000", 400, "deeper"),
        ("/?ds=nope", 404, "no dataset"),
        ("/records/does-not-exist", 404, "no record"),
        ("/?sort=bogus", 422, "sort"),
        ("/?q=" + "x" * 500, 422, "q"),
    ],
)
def test_bad_input_gets_a_clear_4xx_page(client, url, status, phrase):
    response = client.get(url)
    assert response.status_code == status
    message = soup(response).select_one(".error-message").text
    assert phrase.lower() in message.lower()  # the page's first sentence starts with a capital


def test_empty_form_fields_mean_no_filter(client):
    response = client.get(
        "/api/records",
        params={"q": "", "similarity_min": "", "seed": "", "lang": "", "min_width": " "},
    )
    assert response.status_code == 200
    assert response.json()["total"] == 120


def test_blur_preference_needs_the_csrf_token(client):
    response = client.post("/prefs/blur", data={"blur": "off"}, follow_redirects=False)
    assert response.status_code == 403


def test_classroom_mode_hides_rather_than_blurs(tiny_data_dir, tmp_path):
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app

    settings = Settings(
        data_dir=tiny_data_dir,
        state_dir=tmp_path / "state",
        classroom_mode=True,
        classroom_words=["Astronaut"],
    )
    with TestClient(create_app(settings)) as classroom:
        page = soup(classroom.get("/", params={"size": 200}))
        banner = page.select_one(".banner").text  # the threshold, and how many it hides
        assert "punsafe above 0.5" in banner and "records in this dataset" in banner
        shown = cards(page)
        assert shown and not any("is-blurred" in card["class"] for card in shown)
        assert not any("astronaut" in c.select_one(".caption").text.lower() for c in shown)
        records = classroom.get("/api/records", params={"size": 200}).json()["records"]
        assert all(r["punsafe"] <= 0.5 for r in records)
        # Hidden means hidden everywhere: search, record page, image, meaning search.
        assert classroom.get("/api/records", params={"q": "astronaut"}).json()["total"] == 0
        unsafe = "1000"  # every tenth record of the tiny dataset has punsafe 0.9
        assert classroom.get(f"/records/{unsafe}").status_code == 404
        assert classroom.get(f"/images/{unsafe}/thumb").status_code == 404
        meaning = classroom.get("/api/search", params={"q": "astronaut", "mode": "meaning"})
        assert all(
            "astronaut" not in r["caption"].lower() and r["punsafe"] <= 0.5
            for r in meaning.json()["records"]
        )
