"""The datasets found in the data folder, each with its manifest and lazily opened indexes."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from app.catalog.layout import DATASET_NAME, DatasetPaths
from app.catalog.manifest import Manifest, read_manifest
from app.textsearch.search import TextIndex
from app.vectors.search import VectorIndex

log = logging.getLogger(__name__)


@dataclass
class DatasetHandle:
    paths: DatasetPaths
    manifest: Manifest
    _text: TextIndex | None = field(default=None, repr=False)
    _vectors: VectorIndex | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.paths.name

    @property
    def title(self) -> str:
        return self.manifest.title or self.name

    def text(self) -> TextIndex:
        """The caption text index, opened on first use."""
        if self._text is None:
            with self._lock:
                if self._text is None:
                    self._text = TextIndex(self.paths.text_index)
        return self._text

    def vectors(self) -> VectorIndex:
        """The FAISS indexes (memory-mapped), loaded on first use; missing kinds are noted."""
        if self._vectors is None:
            with self._lock:
                if self._vectors is None:
                    self._vectors = VectorIndex.load(self.paths)
        return self._vectors


def discover(data_dir: Path) -> dict[str, DatasetHandle]:
    """Every complete dataset folder under ``data_dir`` (temp folders of an ingest skipped)."""
    found: dict[str, DatasetHandle] = {}
    if not data_dir.is_dir():
        return found
    for folder in sorted(data_dir.iterdir()):
        if not folder.is_dir() or not DATASET_NAME.match(folder.name):
            continue
        paths = DatasetPaths(folder)
        if paths.outdated():
            log.warning(
                "skipping %s: built by an older Loupe (no current row store); "
                "run `loupe ingest %s ...` again (or `loupe demo --force` for the demo)",
                folder,
                folder.name,
            )
            continue
        if not paths.exists():
            continue
        try:
            manifest = read_manifest(paths.manifest)
        except ValueError as error:
            log.warning("skipping %s: unreadable manifest (%s)", folder, error)
            continue
        found[folder.name] = DatasetHandle(paths=paths, manifest=manifest)
    return found
