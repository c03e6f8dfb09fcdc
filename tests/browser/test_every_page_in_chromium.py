"""Every page, in Debian's chromium, on a phone, a laptop and a projector.

The walk visits each page a person reaches — the grid, a caption search, a record, the
overview, the lab, the map (when the route exists), the review queue as a reviewer, the
sign-in page, the API page, a 404 and a 400 — at 390, 1366 and 1920 px wide, and fails on
any request to a host other than the server (nothing leaves the machine: no CDN, no fonts)
and on any page wider than the window (no sideways scroll). Then what a person does there:
filters that fold away on a phone, a reveal that can be undone, the skip link and focus
rings, the upload button while it searches.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
from PIL import Image

from app.config import Settings
from app.main import create_app
from app.review.flags import RecordRef
from app.review.sessions import SESSION_COOKIE
from tests.conftest import LiveServer
from tests.web.review_support import add_people

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = (390, 1366, 1920)
UNSAFE = "1000"  # every tenth record of the tiny dataset has punsafe 0.9: blurred
PLAIN = "1003"


@pytest.fixture(scope="module")
def server(tiny_data_dir, tmp_path_factory):
    state = tmp_path_factory.mktemp("every-page") / "state"
    app = create_app(Settings(data_dir=tiny_data_dir, state_dir=state))
    with LiveServer(app) as server:
        review = app.state.workspace.review
        add_people(review)
        # One open flag, so the queue has a row (a long note, as people write them).
        row = app.state.workspace.catalog.record("tiny", "1004")
        note = "watermark across the middle, see https://example.org/" + "x" * 80
        review.flags.flag(
            review.users.get("fiona"),
            "tiny",
            RecordRef(row["sample_id"], row["url"]),
            "copyright_watermark",
            note,
        )
        server.app = app
        yield server


def reviewer_context(browser, server, width: int):
    """A browser context signed in as the reviewer alice (a session made by the store: the
    sign-in form has its own tests)."""
    review = server.app.state.workspace.review
    _, cookie = review.sessions.create(review.users.get("alice"))
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": server.url}])
    return context


class Offsite:
    """Every request a page makes to a host other than the server."""

    def __init__(self, page, server_url: str) -> None:
        self.host = urlsplit(server_url).netloc
        self.seen: list[str] = []
        page.on("request", self._request)

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.netloc != self.host:
            self.seen.append(request.url)


def pages(server) -> list[tuple[str, str, int]]:
    walk = [
        ("grid", "/", 200),
        ("grid with a search", "/?q=astronaut", 200),
        ("record (blurred)", f"/records/{UNSAFE}", 200),
        ("record", f"/records/{PLAIN}", 200),
        ("overview", "/overview", 200),
        ("lab", "/lab?punsafe_max=0.5&focus=punsafe_max", 200),
        ("review queue", "/review", 200),
        ("API docs", "/docs", 200),
        ("404", "/records/no-such-record?lang=en", 404),
        ("400", "/?size=5000&lang=en", 400),
    ]
    if any(getattr(route, "path", None) == "/map" for route in server.app.routes):
        walk.append(("map", "/map", 200))
    return walk


def page_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def wider_than_window(page) -> list[str]:
    """The elements that stick out on the right (for the failure message)."""
    return page.evaluate(
        """() => { const w = window.innerWidth, out = [];
          for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            if (r.right > w + 1) out.push(`${el.tagName}.${el.className} ${Math.round(r.right)}`);
          }
          return out.slice(0, 8); }"""
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_stays_on_the_machine_and_in_the_window(server, browser, width):
    context = reviewer_context(browser, server, width)
    page = context.new_page()
    page.set_default_timeout(30_000)
    offsite = Offsite(page, server.url)
    problems: list[str] = []
    for name, path, status in pages(server):
        response = page.goto(server.url + path, wait_until="networkidle")
        assert response is not None and response.status == status, f"{name}: {response.status}"
        scroll, window = page_width(page)
        if scroll > window:
            problems.append(
                f"{name} ({path}) is {scroll} px wide at {window}: {wider_than_window(page)}"
            )
    context.close()

    # Signed out: the sign-in page.
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    offsite_anonymous = Offsite(page, server.url)
    page.goto(server.url + "/login", wait_until="networkidle")
    scroll, window = page_width(page)
    if scroll > window:
        problems.append(f"login is {scroll} px wide at {window}: {wider_than_window(page)}")
    context.close()

    assert offsite.seen + offsite_anonymous.seen == [], "requests left the machine"
    assert problems == []


def test_filters_fold_away_on_a_phone(server, browser):
    for width, folded in ((390, True), (1366, False)):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(server.url + "/", wait_until="networkidle")
        panel = page.locator("details.filters-panel")
        assert panel.evaluate("d => d.open") is (not folded)
        first_card = page.locator("#grid li.card").first.bounding_box()
        if folded:
            # The first picture shows on the first screen, under a "Filters" button.
            assert first_card["y"] < 450
            assert not page.locator("#q").is_visible()
            page.locator(".filters-summary").click()
            assert page.locator("#q").is_visible()
            page.fill("#q", "astronaut")
            page.keyboard.press("Enter")
            page.wait_for_url("**q=astronaut**")
        else:
            assert page.locator("#q").is_visible()
            assert not page.locator(".filters-summary").is_visible()
        context.close()


def test_without_javascript_the_filters_show_or_open_with_one_click(server, browser):
    """Wide, CSS shows the closed panel's content (::details-content); on a phone the
    "Filters" button opens it, as <details> does without any script."""
    for width, shown in ((1366, True), (390, False)):
        context = browser.new_context(
            viewport={"width": width, "height": 900}, java_script_enabled=False
        )
        page = context.new_page()
        page.goto(server.url + "/")
        assert page.locator("#q").is_visible() is shown
        assert page.locator(".filters-summary").is_visible() is not shown
        if not shown:
            page.locator(".filters-summary").click()
            assert page.locator("#q").is_visible()
        page.fill("#q", "cat")
        page.click("#filters button[type=submit]")
        page.wait_for_url("**q=cat**")
        context.close()


def blur_of(locator) -> str:
    return locator.evaluate("img => getComputedStyle(img).filter")


@pytest.mark.parametrize(
    ("path", "blurred"),
    [
        ("/", "#grid li.card.is-blurred"),
        (f"/records/{UNSAFE}", ".record-image.is-blurred"),
        ("/lab?punsafe_max=0.5&focus=punsafe_max", ".strip-card.is-blurred"),
    ],
)
def test_a_reveal_can_be_undone(server, page, path, blurred):
    page.goto(server.url + path, wait_until="networkidle")
    holder = page.locator(blurred).first
    image, again = holder.locator("img").first, holder.locator(".reblur")
    holder.scroll_into_view_if_needed()
    assert "blur" in blur_of(image)
    assert not again.is_visible()  # nothing to undo yet
    holder.locator("label.reveal").click()
    assert blur_of(image) == "none"
    assert again.is_visible() and again.inner_text() == "Blur again"
    again.click()
    assert "blur" in blur_of(image)
    assert holder.locator("label.reveal").is_visible() and not again.is_visible()


def test_the_skip_link_comes_first_and_focus_shows(server, page):
    page.goto(server.url + "/", wait_until="networkidle")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        """() => { const el = document.activeElement, r = el.getBoundingClientRect(),
                   s = getComputedStyle(el);
                   return {text: el.textContent, href: el.getAttribute('href'), top: r.top,
                           outline: s.outlineStyle, width: parseFloat(s.outlineWidth)}; }"""
    )
    assert focused["text"] == "Skip to results" and focused["href"] == "#results"
    assert focused["top"] >= 0  # on screen while focused
    assert focused["outline"] != "none" and focused["width"] >= 2  # a visible ring
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#results"
    page.keyboard.press("Tab")  # the next stop is in the results, past header and filters
    assert page.evaluate("document.activeElement.closest('#results') !== null")
    # Elsewhere it skips to the page's content.
    page.goto(server.url + "/overview")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    assert page.locator("main#main").count() == 1


def test_a_focused_control_shows_a_ring(server, page):
    page.goto(server.url + "/docs")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand
    style = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
    )
    assert style[0] != "none" and style[1] >= 2


# Runs after static/app.js's own submit listener (on document; this one is on window): it
# notes what the button says while the upload is on its way. Playwright cannot evaluate in a
# page whose navigation is pending, so the note is read on the page that answers.
NOTE_BUTTON = """
window.addEventListener("submit", (event) => {
  const button = event.target.querySelector("button[type=submit]");
  sessionStorage.setItem("upload-button", JSON.stringify(
    [button.textContent, button.disabled, event.target.getAttribute("aria-busy")]));
});
"""


def test_the_upload_button_says_it_is_searching(server, page, tmp_path):
    picture = tmp_path / "query.png"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buffer, format="PNG")
    picture.write_bytes(buffer.getvalue())
    sent = []

    def answer(route) -> None:  # the search itself is tested elsewhere: answer at once
        sent.append(route.request.method)
        route.fulfill(status=200, content_type="text/html", body="<p>answered</p>")

    page.add_init_script(NOTE_BUTTON)
    page.route("**/search/image**", answer)
    page.goto(server.url + "/", wait_until="networkidle")
    form = page.locator("form.upload")
    assert form.count() == 1, "the tiny dataset has image embeddings: the upload form shows"
    form.locator("input[type=file]").set_input_files(str(picture))
    assert form.locator("button[type=submit]").inner_text() == "Find similar"
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=answered")
    assert sent == ["POST"]
    noted = page.evaluate("JSON.parse(sessionStorage.getItem('upload-button'))")
    assert noted == ["Searching…", True, "true"]
