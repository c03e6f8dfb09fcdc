"""Typed dependencies: routes read as their signature.

Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in a
worker thread, and a request that resolved a dozen of them that way paid ~2 ms in thread
hops alone. The ones that read SQLite (``auth.load_identity``, the hidden-set refresh) stay
plain functions, so they never block the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from app.catalog.filters import RecordFilter
from app.catalog.queries import Catalog
from app.config import Settings
from app.explore.datasets import DatasetHandle
from app.explore.service import Explorer
from app.review.store import ReviewStore
from app.review.users import User
from app.safety_wiring import SafetyWiring
from app.web import auth


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def get_explorer(request: Request) -> Explorer:
    return request.app.state.explorer


async def get_datasets(request: Request) -> dict[str, DatasetHandle]:
    return request.app.state.datasets


async def get_dataset(
    request: Request,
    ds: Annotated[
        str | None, Query(max_length=63, description="Dataset name; the default one if absent.")
    ] = None,
) -> DatasetHandle:
    datasets: dict[str, DatasetHandle] = request.app.state.datasets
    settings: Settings = request.app.state.settings
    name = ds or settings.default_dataset or next(iter(datasets))
    handle = datasets.get(name)
    if handle is None:
        raise HTTPException(status_code=404, detail=f"no dataset named {name!r}")
    return handle


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
ExplorerDep = Annotated[Explorer, Depends(get_explorer)]
DatasetsDep = Annotated[dict[str, DatasetHandle], Depends(get_datasets)]
DatasetDep = Annotated[DatasetHandle, Depends(get_dataset)]
FilterDep = Annotated[RecordFilter, Query()]


# --- accounts and review (app.web.auth, app.review) -------------------------------------------
async def get_review(request: Request) -> ReviewStore:
    return request.app.state.review


async def get_safety_wiring(request: Request) -> SafetyWiring:
    return request.app.state.safety_wiring


ReviewDep = Annotated[ReviewStore, Depends(get_review)]
SafetyWiringDep = Annotated[SafetyWiring, Depends(get_safety_wiring)]
UserDep = Annotated[User | None, Depends(auth.current_user)]
ReviewerDep = Annotated[User, Depends(auth.require_reviewer)]
AdminDep = Annotated[User, Depends(auth.require_admin)]
CsrfDep = Annotated[None, Depends(auth.csrf_protect)]
