"""Thumbnails per second: from the on-disk cache, and made fresh from a local tar store or folder.

    .venv/bin/python bench/images.py [--images 300] [--width 800] [--height 600]

Generates ``--images`` JPEGs (gradients with noise, so they decode like photos rather than
flat colour), writes them as img2dataset webdataset shards and as a plain folder in a
temporary directory, then times ``ImageService.thumbnail`` through the real code path:
store lookup, read, decode (JPEG draft mode), resize, re-encode, atomic cache write; and the
cache-hit path (lookup, fingerprint, read of the cached file).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.catalog.hidden import HiddenPositions
from app.catalog.layout import DatasetPaths  # noqa: E402
from app.catalog.manifest import Manifest, write_manifest  # noqa: E402
from app.config import Settings  # noqa: E402
from app.images.service import ImageService  # noqa: E402
from app.images.stores import TarShardStore  # noqa: E402


def make_jpegs(n: int, width: int, height: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    # One noise field, shifted per image: photo-like JPEG sizes without minutes of numpy.
    noise = rng.integers(-24, 24, (height, width * 2, 3), dtype=np.int16)
    out = []
    for i in range(n):
        base = np.stack(
            [(x * (i % 7 + 1)) % 256, (y * (i % 5 + 1)) % 256, ((x + y) * (i % 3 + 1)) % 256],
            axis=-1,
        ).astype(np.int16)
        shift = (i * 37) % width
        noisy = np.clip(base + noise[:, shift : shift + width], 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(noisy, "RGB").save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def write_tar_shards(folder: Path, images: list[bytes], per_shard: int = 100) -> None:
    folder.mkdir(parents=True)
    for shard_no, start in enumerate(range(0, len(images), per_shard)):
        with tarfile.open(folder / f"{shard_no:05d}.tar", "w") as archive:
            for i, data in enumerate(images[start : start + per_shard], start):
                key = f"{i:09d}"
                for name, payload in ((f"{key}.jpg", data), (f"{key}.txt", b"caption")):
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    archive.addfile(info, io.BytesIO(payload))


def dataset(root: Path, name: str, kind: str) -> DatasetPaths:
    paths = DatasetPaths(root / name)
    paths.root.mkdir(parents=True, exist_ok=True)
    write_manifest(
        paths.manifest,
        Manifest(
            name=name,
            row_count=0,
            source_format="laion",
            source_files=[],
            column_mapping={},
            image_store={"kind": kind, "path": "shards" if kind == "tar" else "images"},
        ),
    )
    return paths


def timed(service: ImageService, paths: DatasetPaths, ids: list[str], size: str) -> list[float]:
    latencies = []
    for pos, sample_id in enumerate(ids):
        record = {"pos": pos, "sample_id": sample_id}
        started = time.perf_counter()
        result = service.thumbnail(paths, record, size)  # type: ignore[arg-type]
        latencies.append(time.perf_counter() - started)
        assert result is not None and not result.placeholder
    return latencies


def row(label: str, latencies: list[float]) -> str:
    total = sum(latencies)
    p50 = statistics.median(latencies) * 1000
    p95 = sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000
    return f"| {label:<44} | {len(latencies) / total:>9,.0f} | {p50:>7.2f} | {p95:>7.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--width", type=int, default=800)
    parser.add_argument("--height", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=5, help="repeats of the cache-hit pass")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="loupe-bench-images-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        images = make_jpegs(args.images, args.width, args.height)
        generated = time.perf_counter() - started
        ids = [f"{i:09d}" for i in range(args.images)]
        tar_paths = dataset(root / "data", "bench-tar", "tar")
        write_tar_shards(tar_paths.shards, images)
        folder_paths = dataset(root / "data", "bench-folder", "folder")
        folder_paths.images.mkdir()
        for sample_id, data in zip(ids, images, strict=True):
            (folder_paths.images / f"{sample_id}.jpg").write_bytes(data)

        settings = Settings(data_dir=root / "data", state_dir=root / "state")
        # Synthetic stores with no catalog: their hidden sets are given as empty, the one
        # thing the image service needs to know before it reads a byte.
        hidden = HiddenPositions()
        for name in (tar_paths.name, folder_paths.name):
            hidden.replace(name, [])
        service = ImageService(settings, hidden=hidden)

        store = service.store_for(tar_paths)
        assert isinstance(store, TarShardStore)
        started = time.perf_counter()
        store.ensure_index(force=True)
        index_s = time.perf_counter() - started

        results = [
            ("tar store, thumbnail made (cold cache)", timed(service, tar_paths, ids, "thumb")),
            (
                "folder store, thumbnail made (cold cache)",
                timed(service, folder_paths, ids, "thumb"),
            ),
            (
                "tar store, display size made (cold cache)",
                timed(service, tar_paths, ids, "display"),
            ),
        ]
        hits_tar: list[float] = []
        hits_folder: list[float] = []
        for _ in range(args.rounds):
            hits_tar += timed(service, tar_paths, ids, "thumb")
            hits_folder += timed(service, folder_paths, ids, "thumb")
        results += [
            ("tar store, thumbnail from cache", hits_tar),
            ("folder store, thumbnail from cache", hits_folder),
        ]
        service.close()

        mean_kib = sum(len(d) for d in images) / len(images) / 1024
        print(
            f"{args.images} JPEGs of {args.width}x{args.height} (mean {mean_kib:.0f} KiB, "
            f"generated in {generated:.1f} s); thumbnail {settings.thumbnail_size} px, "
            f"display {settings.display_size} px; one thread"
        )
        print(
            f"tar index of {len(list(tar_paths.shards.glob('*.tar')))} shards built in "
            f"{index_s * 1000:.0f} ms ({args.images / index_s:,.0f} members/s)"
        )
        print()
        print(f"| {'path':<44} | {'images/s':>9} | {'p50 ms':>7} | {'p95 ms':>7} |")
        print(f"|{'-' * 46}|{'-' * 10}:|{'-' * 8}:|{'-' * 8}:|")
        for label, latencies in results:
            print(row(label, latencies))


if __name__ == "__main__":
    main()
