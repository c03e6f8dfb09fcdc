"""Bad input gets a clear 4xx message, as JSON for the API and as a page for people."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.catalog.connection import QueryTimeout
from app.explore.semantic import MeaningUnavailable
from app.vectors.models import ModelError
from app.web.middleware import with_security_headers
from app.web.render import render


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _respond(request: Request, status: int, message: str, details: list | None = None) -> Response:
    if wants_json(request):
        body: dict = {"detail": message}
        if details:
            body["errors"] = details
        return JSONResponse(body, status_code=status)
    return render(
        request,
        "pages/error.html",
        {"status": status, "message": message, "details": details or []},
        status_code=status,
    )


def describe_validation(error: RequestValidationError) -> tuple[str, list[dict]]:
    details = []
    for item in error.errors():
        location = ".".join(
            str(part) for part in item.get("loc", ()) if part not in ("query", "body")
        )
        details.append({"field": location, "message": item.get("msg", "invalid")})
    summary = "; ".join(
        f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details
    )
    return f"Invalid request: {summary}", details


def allowed_methods(request: Request) -> str:
    """Every method some route answers at this path (``HEAD`` wherever ``GET`` is).

    Starlette's 405 names only the methods of the first route whose path matched, so
    ``OPTIONS /login`` said ``Allow: GET`` though ``POST /login`` exists too. FastAPI's own
    walk over its routes (the one that builds the OpenAPI document) finds them all."""
    scope = request.scope
    path = scope["path"]
    root = scope.get("app_root_path", scope.get("root_path", ""))
    if root and path.startswith(root):
        path = path[len(root) :]
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        regex = getattr(route, "path_regex", None)
        if regex is None or not regex.match(path):
            continue
        # A mount (the static files) answers GET and HEAD only.
        methods |= set(route.methods or {"GET", "HEAD"})
    if "GET" in methods:
        methods.add("HEAD")  # app.web.middleware.AnswerHead
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        message, details = describe_validation(error)
        return _respond(request, 422, message, details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        response = _respond(request, error.status_code, str(error.detail))
        for key, value in (error.headers or {}).items():
            response.headers[key] = value
        if error.status_code == 405:
            response.headers["Allow"] = allowed_methods(request)
        return response

    @app.exception_handler(MeaningUnavailable)
    async def meaning_unavailable(request: Request, error: MeaningUnavailable) -> Response:
        return _respond(request, 409, str(error))

    @app.exception_handler(ModelError)
    async def model_missing(request: Request, error: ModelError) -> Response:
        return _respond(request, 503, f"the model cannot be loaded: {error}")

    @app.exception_handler(QueryTimeout)
    async def timeout_error(request: Request, error: QueryTimeout) -> Response:
        return _respond(request, 503, f"{error}; narrow the filters and try again")

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> Response:
        # Starlette answers this outside every middleware (and re-raises, so the traceback
        # is still logged): the security headers are added here, and no detail leaks.
        try:
            response = _respond(request, 500, "internal server error")
        except Exception:  # the error page itself failed to render
            response = JSONResponse({"detail": "internal server error"}, status_code=500)
        with_security_headers(response.headers)
        return response
