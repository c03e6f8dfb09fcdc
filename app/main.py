"""``create_app(settings)``: the FastAPI application.

The lifespan opens what every request shares, once: the catalog (DuckDB with each dataset
attached read-only), the explorer that answers browse requests, and the templates. Nothing
is opened at import time, so tests build as many apps as they like on data in tmp_path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import faiss
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from app.catalog.connection import CatalogConnection
from app.catalog.queries import Catalog
from app.config import Settings
from app.explore.datasets import DatasetHandle, discover
from app.explore.semantic import SemanticSearch
from app.explore.service import Explorer
from app.images.service import ImageService
from app.review.store import ReviewStore
from app.safety_wiring import SafetyWiring
from app.vectors.models import Encoders
from app.vectors.queries import QueryEncoder
from app.web import api, auth, browse, errors, export, images, overview, records, review, search
from app.web.middleware import DropEmptyQueryParams, LimitRequestBody
from app.web.render import make_templates

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class StartupError(RuntimeError):
    """Start-up cannot continue; the message says which file is missing and how to make it."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        open_state(app, settings)
        try:
            yield
        finally:
            app.state.review.close()
            app.state.semantic.encoder.close()
            app.state.images.close()
            app.state.catalog.connection.close()

    app = FastAPI(
        title="Loupe",
        summary="Look inside captioned-image training sets of the LAION-5B kind.",
        version="0.1.0",
        lifespan=lifespan,
        # Every route: who is asking, sign-in when required, CSRF on state changes, and the
        # hidden sets brought up to date (a flag from another process is seen at once).
        dependencies=[Depends(auth.guard), Depends(review.fresh_hidden_sets)],
    )
    app.state.settings = settings
    app.state.templates = make_templates(PROJECT_ROOT / "templates", settings)
    app.mount("/static", StaticFiles(directory=PROJECT_ROOT / "static"), name="static")
    app.add_middleware(DropEmptyQueryParams)
    # Room for the largest upload plus its multipart envelope and form fields.
    app.add_middleware(LimitRequestBody, max_bytes=settings.max_upload_bytes + 64 * 1024)
    errors.install(app)
    auth.install(app)
    app.include_router(browse.router)
    app.include_router(records.router)
    app.include_router(api.router)
    app.include_router(images.router)
    app.include_router(overview.router)
    app.include_router(auth.router)
    app.include_router(review.router)
    app.include_router(export.router)
    app.include_router(search.router)
    return app


def find_datasets(settings: Settings) -> dict[str, DatasetHandle]:
    """The datasets to serve, or a StartupError saying what is missing and how to make it."""
    datasets = discover(settings.data_dir)
    if not datasets:
        raise StartupError(
            f"no dataset found in {settings.data_dir.resolve()}: build the demo with "
            "`loupe demo`, or ingest parquet files with `loupe ingest NAME FILE...` "
            "(or point LOUPE_DATA_DIR at a folder that holds datasets)"
        )
    if settings.default_dataset and settings.default_dataset not in datasets:
        raise StartupError(
            f"LOUPE_DEFAULT_DATASET={settings.default_dataset!r} is not in "
            f"{settings.data_dir.resolve()} (found: {', '.join(datasets)})"
        )
    return datasets


def open_state(app: FastAPI, settings: Settings) -> None:
    datasets = find_datasets(settings)
    connection = CatalogConnection(timeout_s=settings.query_timeout_s, threads=os.cpu_count())
    catalog = Catalog(connection)
    for name, handle in datasets.items():
        catalog.attach(name, handle.paths.catalog)
    app.state.datasets = datasets
    app.state.catalog = catalog
    app.state.images = ImageService(settings)
    app.state.explorer = Explorer(
        catalog=catalog, settings=settings, link_ids=app.state.images.links.ids_with_status
    )
    open_vectors(app, settings)
    open_review(app, settings)


def open_vectors(app: FastAPI, settings: Settings) -> None:
    """Search by meaning: models load on the first query; indexes are memory-mapped now, so
    "hide duplicates" knows each dataset's clusters from the first request."""
    # One query at a time gains little from a second OpenMP thread, and the hand-off between
    # threads cost more than it saved: /api/search/vector p50 ~8 -> ~6 ms on 2 cores.
    faiss.omp_set_num_threads(settings.search_threads)
    encoder = QueryEncoder(Encoders.from_settings(settings))
    app.state.semantic = SemanticSearch(
        app.state.explorer, encoder, max_results=settings.max_knn_results
    )
    for name, handle in app.state.datasets.items():
        duplicates = handle.vectors().duplicates()
        if duplicates is not None:
            app.state.catalog.set_duplicates(name, duplicates.hidden_positions().tolist())


def open_review(app: FastAPI, settings: Settings) -> None:
    """The writable review store, and the hidden sets applied before the first request."""
    store = ReviewStore.open(settings)
    app.state.review = store
    wiring = SafetyWiring(store, app.state.catalog, app.state.explorer, app.state.datasets)
    wiring.register(forget_hidden=app.state.images.forget_hidden)
    wiring.refresh()
    app.state.safety_wiring = wiring
