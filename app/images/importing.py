"""Bring a folder of images (or of webdataset tar shards) into a dataset being built."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

from app.catalog.layout import DatasetPaths

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
SourceKind = Literal["tar", "folder"]


class ImageSourceError(ValueError):
    """The images given to a build are not usable; the message names the folder."""


def image_source_kind(images: Path) -> SourceKind:
    """What ``images`` holds: tar shards or image files (checked before anything is built)."""
    if not images.is_dir():
        raise ImageSourceError(f"{images}: --images must be a folder of images or of .tar shards.")
    if any(p.is_file() for p in images.glob("*.tar")):
        return "tar"
    if any(_is_image(p) for p in images.rglob("*")):
        return "folder"
    raise ImageSourceError(f"{images}: the folder holds no image files and no .tar shards.")


def import_images(
    images: Path, kind: SourceKind, paths: DatasetPaths
) -> tuple[dict[str, str], dict[str, int]]:
    """Hard-link (or copy, across file systems) the images into the dataset folder; returns
    the manifest's ``image_store`` entry and the counts for its build report.

    Links rather than moves: the files take no extra space, yet the source folder survives a
    failed ingest (and re-ingesting from an old dataset's own images/ folder still works).
    """
    if kind == "tar":
        dest = paths.shards
        files = sorted(p for p in images.glob("*.tar") if p.is_file())
    else:
        dest = paths.images
        # img2dataset's "files" output nests images in numbered sub-folders: flatten them, the
        # names (sample ids) are unique.
        files = sorted(p for p in images.rglob("*") if _is_image(p))
    dest.mkdir()
    count = 0
    for path in files:
        target = dest / path.name
        if target.exists():
            continue
        _link_or_copy(path, target)
        count += 1
    return {"kind": kind, "path": dest.name}, {"image_files": count}


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
