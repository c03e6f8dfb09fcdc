"""`loupe demo`: build the embedded demo dataset offline (if absent)."""

from __future__ import annotations

import typer


def demo(force: bool = typer.Option(False, help="Rebuild even if the demo dataset exists.")) -> None:
    """Build the demo dataset into the data folder."""
    typer.echo("loupe demo: not available yet", err=True)
    raise typer.Exit(code=2)
