"""Embedding arrays on disk, aligned with the catalog's ``pos``.

For each kind (``image``, ``caption``) the dataset's ``vectors/`` folder holds::

    <kind>.npy        float32 (n, dim), every row L2-normalised; opened memory-mapped
    <kind>.pos.npy    int64 (n,): the catalog ``pos`` of each row (records without an
                      embedding simply have no row)
    <kind>.json       what made them (model, dim, count, source) and which catalog build they
                      belong to; written last, so its presence marks a complete set

A row number of ``<kind>.npy`` is what the FAISS index returns; ``positions[row]`` turns it into
a catalog ``pos``. Embeddings made for an older build of the catalog are refused on load, since
``pos`` is only stable within one build.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from app.catalog.layout import DatasetPaths
from app.catalog.manifest import read_manifest

KINDS: tuple[str, ...] = ("image", "caption")
# Read-ahead hints for gathers up to this many rows through the map (build); serving reads
# every gather with pread after hinting all its rows.
PREFETCH_ROWS = 4096
# Stores up to this size are gathered from while serving through their long-lived map, like
# the build does: fault-around can then map at most the file itself (1 GiB is 500k 512-d
# vectors), and a re-rank gather costs ~10 us instead of ~300 us of pread and fadvise calls
# (the comparison with clip-retrieval, 50k vectors).
MAPPED_GATHER_BYTES = 1 << 30
_FD_LOCK = threading.Lock()


class StoreError(Exception):
    """Embeddings on disk are missing, partial or belong to another catalog build."""


@dataclass(frozen=True)
class KindFiles:
    folder: Path
    kind: str

    @property
    def vectors(self) -> Path:
        return self.folder / f"{self.kind}.npy"

    @property
    def positions(self) -> Path:
        return self.folder / f"{self.kind}.pos.npy"

    @property
    def meta(self) -> Path:
        return self.folder / f"{self.kind}.json"

    @property
    def index(self) -> Path:
        return self.folder / f"{self.kind}.faiss"

    @property
    def index_meta(self) -> Path:
        return self.folder / f"{self.kind}.faiss.json"

    @property
    def duplicates(self) -> Path:
        return self.folder / f"{self.kind}.dups.npz"

    @property
    def work(self) -> Path:
        return self.folder / f"work-{self.kind}"


def files_for(paths: DatasetPaths, kind: str) -> KindFiles:
    if kind not in KINDS:
        raise ValueError(f"unknown embedding kind {kind!r}")
    return KindFiles(paths.vectors, kind)


def catalog_build(paths: DatasetPaths) -> dict[str, Any]:
    """What identifies one build of the catalog (``pos`` is stable only within it)."""
    manifest = read_manifest(paths.manifest)
    return {"built_at": manifest.built_at, "row_count": manifest.row_count}


@dataclass
class Embeddings:
    kind: str
    vectors: np.ndarray  # (n, dim) float32, memory-mapped read-only
    positions: np.ndarray  # (n,) int64
    meta: dict[str, Any]
    path: Path | None = None  # the .npy file, for read-ahead hints
    offset: int = 0  # where its data starts
    random_access: bool = False  # mapped for serving: no kernel read-ahead (see map_npy)
    _row_of_pos: np.ndarray | None = field(default=None, repr=False)
    _fd: int | None = field(default=None, repr=False)

    @property
    def count(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def _small(self) -> bool:
        return int(self.vectors.nbytes) <= MAPPED_GATHER_BYTES

    def rows_of(self, positions: np.ndarray) -> np.ndarray:
        """Row of each catalog ``pos`` (-1 where that record has no embedding)."""
        positions = np.asarray(positions, dtype=np.int64)
        lookup = self._lookup()
        out = np.full(positions.shape, -1, dtype=np.int64)
        inside = (positions >= 0) & (positions < lookup.shape[0])
        out[inside] = lookup[positions[inside]]
        return out

    def vector_of(self, pos: int) -> np.ndarray | None:
        row = int(self.rows_of(np.array([pos]))[0])
        return None if row < 0 else self.gather(np.array([row]))[0]

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """Vectors of ``rows`` (any order), as a new float32 array.

        Serving (``random_access``) never touches the long-lived memory map: a page fault
        maps 64 KiB of neighbouring rows into the process ("fault-around"), and after some
        queries RSS would count gigabytes of page cache that no query needed (15 GB after
        100 filtered queries at 10M vectors, measured). Re-rank sized gathers use ``pread``;
        larger ones (an ``allowed`` set) go through a map of just their span that is closed
        again at once (``pread`` row by row costs 4 us a row from Python). The build reads
        through the long-lived map, in file order, and so does serving from a store of at
        most ``MAPPED_GATHER_BYTES``.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if self.random_access and self.path is not None and not self._small:
            if rows.size <= PREFETCH_ROWS:
                return self._read_rows(rows)
            return self._read_span(rows)
        if 1 < rows.size <= PREFETCH_ROWS and not (self.random_access and self._small):
            self.prefetch(rows)
        if rows.size < 2 or bool(np.all(rows[1:] >= rows[:-1])):
            return np.take(self.vectors, rows, axis=0)
        order = np.argsort(rows, kind="stable")
        out = np.empty((rows.shape[0], self.dim), dtype=np.float32)
        out[order] = np.take(self.vectors, rows[order], axis=0)
        return out

    def prefetch(self, rows: np.ndarray) -> None:
        """Ask the kernel to start reading these rows now, all at once.

        When the vectors are not in the page cache (10M x 512 floats is 20 GB), each row
        costs one disk read; read one after another, 100 rows took 150 ms on this virtual
        disk, while read-ahead hints let the disk serve them in parallel (2-3 ms, measured
        at 100k and 1M vectors). On cached pages a hint costs well under a microsecond.
        """
        if self.path is None or not hasattr(os, "posix_fadvise"):
            return
        fd = self._descriptor()
        row_bytes = self.dim * 4
        for row in rows.tolist():
            os.posix_fadvise(fd, self.offset + row * row_bytes, row_bytes, os.POSIX_FADV_WILLNEED)

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((rows.size, self.dim), dtype=np.float32)
        if rows.size == 0:
            return out
        fd = self._descriptor()
        if rows.size > 1:
            self.prefetch(rows)
        row_bytes = self.dim * 4
        view = memoryview(out).cast("B")
        for i, row in enumerate(rows.tolist()):
            got = os.preadv(
                fd, [view[i * row_bytes : (i + 1) * row_bytes]], self.offset + row * row_bytes
            )
            if got != row_bytes:
                raise StoreError(f"{self.path}: row {row} is cut short (file truncated?).")
        return out

    def _read_span(self, rows: np.ndarray) -> np.ndarray:
        self.prefetch(rows)
        row_bytes = self.dim * 4
        first, last = int(rows.min()), int(rows.max())
        start = self.offset + first * row_bytes
        aligned = start - start % mmap.ALLOCATIONGRANULARITY
        length = self.offset + (last + 1) * row_bytes - aligned
        with mmap.mmap(self._descriptor(), length, offset=aligned, access=mmap.ACCESS_READ) as m:
            span = np.ndarray(
                (last - first + 1, self.dim), dtype=np.float32, buffer=m, offset=start - aligned
            )
            out = np.take(span, rows - first, axis=0)
            del span  # the map cannot close while an array still points into it
        return out

    def _descriptor(self) -> int:
        with _FD_LOCK:  # request threads may arrive together
            if self._fd is None:
                assert self.path is not None
                self._fd = os.open(self.path, os.O_RDONLY)
                weakref.finalize(self, os.close, self._fd)
            return self._fd

    def _lookup(self) -> np.ndarray:
        # Built on first use: 4 or 8 bytes per catalog record.
        if self._row_of_pos is None:
            size = int(self.positions.max()) + 1 if self.count else 0
            dtype = np.int32 if self.count < 2**31 else np.int64
            lookup = np.full(size, -1, dtype=dtype)
            lookup[self.positions] = np.arange(self.count, dtype=dtype)
            self._row_of_pos = lookup
        return self._row_of_pos


def map_npy(path: Path, *, random_access: bool = False) -> tuple[np.ndarray, int]:
    """A read-only memory map of a ``.npy`` file: (array, byte offset of its data).

    ``random_access`` tells the kernel (MADV_RANDOM) not to read ahead or map neighbouring
    pages on a fault: a search touches scattered rows, and otherwise each touched row would
    map 64 KiB around it, inflating RSS to gigabytes of page cache that no query needed.
    Explicit read-ahead (``Embeddings.prefetch``) still fetches exactly the rows wanted.
    """
    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        offset = handle.tell()
        size = os.fstat(handle.fileno()).st_size
        if size == offset:  # an empty array: nothing to map
            return np.zeros(shape, dtype=dtype), offset
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if random_access and hasattr(mapping, "madvise"):
        mapping.madvise(mmap.MADV_RANDOM)
    array = np.ndarray(
        shape, dtype=dtype, buffer=mapping, offset=offset, order="F" if fortran else "C"
    )
    return array, offset


def load_embeddings(
    paths: DatasetPaths, kind: str, *, check_build: bool = True, random_access: bool = False
) -> Embeddings:
    """The embeddings of ``kind``, memory-mapped; ``random_access`` for serving (see map_npy)."""
    files = files_for(paths, kind)
    if not files.meta.is_file():
        raise StoreError(
            f"{files.meta} is missing: run `loupe embed {paths.name}` to compute {kind} embeddings."
        )
    try:
        meta = json.loads(files.meta.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # a damaged or half-written file
        raise StoreError(
            f"{files.meta} cannot be read ({error}): run `loupe embed {paths.name}` again."
        ) from None
    if not isinstance(meta, dict):
        raise StoreError(f"{files.meta} is not an embeddings description: run `loupe embed`.")
    if check_build and meta.get("catalog") != catalog_build(paths):
        raise StoreError(
            f"{files.vectors} was computed for an older build of the catalog of {paths.name}; "
            f"run `loupe embed {paths.name}` again."
        )
    try:
        vectors, offset = map_npy(files.vectors, random_access=random_access)
    except (OSError, ValueError, TypeError) as error:  # TypeError: a truncated file
        raise StoreError(
            f"{files.vectors}: cannot be read ({error}): run `loupe embed {paths.name}` again."
        ) from None
    try:
        positions, _ = map_npy(files.positions, random_access=random_access)
    except (OSError, ValueError, TypeError) as error:
        raise StoreError(
            f"{files.positions}: cannot be read ({error}): run `loupe embed {paths.name}` again."
        ) from None
    if vectors.ndim != 2 or vectors.dtype != np.float32:
        raise StoreError(
            f"{files.vectors}: expected a 2-d float32 array, found {vectors.dtype} "
            f"with shape {vectors.shape}."
        )
    if positions.shape != (vectors.shape[0],):
        raise StoreError(
            f"{files.positions} has {positions.shape[0]} rows but {files.vectors} has "
            f"{vectors.shape[0]}: the two files do not belong together."
        )
    return Embeddings(
        kind,
        vectors,
        np.asarray(positions, dtype=np.int64),
        meta,
        files.vectors,
        offset,
        random_access,
    )


def write_embeddings(
    paths: DatasetPaths,
    kind: str,
    parts: Iterable[tuple[np.ndarray, np.ndarray]],
    *,
    count: int,
    dim: int,
    meta: dict[str, Any],
) -> KindFiles:
    """Write ``count`` rows given as (vectors, positions) parts, then the meta file.

    The meta file goes last and is removed first, so a reader never takes half-written arrays
    for a complete set; rows are normalised again on the way in (cheap, and precomputed
    float16 files are not always exactly unit length).
    """
    files = files_for(paths, kind)
    files.folder.mkdir(parents=True, exist_ok=True)
    files.meta.unlink(missing_ok=True)
    tmp_vectors = files.vectors.with_suffix(".tmp.npy")
    tmp_positions = files.positions.with_suffix(".tmp.npy")
    out = np.lib.format.open_memmap(tmp_vectors, mode="w+", dtype=np.float32, shape=(count, dim))
    pos_out = np.lib.format.open_memmap(tmp_positions, mode="w+", dtype=np.int64, shape=(count,))
    at = 0
    for vectors, positions in parts:
        n = int(vectors.shape[0])
        if n == 0:
            continue
        if at + n > count or vectors.shape[1] != dim or positions.shape != (n,):
            raise StoreError(f"{files.vectors}: the parts do not add up to {count} x {dim}.")
        out[at : at + n] = _unit(vectors)
        pos_out[at : at + n] = positions
        at += n
    if at != count:
        raise StoreError(f"{files.vectors}: expected {count} rows, got {at}.")
    if count and np.unique(np.asarray(pos_out)).shape[0] != count:
        raise StoreError(f"{files.positions}: a catalog position occurs twice.")
    out.flush()
    pos_out.flush()
    del out, pos_out
    os.replace(tmp_vectors, files.vectors)
    os.replace(tmp_positions, files.positions)
    full = {
        "kind": kind,
        "dim": dim,
        "count": count,
        "catalog": catalog_build(paths),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **meta,
    }
    write_json(files.meta, full)
    return files


def register_embeddings(paths: DatasetPaths, kind: str, meta: dict[str, Any]) -> KindFiles:
    """Adopt a ``<kind>.npy`` already written in place (unit-length float32 rows, row i =
    record i), as a generator of millions of rows does to avoid a second copy."""
    files = files_for(paths, kind)
    vectors = np.load(files.vectors, mmap_mode="r")
    if vectors.ndim != 2 or vectors.dtype != np.float32:
        raise StoreError(f"{files.vectors}: expected a 2-d float32 array.")
    count, dim = int(vectors.shape[0]), int(vectors.shape[1])
    del vectors
    np.save(files.positions, np.arange(count, dtype=np.int64))
    full = {
        "kind": kind,
        "dim": dim,
        "count": count,
        "catalog": catalog_build(paths),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **meta,
    }
    write_json(files.meta, full)
    return files


def read_meta(paths: DatasetPaths, kind: str) -> dict[str, Any] | None:
    files = files_for(paths, kind)
    try:
        return json.loads(files.meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def remove_kind(paths: DatasetPaths, kind: str) -> None:
    files = files_for(paths, kind)
    for path in (
        files.meta,
        files.vectors,
        files.positions,
        files.index,
        files.index_meta,
        files.duplicates,
    ):
        path.unlink(missing_ok=True)
    shutil.rmtree(files.work, ignore_errors=True)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic JSON write: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
