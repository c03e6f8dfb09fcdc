"""The grid: `/` (with `/histograms` loaded lazily) and the blur preference."""

from __future__ import annotations

from urllib.parse import urlsplit

from anyio import to_thread
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from app.catalog.filters import RecordFilter
from app.deps import DatasetDep, ExplorerDep, FilterDep, SettingsDep
from app.explore.datasets import DatasetHandle
from app.explore.service import BrowseResult, Explorer
from app.web.params import PageDep, PageParams
from app.web.render import render

router = APIRouter(tags=["pages"])


def effective_sort(record_filter: RecordFilter, params: PageParams) -> str:
    if params.sort:
        return params.sort
    return "relevance" if record_filter.q else "similarity"


async def run_browse(
    explorer: Explorer, dataset: DatasetHandle, record_filter: RecordFilter, params: PageParams
) -> BrowseResult:
    sort = effective_sort(record_filter, params)
    return await to_thread.run_sync(
        lambda: explorer.browse(
            dataset,
            record_filter,
            sort=sort,
            limit=params.size,
            offset=params.offset,
            after=params.after,
            seed=params.seed,
        )
    )


@router.get("/", summary="Browse the grid of records")
async def browse_page(
    request: Request,
    dataset: DatasetDep,
    explorer: ExplorerDep,
    record_filter: FilterDep,
    params: PageDep,
):
    result = await run_browse(explorer, dataset, record_filter, params)
    facets = await to_thread.run_sync(lambda: explorer.facets(dataset, record_filter))
    return render(
        request,
        "pages/browse.html",
        {
            "dataset": dataset,
            "filter": record_filter,
            "params": params,
            "result": result,
            "facets": facets,
        },
        partial="partials/_results.html",
    )


@router.get("/histograms", summary="Score histograms of the current selection (partial)")
async def histograms_partial(
    request: Request, dataset: DatasetDep, explorer: ExplorerDep, record_filter: FilterDep
):
    histograms = await to_thread.run_sync(lambda: explorer.histograms(dataset, record_filter))
    return render(
        request,
        "partials/_histograms.html",
        {"dataset": dataset, "histograms": histograms},
    )


@router.post("/prefs/blur", summary="Turn blurring of unsafe images off or on for this session")
async def set_blur(
    settings: SettingsDep,
    blur: str = Form(..., pattern="^(on|off)$"),
    back: str = Form("/", max_length=2000),
):
    # Only same-site paths are followed back, never another host.
    parts = urlsplit(back)
    target = back if (not parts.scheme and not parts.netloc and back.startswith("/")) else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie("loupe_blur", blur, httponly=True, samesite="lax")
    return response
