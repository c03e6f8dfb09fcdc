"""`/images/{sample_id}/thumb` and `/images/{sample_id}/display`: pixels, always from Loupe.

The browser never loads a third-party URL: the picture comes from the dataset's local store,
or (``remote_images`` on) from the guarded fetcher, re-encoded either way; otherwise a
placeholder that says why. A record that is hidden or filtered out (classroom mode) is a 404
here exactly as on its record page, because the row is looked up through the same explorer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Header, HTTPException, Path, Request
from fastapi.responses import Response

from app.images.service import ImageResult, RecordHidden
from app.web.deps import DatasetDep, ExplorerDep, ImagesDep

router = APIRouter(tags=["images"])

# Short browser caching: a record hidden by a reviewer must stop showing soon even in a
# browser that saw it; revalidation with the ETag is cheap (a 304 with no body).
CACHE_IMAGE = "private, max-age=300"
CACHE_PLACEHOLDER = "private, max-age=30"  # a fetch may succeed later, a store may appear

SampleId = Path(..., max_length=200, description="The record's sample id in its dataset.")
SizeParam = Path(..., description="thumb (grid) or display (record page).")


def image_limiter(request: Request) -> CapacityLimiter:
    """Worker threads for image work, apart from the shared pool: a grid of 48 thumbnails
    waiting on slow remote hosts must not starve the catalog queries of other pages."""
    limiter = getattr(request.app.state, "image_limiter", None)
    if limiter is None:
        settings = request.app.state.settings
        tokens = max(4, settings.remote_concurrency) if settings.remote_images else 4
        limiter = CapacityLimiter(tokens)
        request.app.state.image_limiter = limiter
    return limiter


def image_response(result: ImageResult, if_none_match: str | None = None) -> Response:
    """The HTTP response for an image or placeholder, honouring If-None-Match."""
    headers = {
        "ETag": result.etag,
        "Cache-Control": CACHE_PLACEHOLDER if result.placeholder else CACHE_IMAGE,
        "X-Content-Type-Options": "nosniff",
        # Our SVG placeholders carry no script; this makes sure none could ever run.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    }
    if result.placeholder and result.reason:
        headers["X-Loupe-Image"] = result.reason
    if if_none_match and result.etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(content=result.content, media_type=result.media_type, headers=headers)


@router.get(
    "/images/{sample_id}/{size}",
    summary="A record's image, re-encoded (thumb for the grid, display for the record page)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/svg+xml": {}}}, 304: {}, 404: {}},
)
async def record_image(
    request: Request,
    dataset: DatasetDep,
    explorer: ExplorerDep,
    service: ImagesDep,
    size: Literal["thumb", "display"] = SizeParam,
    sample_id: str = SampleId,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    row = await to_thread.run_sync(lambda: explorer.record(dataset, sample_id))
    if row is None:
        raise HTTPException(status_code=404, detail=f"no record {sample_id!r} in {dataset.name}")
    try:
        result = await to_thread.run_sync(
            service.image_or_placeholder, dataset.paths, row, size, limiter=image_limiter(request)
        )
    except RecordHidden:  # hidden between the lookup and the read
        raise HTTPException(
            status_code=404, detail=f"no record {sample_id!r} in {dataset.name}"
        ) from None
    return image_response(result, if_none_match)
