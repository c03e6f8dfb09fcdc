"""`loupe embed`, `loupe index`, `loupe model ...` (search by meaning)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

model_app = typer.Typer(help="Manage the OpenCLIP model weights.", no_args_is_help=True)

Progress = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]


def _fail(command: str, error: Exception | str) -> typer.Exit:
    typer.echo(f"loupe {command}: {error}", err=True)
    return typer.Exit(code=2)


def _settings(command: str, name: str):
    from app.catalog.layout import check_dataset_name
    from app.config import Settings

    try:
        check_dataset_name(name)
    except ValueError as error:
        raise _fail(command, f"{error}.") from None
    return Settings()


def _open_errors() -> tuple[type[Exception], ...]:
    """What opening a dataset through the workspace can fail with, said in one sentence."""
    from app.catalog.hidden import HiddenSetUnknown
    from app.review.errors import ReviewError
    from app.workspace import WorkspaceError

    return (WorkspaceError, HiddenSetUnknown, ReviewError)


def embed(
    name: Annotated[str, typer.Argument(help="Dataset name under the data folder.")],
    images: Annotated[
        bool, typer.Option("--images/--no-images", help="Image embeddings (OpenCLIP).")
    ] = True,
    captions: Annotated[
        bool, typer.Option("--captions/--no-captions", help="Caption embeddings (text model).")
    ] = True,
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Items per forward pass.")] = 32,
    chunk_rows: Annotated[
        int, typer.Option(min=16, help="Records per saved chunk (the unit of resuming).")
    ] = 1024,
    force: Annotated[bool, typer.Option(help="Start over even if embeddings exist.")] = False,
    progress: Progress = True,
) -> None:
    """Compute image and caption embeddings for a dataset (resumable: rerun to continue).

    With image embeddings comes the PDQ perceptual hash of each picture (for PDQ blocklists and
    the quarantine). Hidden records (blocklists, suspected-CSAM flags) are never decoded or
    embedded."""
    from app.build import embed as embed_visible
    from app.vectors.embed import EmbedError
    from app.vectors.models import ModelError
    from app.vectors.store import StoreError

    settings = _settings("embed", name)
    kinds = tuple(k for k, on in (("image", images), ("caption", captions)) if on)
    if not kinds:
        raise _fail("embed", "nothing to do: both --no-images and --no-captions given.")
    try:
        results = embed_visible(
            settings,
            name,
            kinds=kinds,
            batch_size=batch_size,
            chunk_rows=chunk_rows,
            force=force,
            progress=progress,
        )
    except (EmbedError, ModelError, StoreError, *_open_errors()) as error:
        raise _fail("embed", error) from None
    for result in results:
        note = f" ({result.note})" if result.note else ""
        what = "PDQ hashes" if result.kind == "pdq" else "embeddings"
        typer.echo(
            f"{result.kind}: {result.embedded:,} {what}, {result.skipped:,} records skipped, "
            f"{result.seconds:.1f} s{note}"
        )
    if all(r.complete for r in results):
        typer.echo(f"Next: loupe index {name}")


def index(
    name: Annotated[str, typer.Argument(help="Dataset name under the data folder.")],
    flat_threshold: Annotated[
        int, typer.Option(min=1, help="Below this many vectors the index is exact (Flat).")
    ] = 50_000,
    duplicates: Annotated[
        bool,
        typer.Option(
            "--duplicates/--no-duplicates",
            help="Find near-duplicate clusters (one kNN pass over all images).",
        ),
    ] = True,
    layout: Annotated[
        bool,
        typer.Option(
            "--layout/--no-layout",
            help="Compute the embedding map (2-D layout, named clusters) of each kind "
            "(resumable: rerun to continue).",
        ),
    ] = True,
    progress: Progress = True,
) -> None:
    """Build the FAISS indexes of a dataset's embeddings, tune them, count duplicates, and
    compute the embedding map (/map) of each kind."""
    from app.build import index as build_index
    from app.vectors.index import IndexFileError
    from app.vectors.layout import LayoutError
    from app.vectors.store import StoreError

    settings = _settings("index", name)
    try:
        section = build_index(
            settings,
            name,
            flat_threshold=flat_threshold,
            duplicates=duplicates,
            layout=layout,
            progress=progress,
        )
    except (StoreError, IndexFileError, LayoutError, *_open_errors()) as error:
        raise _fail("index", error) from None
    for kind, entry in section.items():
        if not entry.get("count"):
            typer.echo(f"{kind}: {entry.get('note', 'empty')}")
            continue
        line = (
            f"{kind}: {entry['count']:,} vectors, {entry['factory']}, "
            f"{entry['file_bytes'] / 2**20:.1f} MiB, built in {entry['build_seconds']:.1f} s, "
            f"recall@50 {entry['recall_at_50']:.3f}"
        )
        if not entry["type"] == "flat":
            line += f" (nprobe {entry['nprobe']}, re-rank x{entry['rerank']})"
        dups = entry.get("duplicates")
        if dups:
            line += (
                f"; {dups['clusters']:,} duplicate clusters at >= {dups['threshold']}"
                f" ({dups['records_in_clusters']:,} records)"
            )
        typer.echo(line)
        mapped = entry.get("layout")
        if mapped:
            state = "" if mapped["complete"] else " (unfinished: rerun to continue)"
            typer.echo(
                f"{kind} map: {mapped['points']:,} points, {mapped['clusters']} clusters, "
                f"{mapped['seconds']:.1f} s{state}"
                + (f"; {mapped['note']}" if mapped["note"] else "")
            )


@model_app.command("fetch")
def model_fetch(
    tag: Annotated[
        str | None,
        typer.Option(
            help="OpenCLIP pretrained tag (default: LOUPE_CLIP_WEIGHTS if it "
            "is a tag, else laion2b_s34b_b79k)."
        ),
    ] = None,
    arch: Annotated[
        str | None, typer.Option(help="Architecture (default: LOUPE_CLIP_MODEL).")
    ] = None,
    dest: Annotated[
        Path | None, typer.Option(help="Folder to save into (default: <state_dir>/models).")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for the host.")] = 5.0,
) -> None:
    """Download OpenCLIP weights once, on a connected machine (never done at run time)."""
    from app.config import Settings
    from app.vectors.fetch import DEFAULT_TAG, fetch_weights
    from app.vectors.models import ModelError, looks_like_path, models_dir

    settings = Settings()
    arch = arch or settings.clip_model
    weights = settings.clip_weights
    tag = tag or (weights if weights and not looks_like_path(weights) else DEFAULT_TAG)
    try:
        path = fetch_weights(arch, tag, dest or models_dir(settings.state_dir), timeout=timeout)
    except ModelError as error:
        raise _fail("model fetch", error) from None
    typer.echo(f"Saved {arch}/{tag} to {path}")
    typer.echo(f"Use it with: export LOUPE_CLIP_MODEL={arch} LOUPE_CLIP_WEIGHTS={path}")


@model_app.command("info")
def model_info() -> None:
    """Say which models are configured and whether they can be loaded here (loads nothing)."""
    from app.config import Settings
    from app.vectors.models import (
        UNTRAINED_NOTE,
        ModelError,
        resolve_clip_source,
        text_model_folder,
    )

    settings = Settings()
    problems = 0
    try:
        source = resolve_clip_source(settings.clip_model, settings.clip_weights, settings.state_dir)
        note = f"weights {source.checkpoint}" if source.checkpoint else UNTRAINED_NOTE
        typer.echo(f"image model: {source.label}: {note}")
    except ModelError as error:
        typer.echo(f"image model: {error}")
        problems += 1
    try:
        typer.echo(
            f"text model: {settings.text_model} from {text_model_folder(settings.text_model)}"
        )
    except ModelError as error:
        typer.echo(f"text model: {error}")
        problems += 1
    if problems:
        raise typer.Exit(code=2)
