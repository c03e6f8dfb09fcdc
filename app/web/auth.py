"""Signing in and out: the login page and the two routes that start and end a session.

Who is asking, the CSRF check and the role dependencies live in ``app.web.identity``.
"""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse

from app.review.errors import LoginFailed, RateLimited, http_status
from app.review.sessions import SESSION_COOKIE
from app.review.users import MAX_PASSWORD_LENGTH
from app.web.identity import get_review_store, is_https
from app.web.redirects import safe_next
from app.web.render import render

router = APIRouter(tags=["accounts"])


@router.get("/login", summary="The sign-in page")
async def login_page(
    request: Request,
    next_: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
):
    return render(request, "pages/login.html", {"next": safe_next(next_), "error": None})


@router.post(
    "/login",
    summary="Sign in with a name and password",
    responses={
        401: {"description": "Wrong name or password: the sign-in page again, saying so."},
        429: {"description": "Too many failed sign-ins: Retry-After says when to try again."},
    },
)
async def login(
    request: Request,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)] = "",
    next_: Annotated[str, Form(alias="next", max_length=2000)] = "/",
):
    store = get_review_store(request)
    address = request.client.host if request.client else None
    target = safe_next(next_)
    try:
        # argon2 takes a good part of a second on purpose: off the event loop.
        session, cookie = await to_thread.run_sync(
            lambda: store.sessions.login(name.strip(), password, address)
        )
    except (LoginFailed, RateLimited) as error:
        status = http_status(error)
        response = render(
            request,
            "pages/login.html",
            {"next": target, "error": str(error), "name": name[:64]},
            status_code=status,
        )
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after_s)
        return response
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # signing in again replaces the old session rather than leaving it live
        await to_thread.run_sync(lambda: store.sessions.logout(previous))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(value=cookie, **store.sessions.cookie_settings(secure=is_https(request)))
    return response


@router.post("/logout", summary="Sign out (ends the session on the server too)")
async def logout(request: Request):
    store = get_review_store(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    await to_thread.run_sync(lambda: store.sessions.logout(cookie))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=is_https(request), httponly=True, samesite="lax"
    )
    return response
