"""One URL, two renderings: the full page, or for an htmx request the partial inside it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app.catalog.schema import BY_NAME, LINK_STATUSES, SCORES, SORT_LABELS
from app.config import Settings
from app.review.flags import CATEGORY_LABELS


@dataclass(frozen=True)
class PageSettings:
    """The settings pages show or act on, and nothing else: templates never see the whole
    Settings object (its secret key, its file paths)."""

    punsafe_threshold: float
    classroom_mode: bool
    classroom_words: int  # how many words are listed (the words themselves are not shown)
    thumbnail_size: int
    duplicate_threshold: float
    max_knn_results: int  # how many nearest records a search by meaning ranks
    query_vector_days: int  # how long an uploaded picture's embedding is kept

    @classmethod
    def of(cls, settings: Settings) -> PageSettings:
        return cls(
            punsafe_threshold=settings.punsafe_threshold,
            classroom_mode=settings.classroom_mode,
            classroom_words=len(settings.classroom_words),
            thumbnail_size=settings.thumbnail_size,
            duplicate_threshold=settings.duplicate_threshold,
            max_knn_results=settings.max_knn_results,
            query_vector_days=max(1, round(settings.query_vector_ttl_s / 86400)),
        )


def make_templates(directory: Path, settings: Settings) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(directory))
    env = templates.env
    env.autoescape = True  # every template, whatever its extension: data is never trusted
    # Templates ship with the code: checking every file's mtime on each render cost ~5% of a
    # loaded server's time.
    env.auto_reload = False
    env.filters["score"] = format_score
    env.filters["thousands"] = lambda n: f"{int(n):,}" if n is not None else "–"
    env.filters["pretty_json"] = lambda value: json.dumps(
        value, indent=2, ensure_ascii=False, default=str
    )
    env.globals["columns"] = BY_NAME
    env.globals["settings"] = PageSettings.of(settings)
    env.globals["url_with"] = url_with
    # The lists pages offer, each from its one definition.
    env.globals["flag_categories"] = CATEGORY_LABELS  # the flag form on cards and records
    env.globals["sort_labels"] = SORT_LABELS
    env.globals["scores"] = SCORES
    env.globals["link_statuses"] = LINK_STATUSES
    return templates


def is_htmx(request: Request) -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(
    request: Request,
    page: str,
    context: dict[str, Any],
    *,
    partial: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``partial`` for htmx requests (when given) and ``page`` otherwise."""
    templates: Jinja2Templates = request.app.state.templates
    name = partial if (partial and is_htmx(request)) else page
    context = {
        "request": request,
        "blur_off": request.cookies.get("loupe_blur") == "off",
        "datasets": getattr(getattr(request.app.state, "workspace", None), "datasets", {}),
        # Set by app.web.auth for every request: who is signed in, and the CSRF token that
        # forms (hidden field) and htmx (hx-headers in base.html) send back.
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        **context,
    }
    if name == page and context.get("dataset") is not None and "classroom_hidden" not in context:
        hidden = classroom_hidden(request, context["dataset"])
        if hidden is not None:  # the banner says how many (templates/base.html)
            context["classroom_hidden"] = hidden
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Vary"] = "HX-Request"
    # Pages carry a per-visitor token: never kept by a shared cache.
    response.headers.setdefault("Cache-Control", "private, no-cache")
    cookie = getattr(request.state, "csrf_cookie", None)
    if cookie:  # a signed-out visitor's first page: the key its CSRF token is bound to
        response.set_cookie(**cookie)
    return response


def classroom_hidden(request: Request, dataset: Any) -> int | None:
    """For classroom mode's banner (templates/base.html): how many records of the page's
    dataset it hides; None when it is off. The explorer keeps the figure per hidden-set
    version, so only the first page after a change of the hidden set pays for two counts."""
    workspace = getattr(request.app.state, "workspace", None)
    if workspace is None or not request.app.state.settings.classroom_mode:
        return None
    return workspace.explorer.classroom_hidden(dataset)


def url_with(request: Request, path: str | None = None, **changes: Any) -> str:
    """The current URL with some query parameters replaced (None removes one)."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    for key, value in changes.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            items.extend((key, str(v)) for v in value)
        else:
            items.append((key, str(value)))
    query = urlencode(items)
    return (path or request.url.path) + (f"?{query}" if query else "")


def format_score(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)
