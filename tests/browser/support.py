"""What the browser tests share."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.web.review_support import PASSWORD

SCREENSHOTS = Path(os.environ.get("LOUPE_SCREENSHOTS", "/tmp/loupe-screenshots"))
WIDTHS = (390, 1366, 1920)  # a phone, a laptop, a projector


def wait_until(page, expression: str, arg=None, timeout_s: float = 15.0) -> None:
    """Poll ``expression`` (a JS function of ``arg``) until it is truthy. Playwright's
    wait_for_function evaluates its predicate with eval, which the Content-Security-Policy
    (no 'unsafe-eval') refuses in the page; page.evaluate is not eval."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(50)


def sign_in(page, url: str, name: str) -> None:
    """Sign ``name`` in through the login form (password: review_support.PASSWORD)."""
    page.goto(url + "/login")
    page.fill("#login-name", name)
    page.fill("#login-password", PASSWORD)
    page.click(".login-form button[type=submit]")
    page.wait_for_selector(".whoami")


def shoot_at_widths(page, name: str) -> None:
    """A full-page screenshot at each of WIDTHS, failing if the page scrolls sideways."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(150)
        sideways = page.evaluate(
            "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
        )
        assert sideways <= 0, f"{name} at {width} px scrolls sideways by {sideways} px"
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
