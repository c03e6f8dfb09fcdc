"""A reviewer flags a record as suspected CSAM in Debian's chromium; then nothing shows it.

After the flag, every page is walked — the grid, a caption search that matches it, its record
page, the JSON API, its image URLs, an export — as the reviewer and as a signed-out visitor,
asserting that neither its id nor its picture appears anywhere; its cached thumbnails are gone
from disk. Only the review queue still names it, by id and URL hash, without a link or image.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from app.config import Settings
from tests.browser.support import SCREENSHOTS, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def shot(page, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def cached_files(settings: Settings, sample_id: str) -> list[Path]:
    digest = hashlib.sha256(sample_id.encode()).hexdigest()
    return list((settings.thumbnail_cache_dir / "tiny" / digest[:2]).glob(f"{digest}.*"))


def image_responses(page) -> list:
    """Every image response the page receives from now on."""
    seen: list = []
    page.on("response", lambda r: seen.append(r) if r.request.resource_type == "image" else None)
    return seen


def mentions(text: str, sample_id: str) -> list[str]:
    """Ways a page could show or link the record (a bare number may occur inside a score)."""
    patterns = [
        f'data-sample-id="{sample_id}"',
        f"/images/{sample_id}/",
        f"/records/{sample_id}",
        f'"sample_id": "{sample_id}"',
        f'"sample_id":"{sample_id}"',
        f"<code>{sample_id}</code>",
        f'"{sample_id}","http',  # a CSV row
    ]
    return [p for p in patterns if p in text]


def test_flagged_csam_record_disappears_from_every_page(review_server, page, browser):
    url, app = review_server.url, review_server.app
    sign_in(page, url, "alice")
    page.goto(url + "/?lang=en")
    card = page.locator("#grid li.card:not(.is-blurred)").nth(2)
    sample_id = card.get_attribute("data-sample-id")
    caption = app.state.workspace.catalog.record("tiny", sample_id)["caption"]
    word = caption.split()[3].strip(",")  # the subject: "A photo of a <subject>, ..."
    card.locator("img").evaluate("img => img.decode()")
    picture = page.request.get(f"{url}/images/{sample_id}/thumb?ds=tiny").body()
    assert cached_files(review_server.settings, sample_id), "the grid should have cached it"

    # The flag form on the card.
    card.locator("details.flag-menu summary").click()
    card.locator("select[name=category]").select_option("suspected_csam")
    card.locator("textarea[name=note]").fill("seen in the grid")
    card.scroll_into_view_if_needed()
    shot(page, "review-card-flag-form")
    card.locator(".flag-form button[type=submit]").click()
    removed = page.locator("#grid li.card-removed")
    removed.wait_for()
    assert sample_id not in removed.inner_html()
    assert page.locator(f'#grid li.card[data-sample-id="{sample_id}"]').count() == 0
    assert cached_files(review_server.settings, sample_id) == []

    # The queue keeps only its id, URL hash and the flag.
    page.goto(url + "/review")
    row = page.locator("tr.is-csam")
    assert row.count() == 1 and sample_id in row.inner_text()
    assert row.locator("a, img").count() == 0
    shot(page, "review-queue", full_page=True)

    walked = [
        "/?size=200",
        "/?size=200&lang=en",
        f"/?q={word}&size=200",
        f"/?q={word}",
        "/overview",
        "/api/records?size=200",
        f"/api/records?q={word}&size=200",
        "/api/facets",
        "/export?format=csv",
        "/export?format=jsonl",
        f"/export?format=csv&q={word}",
    ]
    anonymous = browser.new_context()
    try:
        for who, context_page in (("alice", page), ("anonymous", anonymous.new_page())):
            responses = image_responses(context_page)
            bodies: list[bytes] = []
            for path in walked:
                response = context_page.request.get(url + path)
                assert response.ok, f"{who} {path}: {response.status}"
                assert mentions(response.text(), sample_id) == [], f"{who} {path}"
            for path in ("/?size=200", f"/?q={word}"):
                context_page.goto(url + path)
                context_page.wait_for_load_state("networkidle")
                # Bodies must be read before the next navigation.
                bodies += [r.body() for r in responses if r.ok]
                responses.clear()
                images = context_page.eval_on_selector_all("img", "els => els.map(e => e.src)")
                assert images and not any(f"/images/{sample_id}/" in src for src in images)
                assert mentions(context_page.content(), sample_id) == []
            assert bodies and picture not in bodies, f"{who} was served the flagged picture"
            for path in (
                f"/records/{sample_id}?ds=tiny",
                f"/api/records/{sample_id}?ds=tiny",
                f"/images/{sample_id}/thumb?ds=tiny",
                f"/images/{sample_id}/display?ds=tiny",
            ):
                response = context_page.request.get(url + path)
                assert response.status == 404, f"{who} {path}: {response.status}"
                assert response.body() != picture
            total = context_page.request.get(url + "/api/records").json()["total"]
            assert total == 119
            facet_total = sum(
                v["count"] for v in context_page.request.get(url + "/api/facets").json()["language"]
            )
            assert facet_total == 119
    finally:
        anonymous.close()
    assert re.fullmatch(r"\d+", sample_id)
