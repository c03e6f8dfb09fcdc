"""PDQ hashes of a dataset's pictures: ``vectors/pdq.npz``, made by ``loupe embed``.

Blocklists of perceptual hashes (``loupe blocklist import --kind pdq``) and the quarantine
around confirmed suspected-CSAM records match against these. One hash per visible record with a
local picture, aligned by catalog position (``app.images.phash.write_hashes``); ``pdq.json``
beside it says which catalog build they belong to, so a rebuilt dataset is hashed again.

Why a pass of its own and not inside the image embedding, which decodes the same pictures:

- embedding decodes JPEGs at a reduced "draft" size (``embed.DECODE_TARGET``, 448 px). Measured
  on the demo's 20 base pictures re-encoded at 1024 and 1600 px, a hash of the draft is a median
  2-3 bits from the full-size hash, but up to 30 bits (brick, 1024 px) and 46 (checkerboard,
  1600 px) on regular textures: a copy that a hash-sharing programme's full-size hash catches at
  20 bits could be missed. Here pictures are decoded as ``hash_bytes`` decodes them (full size,
  or reduced only past 2047 px), the same hash a hotline's tools compute;
- the second decode is cheap next to the model: ~1-9 ms a picture (512-1600 px) against
  ~170 ms for one ViT-B-32 image embedding on the 2-core development machine, so the pass adds
  about 1-5 % to ``loupe embed`` (``bench/embed_hashing.py`` measures it);
- it also runs where no image embedding does: precomputed clip-retrieval embeddings, or
  embeddings made before hashes existed.

Like embedding, the pass reads rows through the workspace's reader of *visible* rows, so a
hidden record is never decoded; it saves its work in chunks (``vectors/work-pdq/``), so an
interrupted run goes on where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from app.catalog.layout import DatasetPaths
from app.catalog.manifest import read_manifest
from app.images.phash import HASH_BYTES, MIN_QUALITY, PDQ_FILE, hash_bytes, write_hashes
from app.images.stores import MAX_LOCAL_BYTES, StoreError, open_image_store
from app.vectors import store
from app.vectors.embed import EMBED_COLUMNS

PDQ_META = "pdq.json"
WORK_DIR = "work-pdq"
DEFAULT_CHUNK_ROWS = 4096
# Pillow decodes without the GIL and the hash is mostly numpy: two threads keep two cores busy.
DEFAULT_WORKERS = 2
HASH_COLUMNS: tuple[str, ...] = tuple(c for c in EMBED_COLUMNS if c != "caption")
FORMAT = 1  # bump when the hashes of the same pictures would change

RowReader = Callable[[Sequence[int], Sequence[str]], list[dict[str, Any]]]


@dataclass
class HashResult:
    complete: bool
    rows: int  # catalog records
    hashed: int  # hashes stored so far
    skipped: int  # hidden, no picture, or a picture that was refused
    chunks_done: int
    chunks_total: int
    seconds: float
    note: str = ""

    @property
    def images_per_s(self) -> float:
        return self.hashed / self.seconds if self.seconds > 0 else 0.0


def meta_path(paths: DatasetPaths) -> Path:
    return paths.vectors / PDQ_META


def read_state(paths: DatasetPaths) -> dict[str, Any] | None:
    """What ``pdq.json`` says (None when the dataset was never hashed or the file is bad)."""
    try:
        return json.loads(meta_path(paths).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_current(paths: DatasetPaths) -> bool:
    """Whether ``pdq.npz`` holds the hashes of this catalog build."""
    state = read_state(paths)
    return (
        state is not None
        and state.get("format") == FORMAT
        and state.get("catalog") == store.catalog_build(paths)
        and (paths.vectors / PDQ_FILE).is_file()
    )


def hash_dataset(
    paths: DatasetPaths,
    *,
    rows: RowReader,
    state_dir: Path,
    max_pixels: int,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int = DEFAULT_WORKERS,
    force: bool = False,
    max_chunks: int | None = None,
    progress: bool = True,
) -> HashResult:
    """Hash every visible record's local picture into ``vectors/pdq.npz`` (resumable)."""
    started = time.perf_counter()
    row_count = read_manifest(paths.manifest).row_count
    total = max(1, math.ceil(row_count / chunk_rows))
    if not force and is_current(paths):
        state = read_state(paths) or {}
        count = int(state.get("count", 0))
        return HashResult(
            True, row_count, count, row_count - count, total, total, 0.0, "up to date"
        )
    image_store = open_image_store(paths, state_dir)
    work = paths.vectors / WORK_DIR
    identity = {"format": FORMAT, "chunk_rows": chunk_rows, "catalog": store.catalog_build(paths)}
    _prepare(work, identity, fresh=force)
    done = {int(p.stem.removeprefix("chunk_")) for p in work.glob("chunk_*.npz")}
    new = 0

    def hash_one(record: dict[str, Any]) -> tuple[int, bytes, int] | None:
        if image_store is None:
            return None
        try:
            located = image_store.locate(record)
            if located is None or located.size > MAX_LOCAL_BYTES:
                return None
            found = hash_bytes(located.read(), max_pixels)
        except (StoreError, OSError):
            return None  # a damaged file is skipped, never fatal (as embedding does)
        if found is None:
            return None
        return int(record["pos"]), found.digest(), found.quality

    with (
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
        tqdm(
            total=row_count,
            initial=min(len(done) * chunk_rows, row_count),
            unit="rows",
            unit_scale=True,
            desc="pdq hashes",
            disable=not progress,
        ) as bar,
    ):
        for index in range(total):
            if index in done:
                continue
            if max_chunks is not None and new >= max_chunks:
                break
            low, high = index * chunk_rows, min((index + 1) * chunk_rows, row_count)
            # Read per chunk: a record hidden meanwhile is left out from the next chunk on.
            records = rows(range(low, high), HASH_COLUMNS) if high > low else []
            found = [h for h in pool.map(hash_one, records) if h is not None]
            _save_chunk(work, index, found, skipped=(high - low) - len(found))
            done.add(index)
            new += 1
            bar.update(high - low)
    seconds = time.perf_counter() - started
    if len(done) < total:
        hashed = sum(_chunk_count(work, i) for i in done)
        return HashResult(
            False,
            row_count,
            hashed,
            row_count - hashed,
            len(done),
            total,
            seconds,
            "stopped early; rerun to go on",
        )
    positions, hashes, quality = _join(work, total)
    write_hashes(paths.vectors, positions, hashes, quality)
    note = "" if image_store is not None else "no local images: nothing to hash"
    store.write_json(
        meta_path(paths),
        {
            "format": FORMAT,
            "kind": "pdq",
            "catalog": store.catalog_build(paths),
            "count": int(positions.shape[0]),
            "low_quality": int((quality < MIN_QUALITY).sum()),
            "seconds": round(seconds, 3),
            "images_per_s": round(positions.shape[0] / seconds, 1) if seconds > 0 else None,
            "workers": workers,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": "loupe embed",
        },
    )
    shutil.rmtree(work, ignore_errors=True)
    hashed = int(positions.shape[0])
    return HashResult(True, row_count, hashed, row_count - hashed, total, total, seconds, note)


def _prepare(work: Path, identity: dict[str, Any], *, fresh: bool) -> None:
    state = work / "state.json"
    if work.exists():
        try:
            same = json.loads(state.read_text(encoding="utf-8")) == identity
        except (OSError, ValueError):
            same = False
        if fresh or not same:
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if not state.is_file():
        store.write_json(state, identity)


def _chunk_path(work: Path, index: int) -> Path:
    return work / f"chunk_{index:06d}.npz"


def _save_chunk(
    work: Path, index: int, found: list[tuple[int, bytes, int]], *, skipped: int
) -> None:
    positions = np.array([f[0] for f in found], dtype=np.int64)
    hashes = np.frombuffer(b"".join(f[1] for f in found), dtype=np.uint8).reshape(-1, HASH_BYTES)
    quality = np.array([f[2] for f in found], dtype=np.uint8)
    target = _chunk_path(work, index)
    tmp = target.with_name(target.stem + ".tmp.npz")
    with open(tmp, "wb") as handle:
        np.savez(
            handle, positions=positions, hashes=hashes, quality=quality, skipped=np.array(skipped)
        )
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def _chunk_count(work: Path, index: int) -> int:
    with np.load(_chunk_path(work, index)) as chunk:
        return int(chunk["positions"].shape[0])


def _join(work: Path, total: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    positions, hashes, quality = [], [], []
    for index in range(total):
        with np.load(_chunk_path(work, index)) as chunk:
            positions.append(chunk["positions"])
            hashes.append(chunk["hashes"].reshape(-1, HASH_BYTES))
            quality.append(chunk["quality"])
    return (
        np.concatenate(positions).astype(np.int64),
        np.concatenate(hashes).astype(np.uint8),
        np.concatenate(quality).astype(np.uint8),
    )
