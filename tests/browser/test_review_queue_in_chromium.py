"""The review queue in Debian's chromium: a reviewer flags a record with its near-duplicates
from its record page; the queue shows one batch with the record's caption and thumbnail; a
second reviewer confirms the whole batch with a note, and the counts follow without a reload;
a dismissal carries its note; suspected CSAM is listed without a caption or picture; the same
works without JavaScript.

Screenshots go to $LOUPE_SCREENSHOTS (default /tmp/loupe-screenshots) at 390, 1366 and 1920 px:
the page never scrolls sideways, and no request leaves the loopback server.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from app.review.flags import RecordRef
from tests.browser.support import SCREENSHOTS, shoot_at_widths, sign_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LEAD = "1084"  # a record of the tiny dataset with near-duplicates


COUNTS_ROW = """label => {
  const row = [...document.querySelectorAll('#flag-counts-panel tbody tr')]
    .find(tr => tr.querySelector('th').innerText.trim() === label);
  return row ? [...row.querySelectorAll('td')].map(td => td.innerText.trim()) : null;
}"""


def counts(page, label: str) -> list[str] | None:
    """The counts panel's row of a category: open, confirmed, dismissed, total."""
    return page.evaluate(COUNTS_ROW, label)


def counts_table(html: BeautifulSoup) -> dict[str, list[str]]:
    return {
        row.select_one("th").text.strip(): [td.text.strip() for td in row.select("td")]
        for row in html.select("#flag-counts-panel tbody tr")
    }


def test_a_batch_from_flag_to_decision(review_server, page, browser):
    url, app = review_server.url, review_server.app
    store = app.state.workspace.review
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))

    # Beside the batch: a blurred (punsafe 0.9) flag, and a suspected-CSAM one.
    fiona = store.users.get("fiona")
    unsafe = store.flags.flag(fiona, "tiny", RecordRef("1010"), "sexual").flags[0].id
    store.flags.flag(fiona, "tiny", RecordRef("1033"), "suspected_csam", "seen in the grid")
    csam_caption = app.state.workspace.catalog.record("tiny", "1033")["caption"]

    # Alice flags a record and its near-duplicates from its record page.
    sign_in(page, url, "alice")
    page.goto(f"{url}/records/{LEAD}?ds=tiny")
    panel = page.locator("#flag-panel")
    panel.locator("select[name=category]").select_option("copyright_watermark")
    panel.locator("textarea[name=note]").fill("the same stock-photo watermark")
    panel.locator("input[name=near_duplicates]").check()
    panel.locator("button[type=submit]").click()
    page.locator("#flag-panel .flag-message").wait_for()
    flagged = page.locator("#flag-panel .flag-message").inner_text()
    members = int(flagged.split("Flagged ")[1].split(" records")[0])
    assert members > 1, flagged

    # The queue: one batch, with the record's caption and thumbnail.
    page.goto(url + "/review")
    rows = page.locator("#queue tbody tr.flag-row")
    assert rows.count() == 3
    batch = page.locator("tr.batch-row")
    assert batch.count() == 1
    others = members - 1
    expected = f"Flagged this record and {others} near-duplicate{'' if others == 1 else 's'}"
    assert batch.locator(".batch-summary").inner_text() == expected
    caption = app.state.workspace.catalog.record("tiny", LEAD)["caption"]
    assert batch.locator(".queue-caption").inner_text() == caption
    thumb = batch.locator(".queue-thumb img")
    thumb.evaluate("img => img.decode()")
    assert thumb.evaluate("img => img.naturalWidth") > 0
    batch.locator("details.batch-members summary").click()
    assert batch.locator("details.batch-members li").count() == members
    assert "awaiting a second reviewer" in batch.locator(".actions").inner_text()
    # The unsafe thumbnail is blurred until revealed; suspected CSAM has none at all.
    blurred = page.locator(f"#flag-{unsafe} .queue-thumb")
    assert "blur" in blurred.locator("img").evaluate("img => getComputedStyle(img).filter")
    blurred.locator("label.reveal").click()
    assert blurred.locator("img").evaluate("img => getComputedStyle(img).filter") == "none"
    csam = page.locator("tr.is-csam")
    assert csam.locator("img, a, .queue-caption").count() == 0
    assert csam_caption not in page.content()
    shoot_at_widths(page, "review-queue-batch-flagger")

    # Bob confirms the whole batch at once, with a note; the counts follow, no reload.
    other = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        bob = other.new_page()
        bob.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
        sign_in(bob, url, "bob")
        bob.goto(url + "/review")
        assert counts(bob, "Copyright / watermark") == [str(members), "0", "0", str(members)]
        shoot_at_widths(bob, "review-queue-batch-second-reviewer")
        bob.evaluate("() => { window.stillHere = true; }")
        row = bob.locator("tr.batch-row")
        row.locator("textarea[name=note]").fill("all copies of one stock photo")
        row.locator("button.decide-confirm").click()
        wait_until(
            bob,
            "() => document.querySelector('tr.batch-row .status-cell').innerText.trim()"
            f" === '{members} confirmed'",
        )
        assert bob.evaluate("() => window.stillHere === true"), "the page was reloaded"
        confirmed = json.dumps(["0", str(members), "0", str(members)])
        wait_until(
            bob,
            f"() => JSON.stringify(({COUNTS_ROW})('Copyright / watermark'))"
            f" === JSON.stringify({confirmed})",
        )
        row = bob.locator("tr.batch-row")
        assert row.locator(".decision-note").inner_text() == "all copies of one stock photo"
        assert store.flags.count() == members + 2
        assert len(store.audit.entries(action="flag.confirm")) == members

        # A dismissal with a note, on the blurred flag.
        single = bob.locator(f"#flag-{unsafe}")
        single.locator("textarea[name=note]").fill("a beach photo, nothing sexual")
        single.locator("button.decide-dismiss").click()
        bob.locator(f"#flag-{unsafe} .decision-note").wait_for()
        assert counts(bob, "Sexual content") == ["0", "0", "1", "1"]
        assert store.flags.get(unsafe).decision_note == "a beach photo, nothing sexual"
        shoot_at_widths(bob, "review-queue-batch-decided")
    finally:
        other.close()
    assert hosts == {urlsplit(url).netloc}, f"requests left the server: {hosts}"


def test_a_batch_is_decided_without_javascript(review_server, browser):
    url, app = review_server.url, review_server.app
    store = app.state.workspace.review
    records = [RecordRef(str(n)) for n in (1050, 1051, 1052)]
    store.flags.flag(store.users.get("fiona"), "tiny", records, "hateful", "a slur in the caption")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 900})
    try:
        page = context.new_page()
        sign_in(page, url, "gus")
        page.goto(url + "/review?category=hateful")
        row = page.locator("tr.batch-row")
        assert row.locator(".batch-summary").inner_text() == (
            "Flagged this record and 2 near-duplicates"
        )
        row.locator("textarea[name=note]").fill("song lyrics")
        row.locator("button.decide-dismiss").click()
        page.wait_for_load_state()
        assert page.url == url + "/review?category=hateful"
        assert page.locator("tr.batch-row .status-cell").inner_text().strip() == "3 dismissed"
        assert page.locator("tr.batch-row .decision-note").inner_text() == "song lyrics"
        page_counts = counts_table(BeautifulSoup(page.content(), "html.parser"))
        assert page_counts["Hateful"] == ["0", "0", "3", "3"]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "review-queue-no-js-390.png"), full_page=True)
    finally:
        context.close()
