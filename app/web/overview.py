"""`/overview`: what a dataset holds, how it was built, and how much of it still exists."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import PurePath
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request

from app.catalog.filters import RecordFilter
from app.catalog.queries import FacetValue, Histogram
from app.explore.datasets import DatasetHandle
from app.web.charts import facet_charts, score_charts
from app.web.deps import DatasetDep, SettingsDep, UserDep, WorkspaceDep
from app.web.render import render
from app.workspace import Workspace

router = APIRouter(tags=["pages"])

FACET_TITLES = {"language": "Languages", "domain": "Top domains", "license": "Licences"}


def file_name(path: str) -> str:
    """The last part of a path, whichever separator it was written with."""
    return PurePath(path.replace("\\", "/")).name or path


def overview_data(
    workspace: Workspace, dataset: DatasetHandle, *, show_paths: bool = False
) -> dict[str, Any]:
    """What /overview and /api/overview show. The server's file paths (the source files the
    dataset was built from, its image store) are for admins (``show_paths``); everyone else
    gets the file names only: a path says how the server is laid out, and whose home it is."""
    explorer = workspace.explorer
    facets = explorer.facets(dataset, RecordFilter(), limit=12)
    histograms = explorer.whole_histograms(dataset)
    visible = explorer.visible_count(dataset)
    rot = workspace.images.links.rot_stats(dataset.name, top_domains=15)
    manifest = dataset.manifest
    by_review = workspace.catalog.hidden.count(dataset.name)  # blocklists, flags, quarantine
    by_classroom = explorer.classroom_hidden(dataset)
    store = manifest.image_store
    if store is not None and not show_paths and store.get("path"):
        store = {**store, "path": file_name(store["path"])}
    return {
        "name": dataset.name,
        "title": dataset.title,
        "description": manifest.description,
        "rows": manifest.row_count,
        "visible_rows": visible,
        "hidden_rows": by_review + by_classroom,
        "hidden_by_review": by_review,
        "hidden_by_classroom": by_classroom,
        "source_format": manifest.source_format,
        "source_files": [f if show_paths else file_name(f) for f in manifest.source_files],
        "paths_shown": show_paths,
        "image_store": store,
        "column_mapping": manifest.column_mapping,
        "extra_columns": manifest.extra_columns,
        "built_at": manifest.built_at,
        "build_seconds": manifest.build_seconds,
        "text_index_seconds": manifest.text_index_seconds,
        "score_stats": {k: v.model_dump() for k, v in manifest.score_stats.items()},
        "facets": {column: [asdict(v) for v in values] for column, values in facets.items()},
        "histograms": {score: asdict(h) for score, h in histograms.items()},
        "links": {
            "checked": rot.checked,
            "alive": rot.alive,
            "share_alive": rot.share_alive,
            "by_status": rot.by_status,
            "by_domain": [{**asdict(d), "share_alive": d.share_alive} for d in rot.by_domain],
        },
        "parts": manifest.parts,
        "flags": workspace.review.flags.counts_by_category(dataset.name),
    }


@router.get("/overview", summary="What a dataset holds, how it was built, its link rot")
async def overview_page(
    request: Request,
    dataset: DatasetDep,
    workspace: WorkspaceDep,
    settings: SettingsDep,
    user: UserDep,
):
    admin = user is not None and user.has_role("admin")
    data = await to_thread.run_sync(lambda: overview_data(workspace, dataset, show_paths=admin))
    # Every bar opens the grid on this dataset with its filter.
    grid = [("ds", dataset.name)]
    charts = {
        "scores": score_charts(
            {score: Histogram(**h) for score, h in data["histograms"].items()},
            RecordFilter(),
            blur_threshold=settings.punsafe_threshold,
            base_query=grid,
        ),
        "facets": facet_charts(
            {c: [FacetValue(**v) for v in values] for c, values in data["facets"].items()},
            titles=FACET_TITLES,
            base_query=grid,
        ),
    }
    return render(
        request, "pages/overview.html", {"dataset": dataset, "overview": data, "charts": charts}
    )


@router.get("/api/overview", tags=["api"], summary="JSON twin of /overview")
async def overview_api(dataset: DatasetDep, workspace: WorkspaceDep, user: UserDep):
    admin = user is not None and user.has_role("admin")
    return await to_thread.run_sync(lambda: overview_data(workspace, dataset, show_paths=admin))
