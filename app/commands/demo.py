"""`loupe demo`: build the embedded demo dataset offline (if absent)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from app.config import Settings
from app.demo.build import DEFAULT_RECORDS

DEMO_NAME = "demo"
DEMO_TITLE = "Loupe demo"
PROVENANCE_FILE = "demo_provenance.parquet"
DEMO_DESCRIPTION = (
    "About 1,200 captioned images made offline from the sample pictures that scikit-image and "
    "matplotlib ship: crops, flips, recolourings and near-duplicates, with LAION-5B-style "
    "captions in a dozen languages. The URLs (.example hosts) and all scores (similarity, "
    "punsafe, pwatermark, aesthetic) are made up; every image is harmless whatever its score."
)


def demo(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if the demo dataset exists.")
    ] = False,
    records: Annotated[
        int,
        typer.Option(
            min=10,
            max=100_000,
            help="How many records (a smaller demo builds faster; embedding images with "
            "ViT-B-32 on a CPU is most of the time).",
        ),
    ] = DEFAULT_RECORDS,
) -> None:
    """Build the demo dataset into the data folder (offline), with its embeddings and
    indexes."""
    # Imported here: `loupe --help` should not pay for DuckDB, Pillow and scikit-image.
    from app.build import build_dataset, build_vectors
    from app.catalog.ingest import IngestError
    from app.catalog.layout import DatasetPaths
    from app.demo.build import build_demo_source

    settings = Settings()
    paths = DatasetPaths(settings.dataset_dir(DEMO_NAME))
    if paths.exists() and not force:
        typer.echo(f"The demo dataset already exists in {paths.root}; --force rebuilds it.")
        return

    started = time.perf_counter()
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # The source goes beside the dataset (a dot-folder, which dataset listings skip) so
        # that ingest can hard-link the images instead of copying them across file systems.
        workdir = Path(tempfile.mkdtemp(prefix=".demo-source-", dir=settings.data_dir))
    except OSError as error:
        typer.echo(
            f"loupe demo: cannot write to the data folder {settings.data_dir} "
            f"({error.strerror or error}); set LOUPE_DATA_DIR to a writable folder.",
            err=True,
        )
        raise typer.Exit(code=2) from None
    try:
        source = build_demo_source(workdir, n_records=records, progress=True)
        built = time.perf_counter()
        manifest = build_dataset(
            settings.data_dir,
            DEMO_NAME,
            [source.parquet],
            images=source.images_dir,
            title=DEMO_TITLE,
            description=DEMO_DESCRIPTION,
        )
        # Ground truth (base image, recipe, near-duplicate group) for checking duplicate
        # detection and search by image on the demo; not part of the catalog.
        shutil.copyfile(source.provenance, paths.root / PROVENANCE_FILE)
    except IngestError as error:
        typer.echo(f"loupe demo: {error}", err=True)
        raise typer.Exit(code=2) from None
    except OSError as error:  # disk full, permissions changed under us
        typer.echo(
            f"loupe demo: cannot write the demo under {settings.data_dir} "
            f"({error.strerror or error}).",
            err=True,
        )
        raise typer.Exit(code=2) from None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ingested = time.perf_counter()
    try:
        build_vectors(settings, DEMO_NAME)
    except Exception as error:  # the catalog is usable without vectors: say so, keep it
        typer.echo(
            f"loupe demo: the catalog is built, but search by meaning is not: {error} "
            f"(retry with `loupe embed {DEMO_NAME}` then `loupe index {DEMO_NAME}`)",
            err=True,
        )
        raise typer.Exit(code=2) from None
    finished = time.perf_counter()
    typer.echo(
        f"Built the demo dataset: {manifest.row_count} records in {paths.root} "
        f"in {finished - started:.1f} s (images {built - started:.1f} s, "
        f"ingest {ingested - built:.1f} s, after-ingest {finished - ingested:.1f} s)."
    )
