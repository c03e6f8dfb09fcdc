"""`/overview`: what a dataset holds, how it was built, and how much of it still exists."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request

from app.catalog.filters import RecordFilter
from app.explore.datasets import DatasetHandle
from app.web.deps import DatasetDep, WorkspaceDep
from app.web.render import render
from app.workspace import Workspace

router = APIRouter(tags=["pages"])


def overview_data(workspace: Workspace, dataset: DatasetHandle) -> dict[str, Any]:
    explorer = workspace.explorer
    facets = explorer.facets(dataset, RecordFilter(), limit=12)
    visible = explorer.visible_count(dataset)
    rot = workspace.images.links.rot_stats(dataset.name, top_domains=15)
    manifest = dataset.manifest
    return {
        "name": dataset.name,
        "title": dataset.title,
        "description": manifest.description,
        "rows": manifest.row_count,
        "visible_rows": visible,
        "hidden_rows": workspace.catalog.hidden.count(dataset.name),
        "source_format": manifest.source_format,
        "source_files": manifest.source_files,
        "column_mapping": manifest.column_mapping,
        "extra_columns": manifest.extra_columns,
        "built_at": manifest.built_at,
        "build_seconds": manifest.build_seconds,
        "text_index_seconds": manifest.text_index_seconds,
        "score_stats": {k: v.model_dump() for k, v in manifest.score_stats.items()},
        "facets": {column: [asdict(v) for v in values] for column, values in facets.items()},
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
async def overview_page(request: Request, dataset: DatasetDep, workspace: WorkspaceDep):
    data = await to_thread.run_sync(lambda: overview_data(workspace, dataset))
    return render(request, "pages/overview.html", {"dataset": dataset, "overview": data})


@router.get("/api/overview", tags=["api"], summary="JSON twin of /overview")
async def overview_api(dataset: DatasetDep, workspace: WorkspaceDep):
    return await to_thread.run_sync(lambda: overview_data(workspace, dataset))
