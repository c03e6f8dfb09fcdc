"""``loupe embed``: image and caption embeddings of a dataset, in resumable chunks.

The catalog is walked in ``pos`` order, ``chunk_rows`` records at a time. Each finished chunk
is saved to ``vectors/work-<kind>/chunk_NNNNNN.npz`` in one atomic rename, so Ctrl-C, a crash
or a full disk loses at most the chunk in progress; a rerun skips the chunks already there.
The work folder also records the model and catalog build it belongs to: a rerun with another
model, chunk size or catalog starts over instead of mixing vectors. When every chunk is there
they are joined into ``<kind>.npy`` / ``<kind>.pos.npy`` (see ``store``) and the folder goes.

Rows come from ``rows``, the workspace's reader of *visible* rows (app.workspace): a record
hidden by a flag or a blocklist is never decoded or embedded, and one hidden while a run is
going on is left out from the next chunk on.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from app.catalog.layout import DatasetPaths
from app.catalog.manifest import read_manifest
from app.images.decode import ImageRefused, decode_image
from app.images.stores import ImageStore, StoreError, open_image_store
from app.vectors import store
from app.vectors.models import Encoders

DEFAULT_CHUNK_ROWS = 1024
DEFAULT_BATCH_SIZE = 32
MAX_CAPTION_CHARS = 2000  # the text model reads 256 tokens; longer text only costs time
DECODE_TARGET = 448  # JPEG draft size: twice CLIP's 224 input, decoded at reduced scale


# rows(positions, columns) -> the visible rows among ``positions``, in order.
RowReader = Callable[[Sequence[int], Sequence[str]], list[dict[str, Any]]]
EMBED_COLUMNS: tuple[str, ...] = ("pos", "sample_id", "image_path", "image_key", "caption")


class EmbedError(Exception):
    """The dataset cannot be embedded; the message names the file and the problem."""


@dataclass
class EmbedResult:
    kind: str
    complete: bool
    rows: int  # catalog records
    embedded: int  # vectors computed so far (the final count once complete)
    skipped: int  # records with no image / caption, or a picture that was refused
    chunks_done: int
    chunks_total: int
    seconds: float
    note: str = ""


def embed_dataset(
    paths: DatasetPaths,
    encoders: Encoders,
    *,
    rows: RowReader,
    kinds: Sequence[str] = store.KINDS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_pixels: int = 40_000_000,
    state_dir: Path | None = None,
    force: bool = False,
    max_chunks: int | None = None,
    progress: bool = True,
) -> list[EmbedResult]:
    """Compute the missing embeddings of ``paths``; ``max_chunks`` stops early (tests, trials).

    Returns one result per kind; ``complete`` is False when stopped before the end, and a
    rerun then continues from the last saved chunk.
    """
    if not paths.exists():
        raise EmbedError(
            f"{paths.root}: no dataset there (manifest.json or catalog.duckdb missing)."
        )
    row_count = read_manifest(paths.manifest).row_count
    results = []
    for kind in kinds:
        current = store.read_meta(paths, kind)
        if (
            not force
            and current is not None
            and str(current.get("source", "")).startswith("precomputed")
            and current.get("catalog") == store.catalog_build(paths)
        ):
            # Imported from clip-retrieval output: a real model made them; keep them.
            count = int(current["count"])
            results.append(_skipped(kind, row_count, count, "precomputed embeddings kept"))
            continue
        if kind == "image":
            image_store = open_image_store(paths, state_dir or paths.root / ".state")
            if image_store is None:
                results.append(_skipped(kind, row_count, 0, "no local images: nothing to embed"))
                continue
            clip = encoders.clip()
            job = _Job(
                paths,
                rows,
                "image",
                clip.fingerprint,
                clip.dim,
                row_count,
                chunk_rows,
                _image_encoder(clip, image_store, batch_size, max_pixels),
                {
                    "model": clip.label,
                    "arch": clip.source.arch,
                    "trained": clip.trained,
                    "probe": [round(float(x), 6) for x in clip.probe_vector],
                },
                center=not clip.trained,
            )
        elif kind == "caption":
            text = encoders.text()
            job = _Job(
                paths,
                rows,
                "caption",
                text.label,
                text.dim,
                row_count,
                chunk_rows,
                _caption_encoder(text, batch_size),
                {"model": text.label},
            )
        else:
            raise EmbedError(f"unknown embedding kind {kind!r} (known: {', '.join(store.KINDS)}).")
        results.append(job.run(force=force, max_chunks=max_chunks, progress=progress))
    return results


def _skipped(kind: str, rows: int, count: int, note: str) -> EmbedResult:
    return EmbedResult(kind, True, rows, count, rows - count, 0, 0, 0.0, note)


# --- one kind, chunk by chunk --------------------------------------------------------------

# (records of one chunk) -> (vectors, their positions, how many records were skipped)
ChunkEncoder = Callable[[list[dict[str, Any]]], tuple[np.ndarray, np.ndarray, int]]


@dataclass
class _Job:
    paths: DatasetPaths
    read_rows: RowReader
    kind: str
    model_id: str  # changes whenever the vectors would (see ClipModel.fingerprint)
    dim: int
    row_count: int
    chunk_rows: int
    encode: ChunkEncoder
    meta: dict[str, Any]
    # An untrained CLIP puts every picture in one narrow cone (cosines of 0.5-0.98 between
    # unrelated images): subtracting the dataset's mean spreads them out so that neighbours
    # and the duplicate threshold mean something. Queries get the same shift (``center``).
    center: bool = False

    def run(self, *, force: bool, max_chunks: int | None, progress: bool) -> EmbedResult:
        started = time.perf_counter()
        files = store.files_for(self.paths, self.kind)
        total = math.ceil(self.row_count / self.chunk_rows)
        current = store.read_meta(self.paths, self.kind)
        if (
            not force
            and current is not None
            and current.get("model_id") == self.model_id
            and current.get("catalog") == store.catalog_build(self.paths)
        ):
            return EmbedResult(
                self.kind,
                True,
                self.row_count,
                int(current["count"]),
                self.row_count - int(current["count"]),
                total,
                total,
                0.0,
                "already up to date",
            )
        work = files.work
        identity = {
            "kind": self.kind,
            "model_id": self.model_id,
            "dim": self.dim,
            "chunk_rows": self.chunk_rows,
            "catalog": store.catalog_build(self.paths),
        }
        _prepare_work(work, identity, fresh=force)
        done = _done_chunks(work)
        skipped = sum(int(_chunk_skipped(work, i)) for i in done)
        new = 0
        with (
            tqdm(
                total=self.row_count,
                initial=min(len(done) * self.chunk_rows, self.row_count),
                unit="rows",
                unit_scale=True,
                desc=f"embed {self.kind}",
                disable=not progress,
            ) as bar,
        ):
            for index in range(total):
                if index in done:
                    continue
                if max_chunks is not None and new >= max_chunks:
                    break
                low = index * self.chunk_rows
                high = min(low + self.chunk_rows, self.row_count)
                records = self.read_rows(range(low, high), EMBED_COLUMNS)
                vectors, positions, missing = self.encode(records)
                _save_chunk(work, index, vectors, positions, missing)
                done.add(index)
                skipped += missing
                new += 1
                bar.update(high - low)
        embedded = sum(_chunk_count(work, i) for i in done)
        if len(done) < total:
            return EmbedResult(
                self.kind,
                False,
                self.row_count,
                embedded,
                skipped,
                len(done),
                total,
                time.perf_counter() - started,
                "stopped early; rerun to go on",
            )
        meta = {**self.meta, "model_id": self.model_id, "source": "loupe embed", "skipped": skipped}
        center = _mean(work, total, self.dim) if self.center and embedded else None
        if center is not None:
            meta["center"] = [round(float(x), 7) for x in center]
        store.write_embeddings(
            self.paths,
            self.kind,
            _read_chunks(work, total, center),
            count=embedded,
            dim=self.dim,
            meta=meta,
        )
        shutil.rmtree(work, ignore_errors=True)
        return EmbedResult(
            self.kind,
            True,
            self.row_count,
            embedded,
            skipped,
            total,
            total,
            time.perf_counter() - started,
        )


def _prepare_work(work: Path, identity: dict[str, Any], *, fresh: bool) -> None:
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


def _done_chunks(work: Path) -> set[int]:
    done = set()
    for path in work.glob("chunk_*.npz"):
        try:
            done.add(int(path.stem.removeprefix("chunk_")))
        except ValueError:
            continue
    return done


def _save_chunk(
    work: Path, index: int, vectors: np.ndarray, positions: np.ndarray, skipped: int
) -> None:
    target = _chunk_path(work, index)
    tmp = target.with_name(target.stem + ".tmp.npz")
    with open(tmp, "wb") as handle:
        np.savez(
            handle,
            vectors=vectors.astype(np.float32),
            positions=positions.astype(np.int64),
            skipped=np.array(skipped),
        )
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def _chunk_count(work: Path, index: int) -> int:
    with np.load(_chunk_path(work, index)) as chunk:
        return int(chunk["positions"].shape[0])


def _chunk_skipped(work: Path, index: int) -> int:
    with np.load(_chunk_path(work, index)) as chunk:
        return int(chunk["skipped"])


def _read_chunks(
    work: Path, total: int, center: np.ndarray | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for index in range(total):
        with np.load(_chunk_path(work, index)) as chunk:
            vectors = chunk["vectors"]
            yield (vectors if center is None else vectors - center), chunk["positions"]


def _mean(work: Path, total: int, dim: int) -> np.ndarray:
    acc, n = np.zeros(dim, np.float64), 0
    for index in range(total):
        with np.load(_chunk_path(work, index)) as chunk:
            acc += chunk["vectors"].sum(axis=0, dtype=np.float64)
            n += chunk["vectors"].shape[0]
    return (acc / max(n, 1)).astype(np.float32)


# --- encoders for one chunk ----------------------------------------------------------------


def _image_encoder(
    clip: Any, image_store: ImageStore, batch_size: int, max_pixels: int
) -> ChunkEncoder:
    def load(record: dict[str, Any]) -> Any:
        try:
            located = image_store.locate(record)
            if located is None:
                return None
            return decode_image(located.read(), max_pixels, target=DECODE_TARGET)
        except (ImageRefused, StoreError, OSError):
            return None  # a damaged or oversized file is skipped, never fatal

    def encode(records: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, int]:
        vectors, positions, skipped = [], [], 0
        # Pillow decodes without holding the GIL: two threads keep both cores busy.
        with ThreadPoolExecutor(max_workers=2) as pool:
            for start in range(0, len(records), batch_size):
                batch = records[start : start + batch_size]
                images = list(pool.map(load, batch))
                kept = [
                    (r["pos"], image)
                    for r, image in zip(batch, images, strict=True)
                    if image is not None
                ]
                skipped += len(batch) - len(kept)
                if kept:
                    vectors.append(clip.encode_images([image for _, image in kept]))
                    positions.extend(pos for pos, _ in kept)
        return _stack(vectors, clip.dim), np.asarray(positions, dtype=np.int64), skipped

    return encode


def _caption_encoder(text: Any, batch_size: int) -> ChunkEncoder:
    def encode(records: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, int]:
        kept = [
            (r["pos"], r["caption"].strip()[:MAX_CAPTION_CHARS])
            for r in records
            if isinstance(r["caption"], str) and r["caption"].strip()
        ]
        if not kept:
            return np.zeros((0, text.dim), np.float32), np.zeros(0, np.int64), len(records)
        vectors = text.encode_texts([caption for _, caption in kept], batch_size=batch_size)
        positions = np.asarray([pos for pos, _ in kept], dtype=np.int64)
        return vectors, positions, len(records) - len(kept)

    return encode


def _stack(parts: list[np.ndarray], dim: int) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros((0, dim), np.float32)
