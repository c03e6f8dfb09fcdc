"""ASGI middleware shared by every route."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send


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
