"""`loupe serve`: run the web server with uvicorn."""

from __future__ import annotations

import typer

from app.config import Settings


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default: LOUPE_HOST)."),
    port: int | None = typer.Option(None, help="Port to bind (default: LOUPE_PORT)."),
    workers: int = typer.Option(
        1,
        min=1,
        max=16,
        help="Server processes (2 on 2 cores: see docs/performance.md). Each opens the "
        "datasets itself; the memory-mapped files are shared between them.",
    ),
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
    if workers == 1:
        uvicorn.run(
            create_app(settings),
            host=bind_host,
            port=bind_port,
            log_level="info",
            access_log=settings.access_log,
        )
    else:
        # Each worker process builds its own app (and workspace) from the same environment.
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_level="info",
            access_log=settings.access_log,
        )
