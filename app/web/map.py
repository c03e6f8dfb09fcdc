"""The embedding map: `/map` (the page), `/api/map` (its metadata), `/api/map/points` (the
points, binary), `/map/card` (the hover card) and `/map/point` (a point's record).

The map's data comes from ``app.explore.map.MapExplorer`` (one per server, made on first
use from the workspace's explorer and search by meaning): only visible records, the grid's
filters through the explorer's plan. The page draws the points with ``static/map.js``, a
WebGL renderer of our own (docs/map.md says why not a library: both candidates generate
code with ``Function``, which the Content-Security-Policy refuses).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from app.catalog.filters import MAP_KINDS, MapKind
from app.catalog.schema import SCORE_DOMAINS
from app.explore.datasets import DatasetHandle
from app.explore.map import (
    FORMAT_DESCRIPTION,
    PAYLOAD_FIELDS,
    MapExplorer,
    MapSearch,
    MapUnavailable,
    PointNotFound,
    layout_kinds,
)
from app.web.deps import DatasetDep, FilterDep, SemanticDep
from app.web.errors import _respond
from app.web.params import SearchDep, SearchParams
from app.web.render import render, url_with

router = APIRouter()

_made = threading.Lock()


async def get_map(request: Request) -> MapExplorer:
    """The server's MapExplorer, made on first use (it keeps the visible points of each
    layout by hidden-set version, so it lives as long as the workspace)."""
    state = request.app.state
    workspace = state.workspace
    found: MapExplorer | None = getattr(state, "map_explorer", None)
    if found is None or found.explorer is not workspace.explorer:
        with _made:
            found = getattr(state, "map_explorer", None)
            if found is None or found.explorer is not workspace.explorer:
                found = MapExplorer(workspace.explorer, workspace.semantic)
                state.map_explorer = found
    return found


MapDep = Annotated[MapExplorer, Depends(get_map)]
KindQuery = Annotated[
    MapKind | None,
    Query(
        description="Which embeddings the map is of: image or caption (default: image when "
        "its map was computed, else caption)."
    ),
]
_DECIMAL = r"-?[0-9]{1,12}(?:\.[0-9]{1,12})?"
BBOX_PATTERN = rf"^{_DECIMAL}(?:,{_DECIMAL}){{3}}$"
_FIELDS = "|".join(PAYLOAD_FIELDS)
FIELDS_PATTERN = rf"^(?:{_FIELDS})(?:,(?:{_FIELDS}))*$"
PosQuery = Annotated[
    int, Query(ge=0, le=2**40, description="The record's catalog position (a map point's pos).")
]


def choose_kind(dataset: DatasetHandle, kind: str | None) -> str:
    if kind is not None:
        return kind
    kinds = layout_kinds(dataset)
    return next((k for k in MAP_KINDS if kinds.get(k)), MAP_KINDS[0])


def map_search(search: SearchParams) -> MapSearch:
    return MapSearch(mode=search.mode, like=search.like, vec=search.vec, space=search.space)


def install(app: FastAPI) -> None:
    """A map that cannot be drawn is a 409 naming the command that mends it (the map's own
    routes, and the grid, count, export, ... given a ``region``); a point that is not
    visible is a 404."""

    async def unavailable(request: Request, error: Exception) -> Response:
        return _respond(request, 409, str(error))

    async def not_found(request: Request, error: Exception) -> Response:
        return _respond(request, 404, str(error))

    app.add_exception_handler(MapUnavailable, unavailable)
    app.add_exception_handler(PointNotFound, not_found)


# --- the page ---------------------------------------------------------------------------------

COLOUR_BY: dict[str, str] = {
    "cluster": "Cluster",
    "language": "Language",
    **{score: score for score in SCORE_DOMAINS},
}


@router.get("/map", tags=["pages"], summary="The embedding map: every visible record as a point")
async def map_page(
    request: Request,
    dataset: DatasetDep,
    maps: MapDep,
    semantic: SemanticDep,
    record_filter: FilterDep,
    search: SearchDep,
    kind: KindQuery = None,
):
    chosen = choose_kind(dataset, kind)
    info = await to_thread.run_sync(
        lambda: maps.describe(dataset, chosen, record_filter, map_search(search))
    )
    filter_items = record_filter.query_items()
    search_items = [
        (key, value)
        for key, value in (
            ("mode", search.mode if search.mode != "text" else None),
            ("like", search.like),
            ("vec", search.vec),
            ("space", search.space if search.space != "auto" else None),
        )
        if value is not None
    ]
    clusters = sorted(info["clusters"], key=lambda c: -c["size"])
    return render(
        request,
        "pages/map.html",
        {
            "dataset": dataset,
            "kind": chosen,
            "info": info,
            "clusters": clusters,
            "filter": record_filter,
            "search": search,
            "filter_items": filter_items,
            "search_items": search_items,
            "filtered": bool(filter_items) or search.by_meaning,
            "colour_by": COLOUR_BY,
            "meaning": semantic.status(dataset),
            "grid_url": url_with(request, "/", kind=None),
        },
    )


@router.get(
    "/map/card",
    tags=["pages"],
    summary="The card of one map point (thumbnail, caption, scores), blurred as in the grid",
)
async def map_card(
    request: Request,
    dataset: DatasetDep,
    maps: MapDep,
    semantic: SemanticDep,
    pos: PosQuery,
):
    row = await to_thread.run_sync(lambda: maps.visible_record(dataset, pos))
    return render(
        request,
        "partials/_map_card.html",
        {"dataset": dataset, "row": row, "meaning": semantic.status(dataset)},
    )


@router.get(
    "/map/point",
    tags=["pages"],
    summary="The record page of a map point (by its catalog position)",
    response_class=RedirectResponse,
    status_code=303,
    responses={303: {"description": "To /records/{sample_id} of the point's record."}},
)
async def map_point(dataset: DatasetDep, maps: MapDep, pos: PosQuery) -> RedirectResponse:
    row = await to_thread.run_sync(lambda: maps.visible_record(dataset, pos))
    target = f"/records/{quote(str(row['sample_id']), safe='')}?ds={dataset.name}"
    return RedirectResponse(target, status_code=303)


# --- the API ------------------------------------------------------------------------------------


class MapCluster(BaseModel):
    id: int
    label: str = Field(description="Its most distinctive caption words (c-TF-IDF).")
    size: int = Field(description="Visible points in the cluster.")
    centroid: list[float]
    words: list[str]
    region: str | None = Field(
        description="A `region` filter value for the box around its visible points."
    )


class MapInfo(BaseModel):
    """What /api/map says about a dataset's map under the given filters."""

    dataset: str
    kind: str
    kinds: dict[str, bool] = Field(description="Each kind, and whether its map was computed.")
    points: int = Field(description="Visible points that pass the filters (or a search's).")
    total: int = Field(description="Visible points of the map under no filter.")
    laid_out: int = Field(description="Points the layout holds (hidden records included).")
    selection: Literal["all", "filter", "search", "nearest"]
    approximate: bool
    notes: list[str]
    sampled: bool = Field(description="True when /api/map/points sends a sample.")
    payload_points: int
    max_points: int
    detail_points: int
    bounds: list[float]
    clusters: list[MapCluster]
    languages: list[str | None] = Field(
        description="The payload's language codes: code i is languages[i] (0: none)."
    )
    scores: dict[str, list[float]] = Field(description="Each score's domain (its uint8 scale).")
    token: str
    layout: dict[str, Any]
    format: dict[str, Any] = Field(description="How /api/map/points is laid out.")


@router.get(
    "/api/map",
    tags=["api"],
    summary="The map's metadata: counts under the filters, bounds, clusters, the payload format",
    response_model=MapInfo,
)
async def map_info(
    dataset: DatasetDep,
    maps: MapDep,
    record_filter: FilterDep,
    search: SearchDep,
    kind: KindQuery = None,
) -> dict[str, Any]:
    chosen = choose_kind(dataset, kind)
    return await to_thread.run_sync(
        lambda: maps.describe(dataset, chosen, record_filter, map_search(search))
    )


@router.get(
    "/api/map/points",
    tags=["api"],
    summary="The map's visible points, binary (see the description and docs/map.md)",
    description="A compact columnar payload, never JSON per point: "
    + FORMAT_DESCRIPTION["layout"]
    + " Columns: "
    + "; ".join(f"{k}: {v}" for k, v in FORMAT_DESCRIPTION["columns"].items())
    + ". Above the server's point limit a seeded sample travels with a density grid; "
    "`bbox` asks for the points inside a box (capped).",
    response_class=Response,
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            "description": "The points payload.",
        }
    },
)
async def map_points(
    dataset: DatasetDep,
    maps: MapDep,
    record_filter: FilterDep,
    search: SearchDep,
    kind: KindQuery = None,
    bbox: Annotated[
        str | None,
        Query(
            max_length=120,
            pattern=BBOX_PATTERN,
            description="x0,y0,x1,y1 in map coordinates: only the points inside (the detail "
            "of a zoomed-in view), at most the server's detail limit.",
        ),
    ] = None,
    fields: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=FIELDS_PATTERN,
            description="Comma-separated columns to send (default all, with the density "
            "layer): `flags` alone refreshes the filter mask of points already loaded.",
        ),
    ] = None,
) -> Response:
    chosen = choose_kind(dataset, kind)
    box = None
    if bbox is not None:
        x0, y0, x1, y1 = (float(v) for v in bbox.split(","))
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    wanted = tuple(fields.split(",")) if fields else PAYLOAD_FIELDS
    try:
        body = await to_thread.run_sync(
            lambda: maps.payload(
                dataset, chosen, record_filter, map_search(search), bbox=box, fields=wanted
            )
        )
    except PointNotFound as error:
        raise HTTPException(404, detail=str(error)) from None
    return Response(
        body,
        media_type="application/octet-stream",
        headers={"Cache-Control": "private, no-cache"},
    )
