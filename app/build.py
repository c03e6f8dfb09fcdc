"""Building a dataset, in one place: sources → catalog → text index → images → swap → vectors.

``build_dataset`` writes everything a dataset is made of into a temporary folder beside the
target (``<data_dir>/.<name>.tmp-…``) — the row store and DuckDB catalog (app.catalog.ingest),
the caption index (app.textsearch.index), the images (app.images.importing), the manifest —
and renames it into place at the end, so a failure, Ctrl-C or SIGKILL at any moment leaves the
previous dataset as it was.

What follows the swap reads the dataset like everything else does, through the workspace
(app.workspace), so its hidden set applies: precomputed embeddings of hidden records are not
imported, hidden records are never decoded or embedded, the map's layout never holds them.
Those steps come after the swap because the hidden set is matched against the catalog as the
server will open it (blocklists of URL or image hashes need that catalog).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from app.catalog.filters import MAP_KINDS
from app.catalog.ingest import (
    IngestError,
    check_replaceable,
    first_line,
    manifest_for,
    read_sources,
    swap_into_place,
    write_catalog,
)
from app.catalog.layout import DatasetPaths, check_dataset_name
from app.catalog.manifest import Manifest, write_manifest
from app.config import Settings
from app.explore.map import colours_current, remove_colours, write_colours
from app.images.importing import ImageSourceError, image_source_kind, import_images
from app.images.linkseed import checks_from_img2dataset
from app.textsearch.index import build_text_index
from app.vectors import build as vector_build
from app.vectors import store
from app.vectors.embed import EmbedResult, embed_dataset
from app.vectors.hashing import hash_dataset
from app.vectors.layout import build_layout, remove_layout
from app.vectors.models import Encoders
from app.vectors.precomputed import import_precomputed
from app.workspace import Workspace, workspace


def build_dataset(
    data_dir: Path,
    name: str,
    sources: list[Path],
    mapping: dict[str, str] | None = None,
    *,
    images: Path | None = None,
    title: str | None = None,
    description: str | None = None,
    progress: bool = True,
    text_index: bool = True,
) -> Manifest:
    """Build (or rebuild) ``<data_dir>/<name>/`` from parquet ``sources``; returns its manifest.

    ``text_index=False`` leaves out the caption index (caption words then cannot be searched;
    the benchmark times the catalog build alone with it).

    Raises IngestError for any problem with the input; the previous dataset of that name, if
    any, is only replaced once the new one is complete.
    """
    started = time.perf_counter()
    try:
        check_dataset_name(name)
    except ValueError as error:
        raise IngestError(f"{error}.") from None
    target = data_dir / name
    check_replaceable(target)
    found = read_sources(sources, mapping)
    try:
        image_kind = image_source_kind(images) if images is not None else None
    except ImageSourceError as error:
        raise IngestError(str(error)) from None

    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=data_dir))
    tmp.chmod(0o755)  # mkdtemp makes it private; a dataset is read by the server's user too
    try:
        paths = DatasetPaths(tmp)
        stats = write_catalog(paths, found, progress)
        text_seconds = _text_index(paths, progress) if text_index else None
        image_store, image_part = (None, {})
        if images is not None and image_kind is not None:
            image_store, image_part = import_images(images, image_kind, paths)
        manifest = manifest_for(
            name,
            found,
            stats,
            title=title,
            description=description,
            image_store=image_store,
            build_seconds=round(time.perf_counter() - started, 3),
            text_index_seconds=None if text_seconds is None else round(text_seconds, 3),
            parts={
                "ingest": {
                    "rows_read": stats.rows_read,
                    "duplicates_dropped": stats.duplicates_dropped,
                    "catalog_seconds": round(stats.seconds, 3),
                    "step_seconds": stats.timings,
                    **image_part,
                }
            },
        )
        write_manifest(paths.manifest, manifest)
        check_replaceable(target)  # someone may have put something there meanwhile
        swap_into_place(tmp, target)
    except (duckdb.Error, OSError) as error:
        # Not bad input but a failed build (disk full, out of memory): still one sentence.
        raise IngestError(f"{target}: the build failed ({first_line(error)}).") from error
    finally:
        # After a successful swap ``tmp`` no longer exists; otherwise this discards the attempt.
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _text_index(paths: DatasetPaths, progress: bool) -> float:
    con = duckdb.connect(str(paths.catalog), read_only=True)
    try:
        return build_text_index(con, paths.text_index, progress=progress)
    finally:
        con.close()


# --- after the swap: through the workspace -------------------------------------------------


def import_embeddings(
    settings: Settings, name: str, root: Path, *, progress: bool = True
) -> dict[str, Any]:
    """Import clip-retrieval / embedding-reader output's image embeddings (hidden records'
    vectors left out)."""
    with workspace(settings, names=[name]) as opened:
        handle = opened.dataset(name)
        hidden = opened.catalog.hidden.of(name).positions
        before = _embeddings_made(handle.paths)
        imported = import_precomputed(root, handle.paths, hidden=hidden, progress=progress)
        _drop_stale_maps(handle.paths, before)
        return imported


def embed(
    settings: Settings,
    name: str,
    *,
    kinds: Sequence[str] = ("image", "caption"),
    batch_size: int = 32,
    chunk_rows: int = 1024,
    force: bool = False,
    max_chunks: int | None = None,
    progress: bool = True,
    encoders: Encoders | None = None,
) -> list[EmbedResult]:
    """Image and caption embeddings of the visible records, and (with images) the PDQ hashes
    of their pictures (resumable: rerun to continue)."""
    with workspace(settings, names=[name]) as opened:
        handle = opened.dataset(name)
        before = _embeddings_made(handle.paths)
        results = embed_dataset(
            handle.paths,
            encoders or Encoders.from_settings(settings),
            rows=lambda positions, columns: opened.visible_rows(name, positions, columns),
            kinds=kinds,
            batch_size=batch_size,
            chunk_rows=chunk_rows,
            max_pixels=settings.max_image_pixels,
            state_dir=settings.state_dir,
            force=force,
            max_chunks=max_chunks,
            progress=progress,
        )
        _drop_stale_maps(handle.paths, before)
        if "image" in kinds:
            results.append(_hash_pictures(opened, name, force, max_chunks, progress))
        return results


def _hash_pictures(
    opened: Workspace, name: str, force: bool, max_chunks: int | None, progress: bool
) -> EmbedResult:
    """PDQ hashes of the visible records' pictures (app.vectors.hashing), reported as one
    more "embedding" kind so `loupe embed` prints it with the others."""
    paths = opened.dataset(name).paths
    settings = opened.settings
    result = hash_dataset(
        paths,
        rows=lambda positions, columns: opened.visible_rows(name, positions, columns),
        state_dir=settings.state_dir,
        max_pixels=settings.max_image_pixels,
        force=force,
        max_chunks=max_chunks,
        progress=progress,
    )
    if result.complete and result.seconds > 0:
        # Servers match PDQ blocklists against the new hashes on their next request.
        opened.review.safety.recheck()
    note = result.note
    if result.complete and result.seconds > 0 and not note:
        note = f"{result.images_per_s:,.0f} images/s"
    return EmbedResult(
        "pdq",
        result.complete,
        result.rows,
        result.hashed,
        result.skipped,
        result.chunks_done,
        result.chunks_total,
        result.seconds,
        note,
    )


def index(
    settings: Settings,
    name: str,
    *,
    flat_threshold: int | None = None,
    duplicates: bool = True,
    layout: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """FAISS indexes of the dataset's embeddings, their tuning and its duplicate clusters,
    then (``layout``) the embedding map of each kind (``build_layouts``).

    Opened through the workspace like every step: a dataset whose hidden set cannot be
    applied is not indexed. (Vectors of records hidden after they were embedded stay in the
    index; every search excludes hidden positions, so they are never shown.)"""
    with workspace(settings, names=[name]) as opened:
        handle = opened.dataset(name)
        options: dict[str, Any] = {}
        if flat_threshold is not None:
            options["flat_threshold"] = flat_threshold
        section = vector_build.build_all(
            handle.paths,
            duplicate_threshold=settings.duplicate_threshold,
            duplicates=duplicates,
            progress=progress,
            **options,
        )
        if layout:
            kinds = [kind for kind in MAP_KINDS if (section.get(kind) or {}).get("count")]
            for kind, entry in build_layouts(opened, name, kinds=kinds, progress=progress).items():
                section[kind]["layout"] = entry
        return section


def build_layouts(
    opened: Workspace, name: str, *, kinds: Sequence[str] = MAP_KINDS, progress: bool = True
) -> dict[str, dict[str, Any]]:
    """The embedding map of each kind with embeddings (image first, then caption): the 2-D
    layout and its named clusters (app.vectors.layout; resumable: a rerun goes on from the
    last placed chunk), then the points' colour channels (app.explore.map.write_colours).
    Captions that name the clusters and the colours are read through the workspace's reader
    of visible rows, so a hidden record never names a region."""
    paths = opened.dataset(name).paths

    def rows(positions: Sequence[int], columns: Sequence[str]) -> list[dict[str, Any]]:
        return opened.visible_rows(name, positions, columns)

    built: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        meta = store.read_meta(paths, kind)
        if meta is None or not meta.get("count"):
            continue
        result = build_layout(paths, kind, rows=rows, progress=progress)
        entry: dict[str, Any] = {
            "complete": result.complete,
            "points": result.count,
            "sample_size": result.sample_size,
            "clusters": result.clusters,
            "seconds": round(result.seconds, 1),
            "note": result.note,
        }
        if result.complete and not colours_current(paths, kind):
            started = time.perf_counter()
            write_colours(paths, kind, rows, progress=progress)
            entry["colour_seconds"] = round(time.perf_counter() - started, 1)
        built[kind] = entry
    return built


def _embeddings_made(paths: DatasetPaths) -> dict[str, Any]:
    """When each kind's embeddings were written (their json's ``created``)."""
    return {kind: (store.read_meta(paths, kind) or {}).get("created") for kind in store.KINDS}


def _drop_stale_maps(paths: DatasetPaths, before: dict[str, Any]) -> None:
    """A kind whose embeddings were written again loses its map (layout, clusters, colours):
    `loupe index` computes it anew. (load_layout refuses a stale one anyway; this leaves no
    stale file behind.)"""
    for kind, created in _embeddings_made(paths).items():
        if created != before.get(kind) and kind in MAP_KINDS:
            remove_layout(paths, kind)
            remove_colours(paths, kind)


def build_vectors(settings: Settings, name: str, *, progress: bool = True) -> None:
    """Embeddings and FAISS indexes, so that `loupe demo` alone gives a demo that searches by
    meaning: the configured OpenCLIP model (untrained unless LOUPE_CLIP_WEIGHTS names real
    weights) for images, the packaged MiniLM for captions."""
    embed(settings, name, progress=progress)
    index(settings, name, progress=progress)


def seed_link_statuses(settings: Settings, name: str, *, chunk: int = 50_000) -> int:
    """Link statuses from the download statuses an img2dataset source carries (its ``status``
    and ``error_message`` columns), for the visible records; nothing is fetched. A record
    checked since (by `loupe check-links` or the server) keeps that newer status."""
    with workspace(settings, names=[name]) as opened:
        links = opened.images.links
        checks = checks_from_img2dataset(name, opened.catalog.export_batches(name, []))
        stored = 0
        while batch := list(itertools.islice(checks, chunk)):
            stored += links.record_many(batch, keep_newer=True)
        return stored
