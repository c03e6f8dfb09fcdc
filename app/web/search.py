"""Search by an uploaded picture (never stored: its embedding is kept, so the search is a
URL), and a record's near-duplicates."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import numpy as np
from anyio import to_thread
from fastapi import APIRouter, HTTPException, Path, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from PIL import Image
from pydantic import ValidationError

from app.catalog.filters import RecordFilter
from app.config import Settings
from app.explore.datasets import DatasetHandle
from app.explore.semantic import SemanticSearch
from app.images.decode import ImageRefused, decode_image
from app.web.deps import DatasetDep, ExplorerDep, FilterDep, SettingsDep
from app.web.json import FastJSONResponse
from app.web.offload import Offload
from app.web.render import render
from app.web.schemas import ALWAYS_RETURNED, VECTOR_QUERY_BODY, NearestRecords, VectorQuery

router = APIRouter(tags=["search"])

# CLIP looks at 224 px: decoding a big upload at a reduced scale is enough and much faster.
DECODE_TARGET = 448


async def read_picture(picture: UploadFile, settings: Settings) -> Image.Image:
    """The upload decoded under the size and pixel limits; its bytes are then dropped."""
    data = await picture.read(settings.max_upload_bytes + 1)
    await picture.close()
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(
            413, detail=f"the picture is larger than {settings.max_upload_bytes:,} bytes"
        )
    if not data:
        raise HTTPException(400, detail="no picture was uploaded")
    try:
        return await to_thread.run_sync(
            decode_image, data, settings.max_image_pixels, DECODE_TARGET
        )
    except ImageRefused as refused:
        raise HTTPException(400, detail=f"the upload was refused: {refused.detail}") from None


async def save_picture_query(request: Request, dataset: DatasetHandle, picture: Image.Image) -> str:
    """The uploaded picture's embedding, kept under a short id (the picture is dropped)."""
    semantic: SemanticSearch = request.app.state.workspace.semantic
    return await to_thread.run_sync(lambda: semantic.save_image_query(dataset, picture))


def search_url(dataset: DatasetHandle, record_filter: RecordFilter, vector_id: str) -> str:
    """The grid of the records nearest a kept picture embedding, under the same filters."""
    items = [("ds", dataset.name), *record_filter.query_items(), ("vec", vector_id)]
    return "/?" + urlencode([(k, v) for k, v in items if k != "q"])


@router.post(
    "/search/image",
    summary="Search by an uploaded picture: keeps its embedding, then redirects to the grid",
    response_class=RedirectResponse,
    status_code=303,
)
async def search_image_page(
    request: Request,
    dataset: DatasetDep,
    settings: SettingsDep,
    record_filter: FilterDep,
    picture: UploadFile,
):
    image = await read_picture(picture, settings)
    vector_id = await save_picture_query(request, dataset, image)
    # A 303 to a GET: the result pages, is bookmarked and shared, and Back posts nothing.
    return RedirectResponse(search_url(dataset, record_filter, vector_id), status_code=303)


@router.post(
    "/api/search/image",
    tags=["api"],
    summary="JSON twin of /search/image (multipart upload)",
    response_model=NearestRecords,
)
async def search_image_api(
    request: Request,
    dataset: DatasetDep,
    settings: SettingsDep,
    record_filter: FilterDep,
    picture: UploadFile,
) -> dict[str, Any]:
    image = await read_picture(picture, settings)
    vector_id = await save_picture_query(request, dataset, image)
    semantic: SemanticSearch = request.app.state.workspace.semantic
    result = await to_thread.run_sync(
        lambda: semantic.by_saved(dataset, vector_id, record_filter, limit=settings.page_size)
    )
    return {
        "dataset": dataset.name,
        "total": result.total,
        "vector_id": vector_id,
        "grid": search_url(dataset, record_filter, vector_id),
        "records": result.rows,
    }


def read_vector_query(body: bytes) -> VectorQuery:
    """The JSON body parsed and validated by pydantic in one pass (its Rust JSON parser):
    FastAPI's own path (content-type parsing, ``json.loads``, then validation) cost more than
    the search itself at 50k vectors. Refusals are the app's usual 422, naming each field."""
    try:
        return VectorQuery.model_validate_json(body or b"null")
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


@router.post(
    "/api/search/vector",
    tags=["api"],
    summary="The records nearest to a query embedding you computed (with filters)",
    response_model=NearestRecords,
    # The body is parsed and validated in one step by pydantic (``read_vector_query``), so it
    # is documented here rather than declared as a parameter.
    openapi_extra={"requestBody": VECTOR_QUERY_BODY},
)
async def search_vector_api(
    request: Request, dataset: DatasetDep, record_filter: FilterDep
) -> JSONResponse:
    settings: Settings = request.app.state.settings
    query = read_vector_query(await request.body())
    if query.k > settings.max_page_size:
        raise HTTPException(400, detail=f"k is at most {settings.max_page_size} (got {query.k})")
    semantic: SemanticSearch = request.app.state.workspace.semantic
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused below
        vector = np.asarray(query.vector, dtype=np.float32)
    if not np.isfinite(vector).all() or not np.any(vector):
        raise HTTPException(400, detail="the vector must be finite and not all zeros")
    columns = query.columns_to_read()
    offload: Offload = request.app.state.offload
    try:
        result = await offload.run(
            ("search/vector", dataset.name, query.kind),
            lambda: semantic.by_vector(
                dataset, vector, query.kind, record_filter, limit=query.k, columns=columns
            ),
            eligible=semantic.answers_in_memory(dataset, record_filter),
        )
    except ValueError as error:  # a vector of the wrong dimension
        raise HTTPException(400, detail=str(error)) from None
    # Rendered directly: FastAPI's jsonable_encoder costs ~2.5 ms on 50 records of plain values.
    rows = result.rows
    if query.fields is not None:  # a smaller answer: 50 whole records are ~30 KB of JSON
        keep = dict.fromkeys([*ALWAYS_RETURNED, *query.fields])
        rows = [{name: row[name] for name in keep if name in row} for row in rows]
    body = {"dataset": dataset.name, "total": result.total, "records": rows}
    return FastJSONResponse(body)


@router.get(
    "/records/{sample_id}/duplicates",
    summary="A record's near-duplicates (partial for the record page)",
)
async def duplicates_partial(
    request: Request,
    dataset: DatasetDep,
    explorer: ExplorerDep,
    settings: SettingsDep,
    sample_id: str = Path(..., max_length=200),
):
    row = await to_thread.run_sync(lambda: explorer.record(dataset, sample_id))
    if row is None:
        raise HTTPException(404, detail=f"no record {sample_id!r} in {dataset.name}")
    semantic: SemanticSearch = request.app.state.workspace.semantic
    rows = await to_thread.run_sync(
        lambda: semantic.near_duplicates(dataset, row["pos"], settings.duplicate_threshold)
    )
    return render(
        request,
        "partials/_duplicates.html",
        {"dataset": dataset, "rows": rows, "row": row, "meaning": semantic.status(dataset)},
    )
