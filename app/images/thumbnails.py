"""On-disk cache of re-encoded images under ``<state_dir>/thumbnails/<dataset>/``.

File names are hashes, never ids: a sample id from a parquet file may hold any character.

    <dataset>/<h[:2]>/<h>.<variant>.<f>.jpg
    h = sha256(sample_id), variant = e.g. "thumb256", f = hash of the source fingerprint

The fingerprint part means a rebuilt dataset whose image changed gets a new file instead of
the old picture; ``delete(dataset, sample_id)`` removes every variant of one record at once
(the safety layer calls it when a record is hidden).

Writes are atomic (temporary file + rename), so a reader never sees half an image. The cache
holds at most ``max_bytes``: least recently used files go first, "used" being the file's
modification time, refreshed on a hit. Several processes may share the folder; each one's
running total is an estimate that a periodic rescan corrects.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from app.catalog.layout import check_dataset_name

LOW_WATER = 0.9  # evict down to 90% of the cap, so eviction does not run on every write
TOUCH_AFTER_S = 60.0  # refresh a hit's mtime at most once a minute (cheap LRU)
RESCAN_EVERY_S = 300.0
STALE_TMP_S = 3600.0


def _id_hash(sample_id: str) -> str:
    return hashlib.sha256(sample_id.encode("utf-8", "surrogatepass")).hexdigest()


class ThumbnailCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._approx_bytes: int | None = None
        self._scanned_at = 0.0
        self._maintenance = threading.Lock()
        self._count_lock = threading.Lock()

    def path_for(self, dataset: str, sample_id: str, variant: str, fingerprint: str) -> Path:
        check_dataset_name(dataset)
        if not variant.isalnum():
            raise ValueError(f"bad thumbnail variant {variant!r}")
        h = _id_hash(sample_id)
        f = hashlib.sha256(fingerprint.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return self.root / dataset / h[:2] / f"{h}.{variant}.{f}.jpg"

    def get(self, dataset: str, sample_id: str, variant: str, fingerprint: str) -> bytes | None:
        path = self.path_for(dataset, sample_id, variant, fingerprint)
        try:
            with open(path, "rb") as handle:
                mtime = os.fstat(handle.fileno()).st_mtime
                data = handle.read()
        except FileNotFoundError:
            return None
        if time.time() - mtime > TOUCH_AFTER_S:
            try:
                os.utime(path)
            except OSError:
                pass  # evicted meanwhile by another process: the bytes we hold are still good
        return data

    def put(
        self, dataset: str, sample_id: str, variant: str, fingerprint: str, data: bytes
    ) -> Path:
        path = self.path_for(dataset, sample_id, variant, fingerprint)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".jpg")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._count_lock:
            if self._approx_bytes is not None:
                self._approx_bytes += len(data)
            over = self._approx_bytes is None or self._approx_bytes > self.max_bytes
        if over or time.monotonic() - self._scanned_at > RESCAN_EVERY_S:
            self.maintain()
        return path

    def delete(self, dataset: str, sample_id: str) -> int:
        """Remove every cached variant of one record; returns the number of files removed."""
        check_dataset_name(dataset)
        h = _id_hash(sample_id)
        folder = self.root / dataset / h[:2]
        removed = 0
        for path in folder.glob(f"{h}.*.jpg"):
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            removed += 1
            with self._count_lock:
                if self._approx_bytes is not None:
                    self._approx_bytes -= size
        return removed

    def delete_dataset(self, dataset: str) -> None:
        """Forget a whole dataset's thumbnails (after it is rebuilt or removed)."""
        check_dataset_name(dataset)
        shutil.rmtree(self.root / dataset, ignore_errors=True)
        with self._count_lock:
            self._approx_bytes = None

    def usage(self) -> int:
        """Bytes the cache holds now (an exact scan)."""
        return sum(size for _, size, _ in self._scan())

    def maintain(self) -> int:
        """Rescan, drop stale temporary files and evict down to the low-water mark if over
        the cap. Returns bytes freed. Only one thread of a process does this at a time."""
        if not self._maintenance.acquire(blocking=False):
            return 0
        try:
            files = self._scan()
            total = sum(size for _, size, _ in files)
            freed = 0
            if total > self.max_bytes:
                target = int(self.max_bytes * LOW_WATER)
                for _, size, path in sorted(files, key=lambda entry: entry[0]):
                    if total - freed <= target:
                        break
                    try:
                        path.unlink()
                    except FileNotFoundError:
                        pass
                    freed += size
            with self._count_lock:
                self._approx_bytes = total - freed
            self._scanned_at = time.monotonic()
            return freed
        finally:
            self._maintenance.release()

    def _scan(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every cached file; removes abandoned temporary files."""
        entries: list[tuple[float, int, Path]] = []
        now = time.time()
        if not self.root.is_dir():
            return entries
        for dataset in os.scandir(self.root):
            if not dataset.is_dir(follow_symlinks=False):
                continue
            for bucket in os.scandir(dataset.path):
                if not bucket.is_dir(follow_symlinks=False):
                    continue
                for entry in os.scandir(bucket.path):
                    try:
                        stat = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if entry.name.startswith(".tmp-"):
                        if now - stat.st_mtime > STALE_TMP_S:
                            Path(entry.path).unlink(missing_ok=True)
                        continue
                    entries.append((stat.st_mtime, stat.st_size, Path(entry.path)))
        return entries
