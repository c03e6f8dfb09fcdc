"""Who is asking, and the CSRF check on every state-changing request (the login routes are in
``app.web.auth``).

Two app-wide dependencies run before every route (see ``create_app``):

- ``load_identity`` reads the session cookie (one SQLite read) and works out the CSRF token
  the pages of this response carry; signed-out visitors get a random key in a cookie of their
  own, so the login form and the blur toggle are protected too;
- ``guard`` refuses anonymous visitors when ``LOUPE_REQUIRE_LOGIN`` is on, and refuses any
  request that is not GET/HEAD/OPTIONS unless it carries the token (``X-CSRF-Token`` header
  from htmx, ``csrf_token`` field from a plain form). Being app-wide, no route can forget it.

Role checks are dependencies too (``ReviewerDep``, ``AdminDep`` in ``app.web.deps``): a viewer gets
403, a signed-out visitor is sent to the login page (401 for the API and for images).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.review.errors import LoginRequired, RateLimited, ReviewError, http_status
from app.review.sessions import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Session, require_role
from app.review.store import ReviewStore
from app.review.users import User
from app.web.errors import wants_json
from app.web.render import is_htmx, render

CSRF_COOKIE = "loupe_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POST only because they carry an upload or a vector; they change nothing, so API clients
# need no token.
READ_ONLY_POSTS = frozenset({"/api/search/image", "/api/search/vector"})
# Reachable without signing in even when LOUPE_REQUIRE_LOGIN is on.
PUBLIC_PATHS = frozenset({"/login", "/logout", "/healthz"})
_CSRF_KEY = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


@dataclass(frozen=True)
class Identity:
    session: Session | None
    csrf_token: str
    csrf_key: str | None  # signed-out visitors: the key their token is bound to

    @property
    def user(self) -> User | None:
        return self.session.user if self.session else None


def get_review_store(request: Request) -> ReviewStore:
    return request.app.state.workspace.review


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


async def load_identity(request: Request) -> Identity:
    """Who is asking, and the CSRF token their pages carry.

    A session cookie means a SQLite read, done off the event loop; an anonymous request
    (most of them) needs none, and skips the thread hop."""
    cached = getattr(request.state, "identity", None)
    if cached is not None:
        return cached
    store = get_review_store(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = await to_thread.run_sync(store.sessions.load, cookie) if cookie else None
    key = None
    if session is not None:
        token = session.csrf_token
    else:
        key = request.cookies.get(CSRF_COOKIE)
        if not key or not _CSRF_KEY.match(key):
            key = secrets.token_urlsafe(32)
            # render() sets it on the page that carries the token bound to it.
            request.state.csrf_cookie = {
                "key": CSRF_COOKIE,
                "value": key,
                "httponly": True,
                "samesite": "lax",
                "secure": is_https(request),
                "path": "/",
            }
        token = store.sessions.csrf_token_for("anonymous:" + key)
    identity = Identity(session=session, csrf_token=token, csrf_key=key)
    request.state.identity = identity
    request.state.user = identity.user
    request.state.csrf_token = token
    return identity


IdentityDep = Annotated[Identity, Depends(load_identity)]


async def guard(request: Request, identity: IdentityDep) -> None:
    """App-wide: sign-in when required, and the CSRF token on every state-changing request."""
    settings = request.app.state.settings
    if settings.require_login and identity.user is None and request.url.path not in PUBLIC_PATHS:
        raise LoginRequired("sign in to view this site")
    await csrf_protect(request, identity)


async def csrf_protect(request: Request, identity: IdentityDep) -> None:
    """Refuse (403) a state-changing request without this session's token.

    ``guard`` already runs it for every route; a route may also name it (``CsrfDep``) to say so
    in its signature."""
    if request.method not in SAFE_METHODS and request.url.path not in READ_ONLY_POSTS:
        await check_csrf(request, identity)


async def check_csrf(request: Request, identity: Identity) -> None:
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            # Starlette caches the parsed form, so the route's Form fields reuse this parse.
            value = (await request.form()).get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
    store = get_review_store(request)
    bound_to: Session | str | None
    if identity.session is not None:
        bound_to = identity.session
    elif identity.csrf_key and request.cookies.get(CSRF_COOKIE) == identity.csrf_key:
        bound_to = "anonymous:" + identity.csrf_key
    else:
        bound_to = None  # no cookie came with the request: the form is not from this browser
    store.sessions.verify_csrf(bound_to, token)


async def current_user(identity: IdentityDep) -> User | None:
    return identity.user


async def require_reviewer(identity: IdentityDep) -> User:
    return require_role(identity.user, "reviewer")


async def require_admin(identity: IdentityDep) -> User:
    return require_role(identity.user, "admin")


# --- errors ----------------------------------------------------------------------------------
def wants_page(request: Request) -> bool:
    """A person's browser navigating (not the API, not an image, not an htmx swap)."""
    return (
        request.method == "GET"
        and not request.url.path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
        and not is_htmx(request)
    )


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def error_response(request: Request, status: int, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=status)
    return render(
        request,
        "pages/error.html",
        {"status": status, "message": message, "details": []},
        status_code=status,
    )


def install(app: FastAPI) -> None:
    """Map the review store's errors to HTTP statuses (one table: ``http_status``)."""

    @app.exception_handler(ReviewError)
    async def review_error(request: Request, error: ReviewError) -> Response:
        if isinstance(error, LoginRequired):
            if wants_page(request):
                return RedirectResponse(login_url(request), status_code=303)
            response = error_response(request, 401, str(error))
            if is_htmx(request):
                response.headers["HX-Redirect"] = "/login"
            return response
        response = error_response(request, http_status(error), str(error))
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after_s)
        return response
