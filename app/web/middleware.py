"""ASGI middleware shared by every route."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What a page may load: its own scripts, styles, images and fetches, nothing from another
# origin, nothing inline. ``img-src data:`` is for the empty favicon (``<link rel="icon"
# href="data:,">``). No workers: the map draws with its own WebGL code on the page. No
# ``'unsafe-inline'``, no ``'unsafe-eval'``: htmx is told not to inject its indicator <style>
# nor to eval (the ``htmx-config`` meta in templates/base.html).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # pages also say so in <meta name="referrer">
}


def with_security_headers(headers: MutableHeaders) -> None:
    """Add the headers a response does not set itself (the image route sets a stricter CSP
    of its own for SVG placeholders, and keeps it)."""
    for name, value in SECURITY_HEADERS.items():
        if name not in headers:
            headers[name] = value


class SecurityHeaders:
    """Every response — pages, API, static files, images, errors, redirects, the 413 of
    ``LimitRequestBody`` — carries ``SECURITY_HEADERS``. Installed outermost of our
    middleware; the 500 page of Starlette's ServerErrorMiddleware is answered outside every
    middleware, so app.web.errors adds the same headers to it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                with_security_headers(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AnswerHead:
    """``HEAD`` is answered wherever ``GET`` is (monitors and link checkers use it).

    FastAPI's routes answer only the methods they declare, and declaring HEAD on each would
    double every operation in the OpenAPI document; instead a HEAD request is run as the
    GET it mirrors, once, here, and its body dropped: status and headers (Content-Length
    included) are the GET's. A path without GET answers HEAD with the GET's 405 and its
    ``Allow`` header. The GET's work is done in full (like Starlette's own HEAD handling);
    HEAD is for checking, not for saving the server work."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        finished = False

        async def send_without_body(message: Message) -> None:
            nonlocal finished
            if message["type"] != "http.response.body":
                await send(message)
            elif not finished:
                if message.get("more_body", False):
                    return  # wait for the last chunk, so the response ends once
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app(dict(scope, method="GET"), receive, send_without_body)


class DropEmptyQueryParams:
    """A plain HTML form sends every input, the empty ones as ``name=``; on a GET form that
    means "no value". Dropping them here, once, keeps every route's validation simple:
    ``?similarity_min=`` is the same request as no ``similarity_min`` at all."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            raw = scope["query_string"].decode("latin-1")
            items = parse_qsl(raw, keep_blank_values=True)
            kept = [(k, v) for k, v in items if v.strip() != ""]
            if len(kept) != len(items):
                scope = dict(scope, query_string=urlencode(kept).encode("latin-1"))
        await self.app(scope, receive, send)


class LimitRequestBody:
    """Refuse (413) a request whose body is larger than ``max_bytes``, before anything parses
    it: uploads are read whole (and multipart parsing spools them to disk), so an unbounded
    body would be a way to fill memory or disk."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"the request body is larger than {self.max_bytes:,} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass
