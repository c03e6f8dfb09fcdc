"""Local image stores: a folder of files, or img2dataset's webdataset tar shards.

A store answers one question: where are the bytes of this record's image? ``locate`` returns a
``Located`` with a fingerprint (which changes whenever the bytes could have changed, so cached
thumbnails of an older build are never served) and a way to read the bytes.

Paths and ids come from untrusted parquet files, so nothing a record says can make a store read
outside its root: ids with path characters are refused, relative paths are resolved and must
stay inside the root (symlinks included).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import tarfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from app.catalog.layout import DatasetPaths
from app.catalog.manifest import read_manifest

log = logging.getLogger(__name__)

# Larger local files are not decoded at all (the pixel limit would refuse most anyway).
MAX_LOCAL_BYTES = 64 * 1024 * 1024
IMAGE_EXTENSIONS: tuple[str, ...] = (
    "jpg",
    "jpeg",
    "png",
    "webp",
    "gif",
    "bmp",
    "tif",
    "tiff",
    "JPG",
    "JPEG",
    "PNG",
    "WEBP",
)
TAR_IMAGE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"})
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$")
_MAX_PATH_DEPTH = 16


class StoreError(Exception):
    """A store exists but cannot be used (unreadable shard, bad index)."""


@dataclass(frozen=True)
class Located:
    fingerprint: str
    size: int
    reader: Callable[[], bytes]

    def read(self) -> bytes:
        return self.reader()


class ImageStore(Protocol):
    kind: str

    def locate(self, record: Mapping[str, Any]) -> Located | None: ...


def safe_id(sample_id: object) -> str | None:
    """``sample_id`` if it can be part of a file name as is, else None."""
    text = str(sample_id) if sample_id is not None else ""
    return text if _SAFE_ID.match(text) and ".." not in text else None


def image_key(record: Mapping[str, Any]) -> Any:
    """The name a record's image is stored under: img2dataset's key when the record's id is
    LAION's SAMPLE_ID (``image_key``), else the sample id."""
    key = record.get("image_key")
    return key if key not in (None, "") else record.get("sample_id")


class FolderStore:
    """Files under ``root``: ``<sample_id>.<ext>``, img2dataset's ``files`` layout
    (``<key[:-4]>/<key>.jpg``), or the path a record gives in ``image_path``."""

    kind = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = root.resolve()

    def locate(self, record: Mapping[str, Any]) -> Located | None:
        for candidate in self._candidates(record):
            found = self._check(candidate)
            if found is not None:
                return found
        return None

    def _candidates(self, record: Mapping[str, Any]):
        image_path = record.get("image_path")
        if isinstance(image_path, str) and image_path and "\x00" not in image_path:
            yield from self._image_path_candidates(image_path)
        sample_id = safe_id(image_key(record))
        if sample_id is None:
            return
        for ext in IMAGE_EXTENSIONS:
            yield PurePosixPath(f"{sample_id}.{ext}")
        if sample_id.isdigit() and len(sample_id) > 4:
            # img2dataset output_format="files": shard folder = key without its last 4 digits
            # (the default 10,000 samples per shard).
            for ext in ("jpg", "png", "webp"):
                yield PurePosixPath(sample_id[:-4]) / f"{sample_id}.{ext}"

    def _image_path_candidates(self, image_path: str):
        path = PurePosixPath(image_path.replace("\\", "/"))
        parts = [p for p in path.parts if p not in ("/", "")][-_MAX_PATH_DEPTH:]
        if any(p == ".." for p in parts):
            return
        if not path.is_absolute():
            yield PurePosixPath(*parts)
            return
        # An absolute path from the machine that made the metadata: the image folder was
        # moved here, so try ever shorter tails of it ("/data/imgs/00/1.jpg" -> "00/1.jpg").
        for start in range(1, len(parts)):
            yield PurePosixPath(*parts[start:])

    def _check(self, relative: PurePosixPath) -> Located | None:
        path = self.root / relative
        try:
            stat = path.stat()
        except (OSError, ValueError):
            return None
        if not path.is_file():
            return None
        real = path.resolve()
        if not real.is_relative_to(self._real_root):
            return None  # a symlink pointing out of the store
        fingerprint = f"folder:{relative}:{stat.st_size}:{stat.st_mtime_ns}"
        return Located(fingerprint, stat.st_size, lambda: _read_file(real))


def _read_file(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(MAX_LOCAL_BYTES + 1)


class TarShardStore:
    """img2dataset webdataset shards (``00000.tar`` holding ``key.jpg``, ``key.txt``,
    ``key.json``) read by member without extracting.

    Each shard's member table (key -> offset, size) is built once with ``tarfile`` and kept in
    a small SQLite file, so a lookup is one indexed query and one ``pread``. Shards are
    re-indexed when their size or modification time changes, and forgotten when removed.
    """

    kind = "tar"
    RESCAN_EVERY_S = 30.0

    def __init__(self, root: Path, index_path: Path) -> None:
        self.root = root
        self.index_path = index_path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._scanned_at = 0.0

    # -- index ---------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.index_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.index_path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(
                """
                CREATE TABLE IF NOT EXISTS shards (
                    id INTEGER PRIMARY KEY,
                    path TEXT NOT NULL UNIQUE,
                    size INTEGER NOT NULL,
                    mtime_ns INTEGER NOT NULL
                );
                CREATE TABLE IF NOT EXISTS members (
                    key TEXT PRIMARY KEY,
                    shard_id INTEGER NOT NULL,
                    offset INTEGER NOT NULL,
                    size INTEGER NOT NULL
                );
                CREATE INDEX IF NOT EXISTS members_shard ON members (shard_id);
                """
            )
            self._conn = conn
        return self._conn

    def ensure_index(self, force: bool = False) -> int:
        """Index new or changed shards; returns how many shards were (re)indexed."""
        with self._lock:
            now = time.monotonic()
            fresh = now - self._scanned_at < self.RESCAN_EVERY_S
            if not force and self._conn is not None and fresh:
                return 0
            conn = self._connection()
            on_disk = {
                path.relative_to(self.root).as_posix(): path.stat()
                for path in sorted(self.root.rglob("*.tar"))
                if path.is_file()
            }
            known = {
                row[0]: (row[1], row[2], row[3])
                for row in conn.execute("SELECT path, id, size, mtime_ns FROM shards")
            }
            for gone in set(known) - set(on_disk):
                with conn:
                    conn.execute("DELETE FROM members WHERE shard_id = ?", (known[gone][0],))
                    conn.execute("DELETE FROM shards WHERE id = ?", (known[gone][0],))
            indexed = 0
            for rel, stat in on_disk.items():
                old = known.get(rel)
                if old is not None and old[1:] == (stat.st_size, stat.st_mtime_ns):
                    continue
                self._index_shard(conn, rel, stat)
                indexed += 1
            self._scanned_at = time.monotonic()
            return indexed

    def _index_shard(self, conn: sqlite3.Connection, rel: str, stat: os.stat_result) -> None:
        rows = []
        try:
            with tarfile.open(self.root / rel, mode="r:") as archive:
                for member in archive:
                    if not member.isfile() or member.issparse():
                        continue
                    key, ext = _split_member(member.name)
                    if ext in TAR_IMAGE_EXTENSIONS:
                        rows.append((key, member.offset_data, member.size))
        except (tarfile.TarError, OSError) as exc:
            raise StoreError(f"{self.root / rel}: not a readable tar shard ({exc})") from None
        with conn:
            conn.execute(
                "INSERT INTO shards (path, size, mtime_ns) VALUES (?, ?, ?) "
                "ON CONFLICT (path) DO UPDATE SET size = excluded.size, "
                "mtime_ns = excluded.mtime_ns",
                (rel, stat.st_size, stat.st_mtime_ns),
            )
            shard_id = conn.execute("SELECT id FROM shards WHERE path = ?", (rel,)).fetchone()[0]
            conn.execute("DELETE FROM members WHERE shard_id = ?", (shard_id,))
            # A key present in two shards: the shard indexed last wins (documented).
            conn.executemany(
                "INSERT OR REPLACE INTO members (key, shard_id, offset, size) VALUES (?, ?, ?, ?)",
                [(key, shard_id, offset, size) for key, offset, size in rows],
            )

    # -- lookup --------------------------------------------------------------------------

    def locate(self, record: Mapping[str, Any]) -> Located | None:
        sample_id = image_key(record)
        if sample_id is None:
            return None
        self.ensure_index()
        with self._lock:
            row = (
                self._connection()
                .execute(
                    "SELECT s.path, s.mtime_ns, m.offset, m.size FROM members m "
                    "JOIN shards s ON s.id = m.shard_id WHERE m.key = ?",
                    (str(sample_id),),
                )
                .fetchone()
            )
        if row is None:
            return None
        rel, mtime_ns, offset, size = row
        path = self.root / rel
        fingerprint = f"tar:{rel}:{offset}:{size}:{mtime_ns}"
        length = min(size, MAX_LOCAL_BYTES + 1)
        return Located(fingerprint, size, lambda: _pread(path, offset, length))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _split_member(name: str) -> tuple[str, str]:
    """webdataset's rule: the key is the path up to the first dot of the file name."""
    directory, _, filename = name.removeprefix("./").rpartition("/")
    stem, _, ext = filename.partition(".")
    key = f"{directory}/{stem}" if directory else stem
    return key, ext.lower()


def _pread(path: Path, offset: int, size: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, size, offset)
    finally:
        os.close(fd)


def open_image_store(paths: DatasetPaths, state_dir: Path) -> ImageStore | None:
    """A dataset's local pixels, as ``manifest.image_store`` says, else the conventional
    ``images/`` or ``shards/`` folder; None when it has none. The one place these rules live
    (the image service and ``loupe embed`` both use it)."""
    kind, location = None, None
    try:
        spec = read_manifest(paths.manifest).image_store
    except (OSError, ValueError) as exc:
        log.debug("no readable manifest for %s: %s", paths.name, exc)
        spec = None
    if spec:
        kind = spec.get("kind")
        raw = Path(spec.get("path", ""))
        location = raw if raw.is_absolute() else paths.root / raw
    elif paths.images.is_dir():
        kind, location = "folder", paths.images
    elif paths.shards.is_dir():
        kind, location = "tar", paths.shards
    if location is None or not location.is_dir():
        return None
    if kind == "folder":
        return FolderStore(location)
    if kind == "tar":
        return TarShardStore(location, state_dir / "tarindex" / f"{paths.name}.sqlite3")
    log.warning("dataset %s: unknown image_store kind %r", paths.name, kind)
    return None
