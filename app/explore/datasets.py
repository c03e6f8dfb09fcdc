"""The datasets found in the data folder, each with its manifest and lazily opened indexes."""

from __future__ import annotations

import logging
import re
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


@dataclass(frozen=True)
class DatasetProblem:
    """Why a dataset folder is not served: the file at fault, what is wrong, how to mend it.

    ``message`` (for the log and the command line) names the file in full; ``public`` (for
    an HTTP answer) names it inside the dataset folder only, never the server's paths."""

    name: str
    file: Path
    reason: str  # ours, shown to anyone: what is wrong with the file
    fix: str  # the command that mends it (for the log: it may hold server paths)
    detail: str = ""  # the library's own words, for the log only (they may hold paths)

    @property
    def message(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        where = f"{self.file}: {self.reason}{detail}"
        return f"dataset {self.name!r} is not served: {where}; {self.fix}"

    @property
    def public(self) -> str:
        folder = next((p for p in self.file.parents if p.name == self.name), None)
        shown = self.file.relative_to(folder) if folder else Path(self.file.name)
        return (
            f"dataset {self.name!r} cannot be opened ({shown}: {self.reason}); "
            "the server's log says how to mend it"
        )


# ``.NAME.tmp-XXXX`` (a build in progress, or one killed) and ``.NAME.old-XXXX`` (the previous
# version, moved aside for a moment by the swap): app.catalog.ingest.swap_into_place.
_LEFT_BY_INGEST = re.compile(r"^\.(?P<name>[a-z0-9][a-z0-9_-]{0,62})\.(?P<kind>tmp|old)-")


def survey(data_dir: Path) -> tuple[dict[str, DatasetHandle], dict[str, DatasetProblem]]:
    """Every complete dataset folder under ``data_dir``, and a problem for each folder that
    looks like a dataset but cannot be one (half-written, outdated, an unreadable manifest).

    A folder with none of a dataset's files is not one, and is passed over in silence; the
    temporary folders of an ingest are passed over too (with a note when one was left by an
    ingest that did not finish)."""
    found: dict[str, DatasetHandle] = {}
    problems: dict[str, DatasetProblem] = {}
    if not data_dir.is_dir():
        return found, problems
    for folder in sorted(data_dir.iterdir()):
        if not folder.is_dir():
            continue
        left = _LEFT_BY_INGEST.match(folder.name)
        if left is not None:
            _note_leftover(folder, left["name"], left["kind"], data_dir, problems)
            continue
        if not DATASET_NAME.match(folder.name):
            continue
        name, paths = folder.name, DatasetPaths(folder)
        rebuild = f"rebuild it with `loupe ingest {name} ...` (or `loupe demo --force`)"
        if paths.outdated():
            reason = (
                "built by an older Loupe (no current row store)"
                if paths.rows.exists()
                else "missing: the folder is half-written, or was built by an older Loupe"
            )
            problems[name] = DatasetProblem(name, paths.rows, reason, rebuild)
            continue
        if not paths.exists():
            parts = [paths.manifest, paths.catalog, paths.rows]
            missing = [p for p in parts if not p.exists()]
            if len(missing) < len(parts):  # some of a dataset, not all: half-written
                problems[name] = DatasetProblem(
                    name, missing[0], "missing: the folder is half-written", rebuild
                )
            continue
        try:
            manifest = read_manifest(paths.manifest)
        except (OSError, ValueError) as error:
            problems[name] = DatasetProblem(
                name, paths.manifest, "unreadable", rebuild, first_line(error)
            )
            continue
        found[name] = DatasetHandle(paths=paths, manifest=manifest)
    for problem in problems.values():
        log.warning("%s", problem.message)
    return found, problems


def _note_leftover(
    folder: Path, name: str, kind: str, data_dir: Path, problems: dict[str, DatasetProblem]
) -> None:
    if kind == "old" and not (data_dir / name).exists():
        # Killed between the two renames of a swap (an older Loupe; the swap is one atomic
        # exchange now): the previous version is whole, under another name.
        problems[name] = DatasetProblem(
            name,
            folder,
            "the previous version was moved aside by an ingest that was stopped mid-swap",
            f"rename it back: mv {folder} {data_dir / name}",
        )
    elif kind == "tmp":
        log.info("%s: left by an ingest that did not finish; it can be deleted", folder)


def discover(data_dir: Path) -> dict[str, DatasetHandle]:
    """Every complete dataset folder under ``data_dir`` (problems are logged: ``survey``)."""
    return survey(data_dir)[0]


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
