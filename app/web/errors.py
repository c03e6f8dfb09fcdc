"""Bad input gets a clear 4xx message, as JSON for the API and as a page for people."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

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


def _respond(
    request: Request,
    status: int,
    message: str,
    details: list | None = None,
    params: tuple[str, ...] = (),
) -> Response:
    """The error as JSON (``ErrorBody``) or as a page; ``params`` names the query parameters
    at fault, when known, so the page can offer the same request without them."""
    if wants_json(request):
        body: dict = {"detail": message}
        if details:
            body["errors"] = details
        return JSONResponse(body, status_code=status)
    return render(
        request,
        "pages/error.html",
        error_page_context(request, status, message, details or [], params),
        status_code=status,
    )


# --- the error page ------------------------------------------------------------------------
# An error keeps the visitor where they were: the dataset of the request (its ``ds`` when that
# names a dataset, else the default one) gives the header its navigation, and the links go
# back to the grid, and to the page asked for, with every filter of the request but the
# parameters at fault.


def dataset_for_page(request: Request) -> dict[str, Any]:
    """``{"dataset": handle}`` for a page that is not about one dataset (an error, /docs):
    the request's ``ds`` when it names one, else the default dataset; ``{}`` when there is
    none (templates test ``dataset is defined``)."""
    workspace = getattr(request.app.state, "workspace", None)
    datasets = getattr(workspace, "datasets", None) or {}
    handle = datasets.get(request.query_params.get("ds", ""))
    if handle is None:
        settings = getattr(request.app.state, "settings", None)
        default = getattr(settings, "default_dataset", None) or next(iter(datasets), None)
        handle = datasets.get(default) if default else None
    return {"dataset": handle} if handle is not None else {}


def offending_params(
    request: Request, message: str, details: list[dict], params: tuple[str, ...] = ()
) -> list[str]:
    """The query parameters at fault: those named by validation errors, an unknown ``ds``,
    and the parameter an error message starts with ("size is at most 200 ...", "page 9 is
    deeper than ...": app.web.params, app.web.search and app.web.review say so)."""
    query = request.query_params
    found = [p for p in params if p in query]
    for detail in details:
        name = str(detail.get("field", "")).split(".")[0]
        if name in query and name not in found:
            found.append(name)
    datasets = getattr(getattr(request.app.state, "workspace", None), "datasets", None) or {}
    if "ds" in query and query["ds"] not in datasets and "ds" not in found:
        found.append("ds")
    first = message.split(" ", 1)[0]
    if first in query and first not in found:
        found.append(first)
    return found


def _sentence(text: str) -> str:
    """The message as a sentence: with its full stop. Its first letter is capitalised by CSS
    (``.is-sentence::first-letter``), so the text stays the message the JSON answer has."""
    text = text.strip() or "Something went wrong"
    return text if text[-1] in ".!?" else text + "."


def _lead(request: Request, status: int, message: str, details: list[dict]) -> str:
    """The page's first sentence: what went wrong, in words."""
    if status == 422 and len(details) > 1:
        return f"The address has {len(details)} values this page cannot use."
    if status == 422 and details:
        d = details[0]
        part = f"{d['field']}: {d['message']}" if d["field"] else d["message"]
        return _sentence("The address has a value this page cannot use — " + part)
    if status == 404 and message == HTTPStatus.NOT_FOUND.phrase:
        return f"There is no page at {request.url.path}."
    if status == 405 and message == HTTPStatus.METHOD_NOT_ALLOWED.phrase:
        return f"{request.url.path} does not answer {request.method} requests."
    if status == 500:
        return "Something went wrong on the server (it was logged); try again, or go back."
    return _sentence(message)


def _url(path: str, items: list[tuple[str, str]]) -> str:
    return path + (f"?{urlencode(items)}" if items else "")


def error_page_context(
    request: Request,
    status: int,
    message: str,
    details: list[dict],
    params: tuple[str, ...] = (),
) -> dict[str, Any]:
    """What templates/pages/error.html shows: the lead sentence, the status, the dataset,
    and the links back with the request's filters minus the parameters at fault."""
    at_fault = offending_params(request, message, details, params)
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in at_fault]
    filters = [k for k, _ in kept if k not in ("ds", "page", "after")]
    retry = None
    if request.method == "GET" and request.url.path != "/" and at_fault and status < 500:
        retry = _url(request.url.path, kept)  # the same page without what it refused
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    lead, lead_code = _lead(request, status, message, details), ""
    first, _, rest = message.partition(" ")
    if first in at_fault and rest and status != 422:
        # "size is at most 200 ...": the parameter's name, as code, starts the sentence.
        lead_code, lead = first, (rest if rest[-1] in ".!?" else rest + ".")
    return {
        "status": status,
        "phrase": phrase,
        "message": message,
        "lead": lead,
        "lead_code": lead_code,
        "details": details,
        "at_fault": at_fault,
        "grid_url": _url("/", [(k, v) for k, v in kept if k not in ("page", "after")]),
        "grid_keeps_filters": bool(filters),
        "retry_url": retry,
        **dataset_for_page(request),
    }


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
