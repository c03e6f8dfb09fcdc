"""`loupe user ...`, `loupe blocklist ...`, `loupe export ...` (reviewers and safety)."""

from __future__ import annotations

import typer

user_app = typer.Typer(help="Manage accounts (viewer, reviewer, admin).", no_args_is_help=True)
blocklist_app = typer.Typer(help="Import lists of records never to show.", no_args_is_help=True)
export_app = typer.Typer(help="Export review decisions.", no_args_is_help=True)
