"""In Debian's chromium: a reviewer flags a card as suspected CSAM, is told what happened (the
record is hidden for everyone, what happens next, where to report), follows "What happens
next", and finds the flag in the review queue; a second reviewer confirms it, which quarantines
its look-alikes; an admin sees the quarantine by id and URL hash only, and the report page.

Screenshots go to $LOUPE_SCREENSHOTS (default /tmp/loupe-screenshots) at 390, 1366 and 1920 px:
no page scrolls sideways, and no request leaves the loopback server.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.support import SCREENSHOTS, shoot_at_widths, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_flag_notice_queue_quarantine_and_report_pages(review_server, page, browser):
    url = review_server.url
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
    sign_in(page, url, "alice")
    page.goto(url + "/?lang=en")
    card = page.locator("#grid li.card:not(.is-blurred)").nth(1)
    sample_id = card.get_attribute("data-sample-id")
    card.locator("details.flag-menu summary").click()
    card.locator("select[name=category]").select_option("suspected_csam")
    card.locator(".flag-form button[type=submit]").click()
    removed = page.locator("#grid li.card-removed")
    removed.wait_for()
    text = removed.inner_text()
    assert "hidden for everyone" in text and "How to report it" in text
    assert sample_id not in removed.inner_html()
    removed.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "csam-card-notice.png"))

    removed.locator('a[href^="/review/flagged"]').click()
    page.wait_for_selector("h1:has-text('Flagged as suspected CSAM')")
    assert page.locator(".csam-notice-report a").count() == 3
    assert page.locator("main img").count() == 0
    shoot_at_widths(page, "csam-notice-page")

    page.goto(url + "/review?category=suspected_csam")
    row = page.locator("tr.is-csam")
    assert row.count() == 1 and sample_id in row.inner_text()
    assert "awaiting a second reviewer" in row.inner_text()
    assert row.locator("a, img").count() == 0
    shoot_at_widths(page, "csam-review-queue-reviewer")

    # A second reviewer confirms: the look-alikes are quarantined in the same answer.
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        bob = other.new_page()
        bob.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
        sign_in(bob, url, "bob")
        bob.goto(url + "/review?category=suspected_csam")
        bob.locator("tr.is-csam button.decide-confirm").click()
        bob.locator("tr.is-csam .quarantine-count").wait_for()
        assert "quarantined" in bob.locator("tr.is-csam").inner_text()
    finally:
        other.close()

    sign_in(page, url, "carol")
    page.goto(url + "/review?category=suspected_csam")
    shoot_at_widths(page, "csam-review-queue-admin")
    page.goto(url + "/review/quarantine")
    assert page.locator("#quarantine img").count() == 0
    shoot_at_widths(page, "quarantine-page")
    page.goto(url + "/review?category=suspected_csam")
    page.locator("tr.is-csam a.report-link").click()
    page.wait_for_selector(".report-page")
    assert page.locator("#report-url").count() == 0
    page.locator(".report-page form button[type=submit]").click()
    page.wait_for_selector("#report-url")
    stored = page.locator("#report-url").inner_text()
    assert stored.startswith("https://")
    assert page.locator(f'a[href="{stored}"], img[src="{stored}"]').count() == 0, "text only"
    shoot_at_widths(page, "report-url-page")
    assert hosts == {urlsplit(url).netloc}, f"requests left the server: {hosts}"
