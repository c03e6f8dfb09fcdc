"""``loupe index NAME``: build every kind's index, count duplicate clusters, and record the
parameters and measured recall in ``manifest.parts["vectors"]``."""

from __future__ import annotations

from typing import Any

from app.catalog.layout import DatasetPaths
from app.catalog.manifest import read_manifest, write_manifest
from app.vectors import index as vindex
from app.vectors import store
from app.vectors.duplicates import build_duplicates


def build_all(
    paths: DatasetPaths,
    *,
    kinds: tuple[str, ...] = store.KINDS,
    flat_threshold: int = vindex.FLAT_THRESHOLD,
    duplicate_threshold: float = 0.94,
    duplicates: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Index each kind that has embeddings; returns the manifest section it wrote.

    Raises store.StoreError when no kind has embeddings at all.
    """
    section: dict[str, Any] = {}
    for kind in kinds:
        files = store.files_for(paths, kind)
        if not files.meta.is_file():
            continue
        emb = store.load_embeddings(paths, kind)
        if emb.count == 0:
            section[kind] = {"count": 0, "note": "no embeddings (no images or captions)"}
            continue
        params = vindex.build_index(emb, files, flat_threshold=flat_threshold, progress=progress)
        entry: dict[str, Any] = {
            "model": emb.meta.get("model"),
            "trained": emb.meta.get("trained", True),
            "source": emb.meta.get("source"),
            **{key: value for key, value in vars(params).items() if key != "tuned"},
        }
        if duplicates and kind == "image":
            index = vindex.open_index(files.index, params.type)
            entry["duplicates"] = build_duplicates(
                emb, index, params, files, duplicate_threshold, progress=progress
            )
        else:
            files.duplicates.unlink(missing_ok=True)
        section[kind] = entry
    if not section:
        raise store.StoreError(
            f"{paths.vectors}: no embeddings to index; run `loupe embed {paths.name}` first."
        )
    manifest = read_manifest(paths.manifest)
    previous = manifest.parts.get("vectors") or {}
    merged = {key: value for key, value in previous.items() if key not in kinds}
    merged.update(section)
    manifest.parts["vectors"] = merged
    write_manifest(paths.manifest, manifest)
    return section
