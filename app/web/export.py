"""`/export`: the current browse selection as a streamed CSV, parquet or JSONL download.

The selection is the grid's: the same filters, the same text search, the same classroom-mode
and link-status restrictions, and hidden records (suspected CSAM, blocklists) never, because
the rows come from ``Catalog.export_batches``, which applies the hidden-set exclusion like
every other catalog read. Rows stream in Arrow batches, so a download of the full result set
holds one batch in memory at a time. Order: catalog position (CLIP similarity, highest first).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from anyio import to_thread
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from app.explore.service import SelectionTooLarge
from app.web.browse import run_browse
from app.web.deps import DatasetDep, ExplorerDep, FilterDep, SettingsDep
from app.web.params import PageParams, SearchDep

router = APIRouter(tags=["export"])

ExportFormat = Literal["csv", "parquet", "jsonl"]
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
BATCH_ROWS = 20_000


def csv_chunks(batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    first = True
    for batch in batches:
        sink = io.BytesIO()
        pacsv.write_csv(batch, sink, write_options=pacsv.WriteOptions(include_header=first))
        first = False
        yield sink.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    return value


def jsonl_chunks(batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    for batch in batches:
        lines = [
            json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False, default=str)
            for row in batch.to_pylist()
        ]
        if lines:
            yield ("\n".join(lines) + "\n").encode("utf-8")


class _Drain:
    """A write-only file the parquet writer writes into and the response drains."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def parquet_chunks(batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    sink = _Drain()
    writer: pq.ParquetWriter | None = None
    for batch in batches:
        if writer is None:
            writer = pq.ParquetWriter(sink, batch.schema, compression="zstd")
        writer.write_batch(batch)  # one row group per batch: bounded memory
        chunk = sink.take()
        if chunk:
            yield chunk
    if writer is not None:
        writer.close()
    yield sink.take()


ENCODERS = {"csv": csv_chunks, "parquet": parquet_chunks, "jsonl": jsonl_chunks}


@router.get(
    "/export",
    summary="Download the records matching the filters (CSV, parquet or JSONL), streamed",
    response_class=StreamingResponse,
    responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
)
async def export_selection(
    request: Request,
    dataset: DatasetDep,
    explorer: ExplorerDep,
    record_filter: FilterDep,
    search: SearchDep,
    settings: SettingsDep,
    file_format: Annotated[ExportFormat, Query(alias="format")] = "csv",
    limit: Annotated[
        int | None, Query(ge=1, description="At most this many rows (all if absent).")
    ] = None,
) -> StreamingResponse:
    ranked = None
    if search.by_meaning:
        # A search by meaning (words, a record, an uploaded picture) is exported as the grid
        # ranks it: its nearest records, nearest first, with their scores.
        size = min(limit or settings.max_knn_results, settings.max_knn_results)
        page = PageParams(sort="", page=1, size=size, after=None, seed=1)
        ranked = (await run_browse(request, dataset, record_filter, page, search)).result.rows

    def start() -> Iterator[bytes]:
        if ranked is not None:
            batches = explorer.export_ranked(dataset, ranked)
        else:
            batches = explorer.export_batches(
                dataset, record_filter, batch_rows=BATCH_ROWS, limit=limit
            )
        chunks = ENCODERS[file_format](batches)
        # The query runs (and fails, with a clear error page) before the response starts.
        first = next(chunks, b"")
        return _prepend(first, chunks)

    try:
        body = await to_thread.run_sync(start)
    except SelectionTooLarge as error:
        raise HTTPException(status_code=400, detail=str(error)) from None
    extension = file_format
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[file_format],
        headers={
            "Content-Disposition": f'attachment; filename="{dataset.name}-selection.{extension}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest
