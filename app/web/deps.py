"""Typed dependencies: routes read as their signature.

Everything a route reaches comes from the workspace the lifespan opened
(``request.app.state.workspace``, app.workspace), so no route can reach a dataset by another
way than the one that applies the hidden sets.

Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in a
worker thread, and a request that resolved a dozen of them that way paid ~2 ms in thread
hops alone. The ones that read SQLite (``identity.load_identity``, the hidden-set refresh)
keep their I/O off the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request

from app.catalog.filters import RecordFilter
from app.catalog.layout import DATASET_NAME
from app.config import Settings
from app.explore.datasets import DatasetHandle
from app.explore.semantic import SemanticSearch
from app.explore.service import Explorer
from app.images.service import ImageService
from app.review.store import ReviewStore
from app.review.users import User
from app.web import identity
from app.workspace import Workspace


async def get_workspace(request: Request) -> Workspace:
    return request.app.state.workspace


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_explorer(request: Request) -> Explorer:
    return request.app.state.workspace.explorer


async def get_semantic(request: Request) -> SemanticSearch:
    return request.app.state.workspace.semantic


async def get_images(request: Request) -> ImageService:
    return request.app.state.workspace.images


async def get_datasets(request: Request) -> dict[str, DatasetHandle]:
    return request.app.state.workspace.datasets


async def get_dataset(
    request: Request,
    ds: Annotated[
        str | None,
        Query(
            max_length=63,
            pattern=DATASET_NAME.pattern,
            description="Dataset name; the default one if absent.",
        ),
    ] = None,
) -> DatasetHandle:
    workspace: Workspace = request.app.state.workspace
    name = ds or workspace.default_name()
    handle = workspace.datasets.get(name)
    if handle is None:
        problem = workspace.unavailable.get(name)
        if problem is not None:  # found at start-up, but damaged: the log says which file
            raise HTTPException(status_code=503, detail=problem.public)
        raise HTTPException(status_code=404, detail=f"no dataset named {name!r}")
    return handle


async def get_review(request: Request) -> ReviewStore:
    return request.app.state.workspace.review


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ExplorerDep = Annotated[Explorer, Depends(get_explorer)]
SemanticDep = Annotated[SemanticSearch, Depends(get_semantic)]
ImagesDep = Annotated[ImageService, Depends(get_images)]
DatasetsDep = Annotated[dict[str, DatasetHandle], Depends(get_datasets)]
DatasetDep = Annotated[DatasetHandle, Depends(get_dataset)]
FilterDep = Annotated[RecordFilter, Query()]

# --- accounts and review (app.web.identity, app.review) --------------------------------------
ReviewDep = Annotated[ReviewStore, Depends(get_review)]
UserDep = Annotated[User | None, Depends(identity.current_user)]
ReviewerDep = Annotated[User, Depends(identity.require_reviewer)]
AdminDep = Annotated[User, Depends(identity.require_admin)]
CsrfDep = Annotated[None, Depends(identity.csrf_protect)]
