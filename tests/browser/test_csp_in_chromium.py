"""Every page under the Content-Security-Policy in Debian's chromium: no violation reported.

Chromium reports each refused inline script, inline style, style attribute, eval or
off-site load as a ``securitypolicyviolation`` event (and a console message); an init script
collects the events of every document, and the walk clicks what runs script: an htmx filter
swap, the lazily loaded charts, the dataset switcher (its listener lives in static/app.js),
the sign-in form and the review queue.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.config import Settings
from app.main import create_app
from app.web.middleware import CONTENT_SECURITY_POLICY
from tests.browser.support import SCREENSHOTS
from tests.conftest import LiveServer
from tests.web.review_support import PASSWORD, add_people

pytestmark = [pytest.mark.browser, pytest.mark.slow]


COLLECT = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " at " +
    (e.sourceFile || "") + ":" + e.lineNumber + " sample=" + e.sample);
});
"""


@pytest.fixture
def two_datasets(tiny_data_dir, tmp_path) -> Path:
    """The tiny dataset beside a second one, so the dataset switcher shows."""
    from tests.factories import build_dataset

    data_dir = tmp_path / "indexes"
    data_dir.mkdir()
    (data_dir / "tiny").symlink_to(tiny_data_dir / "tiny", target_is_directory=True)
    build_dataset(data_dir, "second", n=20, with_images=False)
    return data_dir


@pytest.fixture
def server(two_datasets, tmp_path):
    settings = Settings(data_dir=two_datasets, state_dir=tmp_path / "state", default_dataset="tiny")
    app = create_app(settings)
    with LiveServer(app) as server:
        add_people(app.state.workspace.review)
        yield server


class Watch:
    """Violations and console reports of every document the page loads, and every host."""

    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        self.hosts: set[str] = set()
        self.documents: list = []
        page.add_init_script(COLLECT)
        page.on("console", self._console)
        page.on("request", lambda request: self.hosts.add(urlsplit(request.url).netloc))
        page.on("response", self._response)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.console.append(message.text)

    def _response(self, response) -> None:
        if response.request.resource_type == "document":
            self.documents.append(response)

    def violations(self) -> list[str]:
        return self.page.evaluate("window.__csp || []") + self.console

    def check(self, where: str) -> None:
        self.page.wait_for_load_state("networkidle")
        assert self.violations() == [], where


def test_no_page_breaks_the_policy(server, page):
    url = server.url
    watch = Watch(page)
    page.set_default_timeout(20_000)
    for path in ["/", "/records/1003", "/overview", "/lab", "/login", "/records/nope"]:
        page.goto(url + path)
        watch.check(path)

    # The grid: an htmx swap (the filter form), the charts loaded lazily, the switcher.
    page.goto(url + "/")
    page.fill("input[name=q]", "cat")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=cat**")
    watch.check("a filtered grid, swapped by htmx")
    page.select_option("#ds-switch", "second")
    page.wait_for_url("**ds=second**")
    assert page.locator(".dataset-name, #ds-switch").first.is_visible()
    watch.check("the dataset switcher")
    assert page.eval_on_selector("#ds-switch", "el => el.value") == "second"

    # Signed in as a reviewer: the sign-in form, the review queue, the record page's flag form.
    page.goto(url + "/login")
    page.fill("#login-name", "alice")
    page.fill("#login-password", PASSWORD)
    page.click(".login-form button[type=submit]")
    page.wait_for_selector(".whoami")
    watch.check("signed in")
    for path in ["/review", "/records/1003", "/"]:
        page.goto(url + path)
        watch.check(path)

    assert watch.hosts == {urlsplit(url).netloc}  # nothing from another host
    assert watch.documents and all(
        d.headers["content-security-policy"] == CONTENT_SECURITY_POLICY for d in watch.documents
    )


def test_the_policy_really_refuses_inline_script(server, page):
    """The listener above hears a violation when there is one (a control for the test)."""
    watch = Watch(page)
    page.goto(server.url + "/login")
    page.evaluate(
        """() => { const s = document.createElement("script");
                   s.textContent = "window.__ran = true"; document.body.append(s); }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran === undefined")
    assert any("script-src" in v for v in watch.violations())


@pytest.mark.parametrize("width", [390, 1366, 1920])
def test_screenshots_with_the_switcher(server, browser, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(server.url + "/")
    watch.check(f"grid at {width}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"csp-grid-{width}.png"))
    context.close()
