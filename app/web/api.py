"""The JSON twin of every page; each route shares its query code with the HTML one."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Path, Request

from app.deps import DatasetDep, DatasetsDep, ExplorerDep, FilterDep
from app.web.browse import effective_sort, run_browse
from app.web.params import PageDep
from app.web.render import url_with

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/datasets", summary="The datasets this server holds")
async def list_datasets(datasets: DatasetsDep) -> list[dict[str, Any]]:
    return [
        {
            "name": handle.name,
            "title": handle.title,
            "description": handle.manifest.description,
            "row_count": handle.manifest.row_count,
            "source_format": handle.manifest.source_format,
            "built_at": handle.manifest.built_at,
            "extra_columns": handle.manifest.extra_columns,
        }
        for handle in datasets.values()
    ]


@router.get("/records", summary="A page of records matching the filters (twin of /)")
async def list_records(
    request: Request,
    dataset: DatasetDep,
    explorer: ExplorerDep,
    record_filter: FilterDep,
    params: PageDep,
) -> dict[str, Any]:
    result = await run_browse(explorer, dataset, record_filter, params)
    next_url = None
    if result.has_more:
        if result.next_after is not None:
            next_url = url_with(request, after=result.next_after, page=None)
        else:
            next_url = url_with(request, page=params.page + 1, after=None)
    return {
        "dataset": dataset.name,
        "total": result.total,
        "sort": effective_sort(record_filter, params),
        "offset": result.offset,
        "size": params.size,
        "approximate": result.approximate,
        "notes": result.notes,
        "next": next_url,
        "records": result.rows,
    }


@router.get("/records/{sample_id}", summary="One record, every column (twin of /records/{id})")
async def get_record(
    dataset: DatasetDep,
    explorer: ExplorerDep,
    sample_id: str = Path(..., max_length=200),
) -> dict[str, Any]:
    row = await to_thread.run_sync(lambda: explorer.record(dataset, sample_id))
    if row is None:
        raise HTTPException(status_code=404, detail=f"no record {sample_id!r} in {dataset.name}")
    return {k: v for k, v in row.items() if not k.endswith("_bin")}


@router.get("/facets", summary="Counts by language, domain and licence under the filters")
async def facets(
    dataset: DatasetDep, explorer: ExplorerDep, record_filter: FilterDep
) -> dict[str, list[dict[str, Any]]]:
    result = await to_thread.run_sync(lambda: explorer.facets(dataset, record_filter))
    return {column: [asdict(v) for v in values] for column, values in result.items()}


@router.get("/histograms", summary="20-bin histograms of every score under the filters")
async def histograms(
    dataset: DatasetDep, explorer: ExplorerDep, record_filter: FilterDep
) -> dict[str, dict[str, Any]]:
    result = await to_thread.run_sync(lambda: explorer.histograms(dataset, record_filter))
    return {score: asdict(h) for score, h in result.items()}
