"""What a person does on the grid, in Debian's chromium through Playwright."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.support import SCREENSHOTS, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def test_search_filter_and_reveal(live_server, page):
    page.goto(live_server.url + "/")
    page.wait_for_selector("#grid li.card")
    assert page.locator("#total-count").inner_text() == "120"
    shot(page, "grid")

    # Typing a caption search updates the grid and the URL (htmx, hx-push-url).
    with page.expect_response(re.compile(r"/\?.*q=astronaut")):
        page.fill("#q", "astronaut")
    wait_until(page, "() => document.querySelector('#total-count').innerText !== '120'")
    captions = page.locator("#grid .caption").all_inner_texts()
    assert captions and all("astronaut" in c for c in captions)
    assert parse_qs(urlsplit(page.url).query)["q"] == ["astronaut"]

    # Picking a language narrows further; the URL records both filters.
    with page.expect_response(re.compile(r"lang=de")):
        page.locator("input[name=lang][value=de]").check()
    wait_until(
        page,
        "() => [...document.querySelectorAll('#grid .badge-lang')]"
        ".every(b => b.innerText === 'de')",
    )
    query = parse_qs(urlsplit(page.url).query)
    assert query["q"] == ["astronaut"] and query["lang"] == ["de"]
    assert page.locator("#grid li.card").count() >= 1
    shot(page, "search-de")

    # Back restores the previous state of the grid.
    page.go_back()
    wait_until(page, "() => !location.search.includes('lang=de')")
    assert "lang" not in parse_qs(urlsplit(page.url).query)


def test_blurred_image_is_revealed_by_a_click(live_server, page):
    page.goto(live_server.url + "/?punsafe_min=0.8")
    card = page.locator("#grid li.card.is-blurred").first
    image = card.locator("img")
    assert "blur" in image.evaluate("el => getComputedStyle(el).filter")
    shot(page, "blurred")
    card.locator("label.reveal").click()
    assert image.evaluate("el => getComputedStyle(el).filter") == "none"
    # Only the clicked card is revealed.
    other = page.locator("#grid li.card.is-blurred").nth(1).locator("img")
    assert "blur" in other.evaluate("el => getComputedStyle(el).filter")
    shot(page, "revealed")


def test_grid_works_without_javascript(live_server, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + "/")
    page.fill("#q", "cat")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"q=cat"))
    assert all("cat" in c.lower() for c in page.locator("#grid .caption").all_inner_texts())
    context.close()


def test_record_page(live_server, page):
    page.goto(live_server.url + "/")
    page.locator("#grid li.card a.thumb").first.click()
    page.wait_for_url(re.compile(r"/records/"))
    assert page.locator("ol.verdicts").is_visible()
    assert page.locator(".record-image img").evaluate("el => el.naturalWidth") > 0
    shot(page, "record")


def test_search_by_meaning_then_more_like_this(live_server, page):
    page.goto(live_server.url + "/")
    page.locator("input[name=mode][value=meaning]").check()
    with page.expect_response(re.compile(r"mode=meaning.*q=|q=.*mode=meaning")):
        page.fill("#q", "a photo of a dog")
    page.wait_for_selector("#grid .badge-knn")
    query = parse_qs(urlsplit(page.url).query)
    assert query["mode"] == ["meaning"] and query["q"] == ["a photo of a dog"]
    matches = [float(t.split()[1]) for t in page.locator("#grid .badge-knn").all_inner_texts()]
    assert matches == sorted(matches, reverse=True)
    assert "dog" in page.locator("#grid .caption").first.inner_text()
    shot(page, "meaning")

    first = page.locator("#grid li.card").first
    source_id = first.get_attribute("data-sample-id")
    first.locator("a.more-like").click()
    page.wait_for_url(re.compile(rf"like={source_id}"))
    assert source_id in page.locator(".like-banner a").first.get_attribute("href")
    ids = page.locator("#grid li.card").evaluate_all("cs => cs.map(c => c.dataset.sampleId)")
    assert ids and source_id not in ids
    shot(page, "more-like-this")
