"""Bad input gets a clear 4xx message, as JSON for the API and as a page for people."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.catalog.connection import QueryTimeout
from app.explore.semantic import MeaningUnavailable
from app.vectors.models import ModelError
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
