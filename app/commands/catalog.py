"""`loupe ingest`, `loupe datasets` (metadata catalogs)."""

from __future__ import annotations

from pathlib import Path

import typer


def ingest(
    name: str = typer.Argument(..., help="Dataset name; becomes the folder <data_dir>/NAME."),
    paths: list[Path] = typer.Argument(..., help="Parquet files or folders of them."),
    map_: list[str] = typer.Option(
        [],
        "--map",
        metavar="SRC=DST",
        help="Fill Loupe column DST from source column SRC (repeatable); overrides detection.",
    ),
    images: Path | None = typer.Option(
        None,
        "--images",
        help="Folder of images named <sample_id>.<ext>, or of webdataset .tar shards; "
        "linked (or copied) into the dataset.",
    ),
    title: str | None = typer.Option(None, "--title", help="Title shown in the web UI."),
    description: str | None = typer.Option(
        None, "--description", help="One paragraph shown on the dataset page."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Turn parquet metadata (LAION-5B, img2dataset, clip-retrieval) into a dataset."""
    from app.catalog.ingest import IngestError, ingest_dataset
    from app.config import Settings

    settings = Settings()
    try:
        mapping = _parse_mapping(map_)
        manifest = ingest_dataset(
            settings.data_dir,
            name,
            paths,
            mapping,
            images=images,
            title=title,
            description=description,
            progress=progress,
        )
    except IngestError as error:
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
    for row in rows:
        typer.echo(
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip()
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
