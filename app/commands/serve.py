"""`loupe serve`: run the web server with uvicorn."""

from __future__ import annotations

import typer

from app.config import Settings


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default: LOUPE_HOST)."),
    port: int | None = typer.Option(None, help="Port to bind (default: LOUPE_PORT)."),
) -> None:
    """Serve the datasets in the data folder on http://HOST:PORT."""
    import uvicorn

    from app.main import create_app
    from app.workspace import WorkspaceError, find_datasets

    settings = Settings()
    bind_host = host or settings.host
    bind_port = port or settings.port
    try:
        find_datasets(settings)  # fail before binding, with the sentence that says why
    except WorkspaceError as error:
        typer.echo(f"loupe serve: {error}", err=True)
        raise typer.Exit(code=2) from error
    typer.echo(f"Loupe on http://{bind_host}:{bind_port}  (data: {settings.data_dir})")
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_level="info")
