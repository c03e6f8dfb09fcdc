"""`loupe settings`: every setting, its environment variable, default and meaning."""

from __future__ import annotations

import typer

from app.config import settings_table


def settings() -> None:
    """Print every setting (environment variable, default, meaning) as a Markdown table."""
    typer.echo(settings_table())
