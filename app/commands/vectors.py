"""`loupe embed`, `loupe index`, `loupe model ...` (search by meaning)."""

from __future__ import annotations

import typer

model_app = typer.Typer(help="Manage the OpenCLIP model weights.", no_args_is_help=True)


def embed(name: str = typer.Argument(..., help="Dataset name under the data folder.")) -> None:
    """Compute image and caption embeddings for a dataset (resumable)."""
    raise typer.Exit(code=_not_yet("embed"))


def index(name: str = typer.Argument(..., help="Dataset name under the data folder.")) -> None:
    """Build the FAISS indexes of a dataset's embeddings."""
    raise typer.Exit(code=_not_yet("index"))


def _not_yet(what: str) -> int:
    typer.echo(f"loupe {what}: not available yet", err=True)
    return 2
