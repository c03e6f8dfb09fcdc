"""`loupe ingest`, `loupe datasets` (metadata catalogs)."""

from __future__ import annotations

from pathlib import Path

import typer


def ingest(
    name: str = typer.Argument(..., help="Dataset name; becomes the folder <data_dir>/NAME."),
    paths: list[Path] = typer.Argument(..., help="Parquet files or folders of them."),
) -> None:
    """Turn parquet metadata (LAION-5B, img2dataset, clip-retrieval) into a dataset."""
    typer.echo("loupe ingest: not available yet", err=True)
    raise typer.Exit(code=2)


def datasets() -> None:
    """List the datasets in the data folder."""
    typer.echo("loupe datasets: not available yet", err=True)
    raise typer.Exit(code=2)
