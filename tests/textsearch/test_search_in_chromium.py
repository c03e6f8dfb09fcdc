"""A caption search that finds nothing leads on, in Debian's chromium through Playwright."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(os.environ.get("LOUPE_SCREENSHOTS", "/tmp/loupe-screenshots"))


def test_an_empty_search_leads_to_contains_and_meaning(live_server, page):
    page.goto(live_server.url + "/")
    page.wait_for_selector("#grid li.card")
    # "astro" is no word of any caption, but part of "astronaut".
    with page.expect_response(re.compile(r"/\?.*q=astro")):
        page.fill("#q", "astro")
    empty = page.locator("#no-caption-match")
    empty.wait_for()
    assert "No caption has the words “astro”" in empty.inner_text()
    assert empty.locator("a.try-meaning").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in (390, 1366, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        empty.scroll_into_view_if_needed()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(SCREENSHOTS / f"empty-search-{width}.png"))
    page.set_viewport_size({"width": 1280, "height": 900})

    empty.locator("a.try-contains").click()
    page.wait_for_selector("#grid li.card")
    query = parse_qs(urlsplit(page.url).query)
    assert query["contains"] == ["astro"] and "q" not in query
    captions = page.locator("#grid .caption").all_inner_texts()
    assert captions and all("astronaut" in c for c in captions)
