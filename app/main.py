"""``create_app(settings)``: the FastAPI application.

The lifespan opens the workspace (app.workspace) once: the catalog with every dataset's
hidden set applied, the explorer, search by meaning, the review store and the image service;
routes reach it through ``app.web.deps``. Nothing is opened at import time, so tests build
as many apps as they like on data in tmp_path.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from app.config import Settings
from app.web import (
    api,
    apidocs,
    auth,
    browse,
    errors,
    export,
    health,
    identity,
    images,
    lab,
    overview,
    records,
    review,
    schemas,
    search,
)
from app.web import map as map_routes
from app.web.json import FastJSONResponse
from app.web.middleware import (
    AnswerHead,
    DropEmptyQueryParams,
    LimitRequestBody,
    SecurityHeaders,
)
from app.web.offload import Offload
from app.web.render import make_templates
from app.workspace import open_workspace

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.workspace = open_workspace(settings)
        try:
            yield
        finally:
            app.state.workspace.close()

    app = FastAPI(
        title="Loupe",
        summary="Look inside captioned-image training sets of the LAION-5B kind.",
        version="0.1.0",
        lifespan=lifespan,
        # Swagger UI and ReDoc load from a CDN (blank offline, refused by the CSP): /docs is
        # a page of our own, rendered from /openapi.json (app.web.apidocs).
        docs_url=None,
        redoc_url=None,
        # Every JSON answer rendered by orjson (app.web.json).
        default_response_class=FastJSONResponse,
        # Every route: who is asking, sign-in when required, CSRF on state changes, and the
        # hidden sets brought up to date (a flag from another process is seen at once).
        dependencies=[Depends(identity.guard), Depends(review.fresh_hidden_sets)],
    )
    app.state.settings = settings
    app.state.offload = Offload()  # short calls on the loop, the rest in threads
    app.state.templates = make_templates(PROJECT_ROOT / "templates", settings)
    app.mount("/static", StaticFiles(directory=PROJECT_ROOT / "static"), name="static")
    app.add_middleware(DropEmptyQueryParams)
    # Room for the largest upload plus its multipart envelope and form fields.
    app.add_middleware(LimitRequestBody, max_bytes=settings.max_upload_bytes + 64 * 1024)
    app.add_middleware(AnswerHead)  # HEAD wherever GET is
    app.add_middleware(SecurityHeaders)  # outermost: every response, the 413 above included
    errors.install(app)
    identity.install(app)
    map_routes.install(app)  # a map that cannot be drawn: 409 naming `loupe index`
    schemas.install(app, settings)  # /openapi.json: errors, page types, setting bounds
    # FastAPI tries routers in this order on every request: the API a client calls in a loop
    # (search by vector) first, so its requests do not walk every page's routes.
    app.include_router(search.router)
    app.include_router(browse.router)
    app.include_router(records.router)
    app.include_router(api.router)
    app.include_router(images.router)
    app.include_router(overview.router)
    app.include_router(auth.router)
    app.include_router(review.router)
    app.include_router(export.router)
    app.include_router(lab.router)
    app.include_router(health.router)
    app.include_router(map_routes.router)
    app.include_router(apidocs.router)
    return app
