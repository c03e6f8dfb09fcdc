"""`/overview`: what a dataset holds, how it was built, and how much of it still exists."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request

from app.catalog.filters import RecordFilter
from app.deps import DatasetDep, ExplorerDep
from app.explore.datasets import DatasetHandle
from app.explore.service import Explorer
from app.web.render import render

router = APIRouter(tags=["pages"])


def overview_data(request: Request, dataset: DatasetHandle, explorer: Explorer) -> dict[str, Any]:
    everything = RecordFilter()
    facets = explorer.facets(dataset, everything, limit=12)
    visible = explorer.catalog.count(dataset.name, explorer.conditions(dataset, everything))
    rot = request.app.state.images.links.rot_stats(dataset.name, top_domains=15)
    manifest = dataset.manifest
    return {
        "name": dataset.name,
        "title": dataset.title,
        "description": manifest.description,
        "rows": manifest.row_count,
        "visible_rows": visible,
        "hidden_rows": len(explorer.hidden_positions.get(dataset.name, ())),
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
        "flags": request.app.state.review.flags.counts_by_category(dataset.name),
    }


@router.get("/overview", summary="What a dataset holds, how it was built, its link rot")
async def overview_page(request: Request, dataset: DatasetDep, explorer: ExplorerDep):
    data = await to_thread.run_sync(lambda: overview_data(request, dataset, explorer))
    return render(request, "pages/overview.html", {"dataset": dataset, "overview": data})


@router.get("/api/overview", tags=["api"], summary="JSON twin of /overview")
async def overview_api(request: Request, dataset: DatasetDep, explorer: ExplorerDep):
    return await to_thread.run_sync(lambda: overview_data(request, dataset, explorer))
