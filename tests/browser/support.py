"""What the browser tests share."""

from __future__ import annotations

import time


def wait_until(page, expression: str, arg=None, timeout_s: float = 15.0) -> None:
    """Poll ``expression`` (a JS function of ``arg``) until it is truthy. Playwright's
    wait_for_function evaluates its predicate with eval, which the Content-Security-Policy
    (no 'unsafe-eval') refuses in the page; page.evaluate is not eval."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(50)
