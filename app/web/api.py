"""The JSON twin of every page; each route shares its query code with the HTML one."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, HTTPException, Path, Query, Request

from app.explore.verdicts import record_verdicts
from app.web.browse import Answer, effective_sort, run_browse
from app.web.deps import (
    DatasetDep,
    ExplorerDep,
    FilterDep,
    SettingsDep,
    WorkspaceDep,
)
from app.web.params import PageDep, PageParams, SearchDep, SearchParams
from app.web.render import url_with
from app.web.schemas import Count, DatasetInfo, Facets, Histograms, Record, RecordsPage

router = APIRouter(prefix="/api", tags=["api"])


@router.get(
    "/datasets",
    summary="The datasets this server holds (and those it found but cannot open)",
    response_model=list[DatasetInfo],
)
async def list_datasets(workspace: WorkspaceDep) -> list[dict[str, Any]]:
    served: list[dict[str, Any]] = [
        {
            "name": handle.name,
            "title": handle.title,
            "description": handle.manifest.description,
            "row_count": handle.manifest.row_count,
            "source_format": handle.manifest.source_format,
            "built_at": handle.manifest.built_at,
            "extra_columns": handle.manifest.extra_columns,
        }
        for handle in workspace.datasets.values()
    ]
    broken = [
        {"name": name, "title": name, "available": False, "problem": problem.public}
        for name, problem in workspace.unavailable.items()
    ]
    return served + broken


def records_body(
    request: Request,
    dataset_name: str,
    sort: str,
    params: PageParams,
    answer: Answer,
) -> dict[str, Any]:
    result = answer.result
    next_url = None
    if result.has_more:
        if result.next_after is not None:
            next_url = url_with(request, after=result.next_after, page=None)
        else:
            next_url = url_with(request, page=params.page + 1, after=None)
    body: dict[str, Any] = {
        "dataset": dataset_name,
        # An exact total, or null with "total_at_least" when the page stopped counting:
        # /api/count gives the exact number.
        "total": result.total if result.total_exact else None,
        "total_at_least": result.total,
        "sort": sort,
        "offset": result.offset,
        "size": params.size,
        "approximate": result.approximate,
        "notes": result.notes,
        "next": next_url,
        "records": result.rows,
    }
    if answer.like is not None:
        body["like"] = answer.like["sample_id"]
    return body


@router.get(
    "/records",
    summary="A page of records matching the filters (twin of /)",
    response_model=RecordsPage,
)
async def list_records(
    request: Request,
    dataset: DatasetDep,
    record_filter: FilterDep,
    params: PageDep,
    search: SearchDep,
) -> dict[str, Any]:
    answer = await run_browse(request, dataset, record_filter, params, search)
    return records_body(
        request,
        dataset.name,
        answer.result.sort or effective_sort(record_filter, params),
        params,
        answer,
    )


@router.get(
    "/search",
    summary="Search by caption words (mode=text) or by meaning (mode=meaning), with filters",
    response_model=RecordsPage,
)
async def search(
    request: Request,
    dataset: DatasetDep,
    settings: SettingsDep,
    record_filter: FilterDep,
    search: SearchDep,
    q: str = Query(..., min_length=1, max_length=200, description="The query."),
    k: int = Query(50, ge=1, description="How many results (capped)."),
) -> dict[str, Any]:
    if k > settings.max_page_size:
        raise HTTPException(400, detail=f"k is at most {settings.max_page_size} (got {k})")
    params = PageParams(sort="", page=1, size=k, after=None, seed=1)
    answer = await run_browse(request, dataset, record_filter, params, search)
    return records_body(request, dataset.name, answer.result.sort, params, answer)


@router.get(
    "/records/{sample_id}/similar",
    summary="The records whose images are most like this one's, with filters",
    response_model=RecordsPage,
)
async def similar(
    request: Request,
    dataset: DatasetDep,
    settings: SettingsDep,
    record_filter: FilterDep,
    sample_id: str = Path(..., max_length=200),
    k: int = Query(50, ge=1, description="How many results (capped)."),
) -> dict[str, Any]:
    if k > settings.max_page_size:
        raise HTTPException(400, detail=f"k is at most {settings.max_page_size} (got {k})")
    params = PageParams(sort="", page=1, size=k, after=None, seed=1)
    search = SearchParams(mode="meaning", like=sample_id, space="auto")
    answer = await run_browse(request, dataset, record_filter, params, search)
    return records_body(request, dataset.name, answer.result.sort, params, answer)


@router.get("/count", summary="The exact number of records under the filters", response_model=Count)
async def count(
    dataset: DatasetDep, explorer: ExplorerDep, record_filter: FilterDep
) -> dict[str, Any]:
    total = await to_thread.run_sync(lambda: explorer.count(dataset, record_filter))
    return {"dataset": dataset.name, "total": total}


@router.get(
    "/records/{sample_id}",
    summary="One record, every column, and what LAION's models decided (twin of /records/{id})",
    response_model=Record,
)
async def get_record(
    dataset: DatasetDep,
    explorer: ExplorerDep,
    workspace: WorkspaceDep,
    settings: SettingsDep,
    sample_id: str = Path(..., max_length=200),
) -> dict[str, Any]:
    row = await to_thread.run_sync(lambda: explorer.record(dataset, sample_id))
    if row is None:
        raise HTTPException(status_code=404, detail=f"no record {sample_id!r} in {dataset.name}")
    verdicts = await to_thread.run_sync(
        lambda: record_verdicts(
            explorer, dataset, row, workspace.presets, settings.punsafe_threshold
        )
    )
    body = {k: v for k, v in row.items() if not k.endswith("_bin")}
    public = verdicts.public()
    body["verdicts"] = public["stages"]
    body["verdict_summary"] = public["summary"]
    body["would_be_in"] = public["would_be_in"]
    return body


@router.get(
    "/facets",
    summary="Counts by language, domain and licence under the filters",
    response_model=Facets,
)
async def facets(
    dataset: DatasetDep, explorer: ExplorerDep, record_filter: FilterDep
) -> dict[str, list[dict[str, Any]]]:
    result = await to_thread.run_sync(lambda: explorer.facets(dataset, record_filter))
    return {column: [asdict(v) for v in values] for column, values in result.items()}


@router.get(
    "/histograms",
    summary="20-bin histograms of every score under the filters",
    response_model=Histograms,
)
async def histograms(
    dataset: DatasetDep, explorer: ExplorerDep, record_filter: FilterDep
) -> dict[str, dict[str, Any]]:
    result = await to_thread.run_sync(lambda: explorer.histograms(dataset, record_filter))
    return {score: asdict(h) for score, h in result.items()}
