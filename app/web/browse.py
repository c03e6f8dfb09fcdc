"""The grid: `/` (with `/histograms` loaded lazily) and the blur preference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse

from app.catalog.filters import RecordFilter
from app.explore.datasets import DatasetHandle
from app.explore.semantic import SemanticSearch
from app.explore.service import BrowseResult, Explorer
from app.vectors.saved import SavedVectorMissing
from app.web.charts import score_charts
from app.web.deps import DatasetDep, ExplorerDep, FilterDep, SemanticDep, SettingsDep
from app.web.params import PageDep, PageParams, SearchDep, SearchParams
from app.web.redirects import safe_next
from app.web.render import render

router = APIRouter(tags=["pages"])


def effective_sort(record_filter: RecordFilter, params: PageParams) -> str:
    if params.sort:
        return params.sort
    return "relevance" if record_filter.q else "similarity"


@dataclass
class Answer:
    """A page of records, the filter its facets are counted under, and the record a
    "more like this" started from."""

    result: BrowseResult
    facet_filter: RecordFilter
    like: dict[str, Any] | None = None


async def run_browse(
    request: Request,
    dataset: DatasetHandle,
    record_filter: RecordFilter,
    params: PageParams,
    search: SearchParams,
) -> Answer:
    """The one query path behind the grid, /api/records and /api/search."""
    explorer: Explorer = request.app.state.workspace.explorer
    semantic: SemanticSearch = request.app.state.workspace.semantic
    if search.vec is not None:
        without_words = record_filter.model_copy(update={"q": None})
        try:
            result = await to_thread.run_sync(
                lambda: semantic.by_saved(
                    dataset, search.vec, without_words, limit=params.size, offset=params.offset
                )
            )
        except SavedVectorMissing as error:
            raise HTTPException(404, detail=str(error)) from None
        return Answer(result, without_words)
    if search.like is not None:
        like = await to_thread.run_sync(lambda: explorer.record(dataset, search.like))
        if like is None:
            raise HTTPException(404, detail=f"no record {search.like!r} in {dataset.name}")
        without_words = record_filter.model_copy(update={"q": None})
        result = await to_thread.run_sync(
            lambda: semantic.like(
                dataset, like["pos"], without_words, limit=params.size, offset=params.offset
            )
        )
        return Answer(result, without_words, like)
    if search.mode == "meaning" and record_filter.q:
        words = record_filter.q
        without_words = record_filter.model_copy(update={"q": None})
        result = await to_thread.run_sync(
            lambda: semantic.by_text(
                dataset,
                words,
                without_words,
                limit=params.size,
                offset=params.offset,
                space=search.space,  # type: ignore[arg-type]
            )
        )
        return Answer(result, without_words)
    sort = effective_sort(record_filter, params)
    result = await to_thread.run_sync(
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
    return Answer(result, record_filter)


@router.get("/", summary="Browse the grid of records")
async def browse_page(
    request: Request,
    dataset: DatasetDep,
    explorer: ExplorerDep,
    semantic: SemanticDep,
    record_filter: FilterDep,
    params: PageDep,
    search: SearchDep,
):
    answer = await run_browse(request, dataset, record_filter, params, search)
    facets = await to_thread.run_sync(lambda: explorer.facets(dataset, answer.facet_filter))
    return render(
        request,
        "pages/browse.html",
        {
            "dataset": dataset,
            "filter": record_filter,
            "params": params,
            "search": search,
            "result": answer.result,
            "like": answer.like,
            "facets": facets,
            "meaning": semantic.status(dataset),
        },
        partial="partials/_results.html",
    )


@router.get("/count", summary="The exact number of records under the filters (partial)")
async def count_partial(
    request: Request, dataset: DatasetDep, explorer: ExplorerDep, record_filter: FilterDep
):
    total = await to_thread.run_sync(lambda: explorer.count(dataset, record_filter))
    return render(request, "partials/_count.html", {"total": total})


@router.get("/histograms", summary="Score charts of the current selection (page or partial)")
async def histograms_partial(
    request: Request,
    dataset: DatasetDep,
    explorer: ExplorerDep,
    record_filter: FilterDep,
    search: SearchDep,
    settings: SettingsDep,
):
    if search.by_meaning:
        # A kNN answer has no histogram of its own: show the filtered set it was drawn from.
        record_filter = record_filter.model_copy(update={"q": None})
    histograms, whole = await to_thread.run_sync(
        lambda: (explorer.histograms(dataset, record_filter), explorer.whole_histograms(dataset))
    )
    charts = score_charts(
        histograms,
        record_filter,
        whole=whole,
        blur_threshold=settings.punsafe_threshold,
        base_query=request.query_params.multi_items(),
    )
    # htmx (the grid's sidebar) gets the charts alone; a plain GET (the no-script link) a page.
    return render(
        request,
        "pages/charts.html",
        {"dataset": dataset, "charts": charts},
        partial="partials/_histograms.html",
    )


@router.post("/prefs/blur", summary="Turn blurring of unsafe images off or on for this session")
async def set_blur(
    blur: str = Form(..., pattern="^(on|off)$"),
    back: str = Form("/", max_length=2000),
):
    response = RedirectResponse(safe_next(back), status_code=303)
    response.set_cookie("loupe_blur", blur, httponly=True, samesite="lax")
    return response
