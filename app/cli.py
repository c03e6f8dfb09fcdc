"""The ``loupe`` command. Each area's commands live in ``app/commands/<area>.py``; this file
only assembles them, so the list below is the whole command-line surface."""

from __future__ import annotations

import typer

from app.commands import catalog, demo, images, review, serve, settings, vectors

app = typer.Typer(
    help="Loupe: look inside captioned-image training sets.",
    no_args_is_help=True,
    add_completion=False,
)

app.command("ingest")(catalog.ingest)
app.command("datasets")(catalog.datasets)
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("settings")(settings.settings)
app.command("embed")(vectors.embed)
app.command("index")(vectors.index)
app.command("check-links")(images.check_links)
app.add_typer(vectors.model_app, name="model")
app.add_typer(review.user_app, name="user")
app.add_typer(review.blocklist_app, name="blocklist")
app.add_typer(review.export_app, name="export")
app.add_typer(review.quarantine_app, name="quarantine")


if __name__ == "__main__":
    app()
