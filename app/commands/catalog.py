"""`loupe ingest`, `loupe datasets` (metadata catalogs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def ingest(
    name: Annotated[str, typer.Argument(help="Dataset name; becomes the folder <data_dir>/NAME.")],
    paths: Annotated[list[Path], typer.Argument(help="Parquet files or folders of them.")],
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="SRC=DST",
            help="Fill Loupe column DST from source column SRC (repeatable); overrides detection.",
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            "--images",
            help="Folder of images named <sample_id>.<ext>, or of webdataset .tar shards; "
            "linked (or copied) into the dataset.",
        ),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Title shown in the web UI.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="One paragraph shown on the dataset page.")
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
    ] = True,
) -> None:
    """Turn parquet metadata (LAION-5B, img2dataset, clip-retrieval) into a dataset."""
    # Imported here so that `loupe --help` does not pay for DuckDB and tantivy.
    from app.build import build_dataset, import_embeddings, seed_link_statuses
    from app.catalog.hidden import HiddenSetUnknown
    from app.catalog.ingest import IngestError
    from app.config import Settings
    from app.review.errors import ReviewError
    from app.vectors.precomputed import (
        PrecomputedError,
        find_shards,
        is_precomputed_layout,
        metadata_files,
    )
    from app.workspace import WorkspaceError

    settings = Settings()
    # A clip-retrieval / embedding-reader folder (metadata/, img_emb/, text_emb/): its
    # metadata is the catalog, and its embeddings are imported once the catalog exists.
    embedding_roots = [p for p in paths if p.is_dir() and is_precomputed_layout(p)]
    sources = [f for p in paths for f in (metadata_files(p) if p in embedding_roots else [p])]
    try:
        for root in embedding_roots:
            find_shards(root)  # refuse misaligned shards before building anything
        mapping = _parse_mapping(map_ or [])
        manifest = build_dataset(
            settings.data_dir,
            name,
            sources,
            mapping,
            images=images,
            title=title,
            description=description,
            progress=progress,
        )
        for root in embedding_roots:
            summary = import_embeddings(settings, name, root, progress=progress)
            typer.echo(
                f"Imported {summary.get('imported', 0):,} precomputed image embeddings from "
                f"{root}; next: loupe index {name}"
            )
        if manifest.source_format == "img2dataset":
            seeded = seed_link_statuses(settings, name)
            if seeded:
                typer.echo(
                    f"Link statuses of {seeded:,} records taken from img2dataset's own "
                    "download results (status, error_message); nothing was fetched."
                )
    except (
        IngestError,
        PrecomputedError,
        WorkspaceError,
        HiddenSetUnknown,
        ReviewError,
    ) as error:
        typer.echo(f"loupe ingest: {error}", err=True)
        raise typer.Exit(code=2) from None
    seconds = manifest.build_seconds or 0.0
    rate = manifest.row_count / seconds if seconds > 0 else 0.0
    dropped = manifest.parts.get("ingest", {}).get("duplicates_dropped", 0)
    note = f", {dropped:,} duplicate sample ids dropped" if dropped else ""
    typer.echo(
        f"Ingested {manifest.row_count:,} rows ({manifest.source_format}) in {seconds:.1f} s "
        f"({rate:,.0f} rows/s{note}) into {settings.dataset_dir(name)}"
    )


def datasets() -> None:
    """List the datasets in the data folder."""
    from app.catalog.ingest import list_datasets
    from app.config import Settings

    settings = Settings()
    found = list_datasets(settings.data_dir)
    if not found:
        typer.echo(
            f"No datasets in {settings.data_dir}; build one with `loupe demo` or `loupe ingest`."
        )
        return
    rows = [("NAME", "ROWS", "FORMAT", "BUILT")]
    rows += [(m.name, f"{m.row_count:,}", m.source_format, m.built_at) for m in found]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for name, count, source_format, built_at in rows:
        typer.echo(
            f"{name:<{widths[0]}}  {count:>{widths[1]}}  {source_format:<{widths[2]}}  {built_at}"
        )


def _parse_mapping(pairs: list[str]) -> dict[str, str] | None:
    from app.catalog.ingest import IngestError

    mapping: dict[str, str] = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise IngestError(f"--map {pair!r}: write it as SOURCE_COLUMN=LOUPE_COLUMN.")
        if src.strip() in mapping:
            raise IngestError(f"--map names the source column {src.strip()!r} twice.")
        mapping[src.strip()] = dst.strip()
    return mapping or None
