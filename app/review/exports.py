"""The confirmed removal list, in the form a dataset maintainer publishes with a cleaned release.

One row per confirmed flag: SAMPLE_ID, URL, url_sha256, category, flagged_by, confirmed_by,
decided_at. For suspected CSAM the URL column is left empty (a published list must not point at
such an image; the URL hash is enough to remove it, as Re-LAION-5B did). ``include_csam_urls``
fills it in for a report to the authorities, never for publication; that use is audit-logged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from app.review import audit
from app.review.db import Database, parse_iso
from app.review.flags import CSAM

FORMATS: tuple[str, ...] = ("parquet", "csv")
REMOVAL_SCHEMA = pa.schema(
    [
        pa.field("SAMPLE_ID", pa.string(), nullable=False),
        pa.field("URL", pa.string()),
        pa.field("url_sha256", pa.string()),
        pa.field("category", pa.string(), nullable=False),
        pa.field("flagged_by", pa.string(), nullable=False),
        pa.field("confirmed_by", pa.string(), nullable=False),
        pa.field("decided_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)


def removals_table(
    db: Database,
    dataset: str,
    *,
    include_csam_urls: bool = False,
    actor: str = "system",
) -> pa.Table:
    """Confirmed flags of ``dataset`` as an Arrow table (ordered by decision time, then id)."""
    with db.read() as conn:
        rows = conn.execute(
            "SELECT id, sample_id, url, url_sha256, category, flagged_by, decided_by, decided_at "
            "FROM flags WHERE dataset = ? AND status = 'confirmed' ORDER BY decided_at, id",
            (dataset,),
        ).fetchall()
    if include_csam_urls and any(row["category"] == CSAM for row in rows):
        with db.write() as conn:
            audit.record(
                db,
                conn,
                actor=actor,
                action="export.csam_urls",
                target=f"dataset:{dataset}",
                dataset=dataset,
            )
    columns: dict[str, list[object]] = {name: [] for name in REMOVAL_SCHEMA.names}
    for row in rows:
        hide_url = row["category"] == CSAM and not include_csam_urls
        columns["SAMPLE_ID"].append(row["sample_id"])
        columns["URL"].append(None if hide_url else row["url"])
        columns["url_sha256"].append(row["url_sha256"])
        columns["category"].append(row["category"])
        columns["flagged_by"].append(row["flagged_by"])
        columns["confirmed_by"].append(row["decided_by"])
        decided: datetime = parse_iso(row["decided_at"])
        columns["decided_at"].append(decided)
    return pa.table(columns, schema=REMOVAL_SCHEMA)


def write_table(table: pa.Table, path: Path, file_format: str) -> Path:
    """Write atomically (temporary file, then rename): a reader never sees half an export."""
    if file_format not in FORMATS:
        raise ValueError(f"unknown export format {file_format!r}: use parquet or csv")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if file_format == "parquet":
        pq.write_table(table, tmp)
    else:
        pacsv.write_csv(table, tmp)
    os.replace(tmp, path)
    return path


def to_bytes(table: pa.Table, file_format: str) -> bytes:
    """The file's bytes, for a download response (``/review/export``)."""
    if file_format not in FORMATS:
        raise ValueError(f"unknown export format {file_format!r}: use parquet or csv")
    sink = pa.BufferOutputStream()
    if file_format == "parquet":
        pq.write_table(table, sink)
    else:
        pacsv.write_csv(table, sink)
    return sink.getvalue().to_pybytes()


def export_removals(
    db: Database,
    datasets: Sequence[str],
    out_dir: Path,
    formats: Sequence[str] = FORMATS,
    *,
    include_csam_urls: bool = False,
    actor: str = "system",
) -> list[tuple[str, Path, int]]:
    """Write ``<out_dir>/<dataset>-removals.<format>`` for each dataset: (dataset, path, rows)."""
    written: list[tuple[str, Path, int]] = []
    for dataset in datasets:
        table = removals_table(db, dataset, include_csam_urls=include_csam_urls, actor=actor)
        for file_format in formats:
            path = write_table(
                table, Path(out_dir) / f"{dataset}-removals.{file_format}", file_format
            )
            written.append((dataset, path, table.num_rows))
    return written


def datasets_with_flags(db: Database) -> list[str]:
    rows = db.connection().execute("SELECT DISTINCT dataset FROM flags ORDER BY dataset").fetchall()
    return [row[0] for row in rows]
