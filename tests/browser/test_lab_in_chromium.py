"""The threshold lab as a teacher uses it, in Debian's chromium through Playwright."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser.support import SCREENSHOTS, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def scores(page, strip: str) -> list[float]:
    """The similarity of each card of a boundary strip (unrounded, from the card's data)."""
    cards = page.locator(f".lab-strip-{strip} .strip-card")
    return [float(cards.nth(i).get_attribute("data-similarity")) for i in range(cards.count())]


def test_a_slider_moves_the_counts_and_the_boundary(live_server, page):
    page.goto(live_server.url + "/lab?ds=tiny&similarity_min=0.3&focus=similarity_min")
    kept_before = page.locator(".lab-kept .lab-big").inner_text()
    assert scores(page, "kept") and min(scores(page, "kept")) >= 0.3
    assert scores(page, "dropped") and max(scores(page, "dropped")) < 0.3

    slider = page.locator("#lab-similarity_min")
    slider.focus()
    with page.expect_response(re.compile(r"/lab\?.*similarity_min=0\.3[1-9]")):
        for _ in range(20):  # arrow keys nudge the focused slider by one step
            page.keyboard.press("ArrowRight")
    wait_until(
        page,
        "(before) => document.querySelector('.lab-kept .lab-big').innerText !== before",
        kept_before,
    )
    value = float(parse_qs(urlsplit(page.url).query)["similarity_min"][0])
    assert value > 0.3
    assert page.locator("output[for=lab-similarity_min]").inner_text() == f"{value:g}"
    assert min(scores(page, "kept")) >= value > max(scores(page, "dropped"))
    kept = int(page.locator(".lab-kept .lab-big").inner_text().replace(",", ""))
    dropped = int(page.locator(".lab-dropped .lab-big").inner_text().replace(",", ""))
    assert kept + dropped == 120

    # Turning a threshold on from its box: the URL and the counts follow.
    page.locator("input.lab-use[data-for=lab-aesthetic_min]").check()
    page.wait_for_url(re.compile(r"aesthetic_min="))
    assert "aesthetic_min" in parse_qs(urlsplit(page.url).query)


def test_a_preset_sets_the_url_and_presentation_mode_fits_a_projector(live_server, browser):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto(live_server.url + "/lab?ds=tiny&present=1")
    page.get_by_role("link", name="LAION-Aesthetics V2 5+").click()
    page.wait_for_url(re.compile(r"aesthetic_min=5"))
    query = parse_qs(urlsplit(page.url).query)
    assert float(query["aesthetic_min"][0]) == 5 and query["lang"] == ["en"]
    assert query["present"] == ["1"]
    assert page.locator(".lab-present").count() == 1
    for zoom in (1, 1.5, 2):  # 100-200 % zoom: nothing scrolls sideways
        page.evaluate(f"document.body.style.zoom = '{zoom}'")
        wide = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert wide, f"sideways scroll at {zoom * 100:.0f} %"
    page.evaluate("document.body.style.zoom = '1'")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "lab-presentation-1920.png"))
    context.close()


def test_the_record_page_says_what_each_model_decided(live_server, page):
    page.goto(live_server.url + "/records/1000?ds=tiny")
    verdicts = page.locator("ol.verdicts > li")
    assert verdicts.count() == 6
    assert "punsafe" in page.locator(".verdict-summary").inner_text()  # 1000 is blurred
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "record-verdicts.png"), full_page=True)
