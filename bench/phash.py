"""PDQ perceptual hashing: images per second at ingest, matching speed, demo near-duplicate recall.

    .venv/bin/python bench/phash.py [--images 300] [--list 10000] [--dataset 1000000]
                                    [--threads 1 2] [--demo-records 600]

1. Hashing: ``--images`` demo-style JPEGs (the demo's own recipe: a scikit-image/matplotlib
   picture, sometimes cropped or recoloured, 512 px, JPEG quality 72-95) are decoded from
   their bytes and hashed through ``app.images.phash.hash_bytes``, the ingest path; once on
   one thread and once on each ``--threads`` count. Decode and hash are also timed apart.
2. Matching: ``--list`` random hashes against ``--dataset`` random hashes with 1,000 planted
   copies of list entries, each with 0..40 bits flipped; the matches must be exactly the
   planted copies within 31 bits. ``HashSet.matches`` with each ``--threads`` count.
3. Recall on the demo's near-duplicates (``--demo-records``, 0 to skip): the demo builder's
   plan is rendered and hashed, and every near-duplicate is compared with its original; the
   share within 31 bits is printed per kind, with the matches between unrelated pictures.

The machine's load average (``os.getloadavg``) is printed before and after: on a shared
2-core machine other work changes the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.demo import images as demo_images  # noqa: E402
from app.images.decode import decode_image  # noqa: E402
from app.images.phash import (  # noqa: E402
    CONFIDENT_DISTANCE,
    HASH_SIDE,
    HashSet,
    hamming,
    hash_bytes,
    perceptual_hash,
)

MAX_PIXELS = 40_000_000  # Settings.max_image_pixels' default


@dataclass
class Report:
    hashing: dict[int, dict[str, float]] = field(default_factory=dict)  # threads -> figures
    matching: dict[int, dict[str, float]] = field(default_factory=dict)
    recall: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (caught, n)
    unrelated_matches: int = 0
    load: list[tuple[float, float, float]] = field(default_factory=list)


def demo_jpegs(n: int, seed: int = 0) -> list[bytes]:
    """Pictures as the demo makes them: its base images, its crops and colours, 512 px."""
    rng = np.random.default_rng(seed)
    keys = [base.key for base in demo_images.BASE_IMAGES]
    out = []
    for i in range(n):
        crop = None
        if rng.random() < 0.45:
            w, h = rng.uniform(0.6, 1.0, 2)
            left, top = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
            crop = (round(left, 3), round(top, 3), round(left + w, 3), round(top + h, 3))
        colour = str(rng.choice(["none", "none", "none", "warm", "sepia"]))
        variant = demo_images.Variant(
            base=keys[i % len(keys)], crop=crop, colour=colour, side=512, quality=90
        )
        quality = int(rng.integers(72, 96))
        out.append(demo_images.encode_jpeg(demo_images.render(variant), quality))
    return out


def bench_hashing(jpegs: list[bytes], threads: list[int], report: Report) -> None:
    decode_s, hash_s = [], []
    for data in jpegs:
        started = time.perf_counter()
        image = decode_image(data, MAX_PIXELS, target=HASH_SIDE)
        decoded = time.perf_counter()
        perceptual_hash(image)
        decode_s.append(decoded - started)
        hash_s.append(time.perf_counter() - decoded)

    def one(data: bytes) -> float:
        started = time.perf_counter()
        assert hash_bytes(data, MAX_PIXELS) is not None
        return time.perf_counter() - started

    for count in threads:
        started = time.perf_counter()
        if count == 1:
            latencies = [one(data) for data in jpegs]
        else:
            with ThreadPoolExecutor(max_workers=count) as pool:
                latencies = list(pool.map(one, jpegs))
        wall = time.perf_counter() - started
        report.hashing[count] = {
            "images_per_s": len(jpegs) / wall,
            "p50_ms": statistics.median(latencies) * 1000,
            "p95_ms": sorted(latencies)[max(0, int(len(latencies) * 0.95) - 1)] * 1000,
            "decode_p50_ms": statistics.median(decode_s) * 1000,
            "hash_p50_ms": statistics.median(hash_s) * 1000,
        }


def bench_matching(n_list: int, n_dataset: int, threads: list[int], report: Report) -> None:
    rng = np.random.default_rng(1)
    listed = rng.integers(0, 256, (n_list, 32), dtype=np.uint8)
    dataset = rng.integers(0, 256, (n_dataset, 32), dtype=np.uint8)
    planted = min(1000, n_dataset, n_list)
    where = rng.choice(n_dataset, planted, replace=False)
    which = rng.choice(n_list, planted, replace=False)
    flips = rng.integers(0, 41, planted)
    for pos, entry, k in zip(where, which, flips, strict=True):
        bits = np.unpackbits(listed[entry])
        bits[rng.choice(256, k, replace=False)] ^= 1
        dataset[pos] = np.packbits(bits)
    expected = {
        (int(p), int(e), int(k))
        for p, e, k in zip(where, which, flips, strict=True)
        if k <= CONFIDENT_DISTANCE
    }
    hashes, queries = HashSet.from_bytes(listed), HashSet.from_bytes(dataset)
    for count in threads:
        started = time.perf_counter()
        found = hashes.matches(queries, CONFIDENT_DISTANCE, workers=count)
        seconds = time.perf_counter() - started
        pairs = n_list * n_dataset
        report.matching[count] = {
            "seconds": seconds,
            "ns_per_pair": seconds / pairs * 1e9,
            "pairs_per_s": pairs / seconds,
            "correct": float(set(found) == expected),
            "matches": float(len(found)),
        }


def bench_recall(n_records: int, report: Report) -> None:
    from app.demo import build

    plan = build._plan(np.random.default_rng(build.DEFAULT_SEED), n_records)
    hashes = [
        hash_bytes(
            demo_images.encode_jpeg(demo_images.render(p.variant), p.variant.quality), MAX_PIXELS
        )
        for p in plan
    ]
    originals = {
        p.dup_group: (p.variant.base, h)
        for p, h in zip(plan, hashes, strict=True)
        if p.dup_kind == "original"
    }
    caught: dict[str, list[bool]] = defaultdict(list)
    for p, h in zip(plan, hashes, strict=True):
        if p.dup_kind != "original" and h is not None and originals[p.dup_group][1] is not None:
            caught[p.dup_kind].append(hamming(h.hex, originals[p.dup_group][1].hex) <= 31)
    report.recall = {kind: (sum(v), len(v)) for kind, v in sorted(caught.items())}
    groups = sorted(originals)
    bases = [originals[g][0] for g in groups]
    matched = HashSet.from_hex([originals[g][1].hex for g in groups])
    report.unrelated_matches = sum(
        1 for a, b, _ in matched.matches(matched) if a < b and bases[a] != bases[b]
    )


def main(argv: list[str] | None = None) -> Report:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--list", type=int, default=10_000, help="hashes on the blocklist")
    parser.add_argument("--dataset", type=int, default=1_000_000, help="hashes in the dataset")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--demo-records", type=int, default=600)
    args = parser.parse_args(argv)
    threads = sorted(set([1, *args.threads]))
    report = Report()
    report.load.append(os.getloadavg())
    print(f"load average at start: {_load(report.load[-1])}; {os.cpu_count()} CPUs")

    jpegs = demo_jpegs(args.images)
    mean_kib = sum(map(len, jpegs)) / len(jpegs) / 1024
    bench_hashing(jpegs, threads, report)
    print(f"\n{len(jpegs)} demo-style JPEGs, 512 px, mean {mean_kib:.0f} KiB: decode + PDQ hash")
    print("| threads | images/s | p50 ms | p95 ms | of which decode p50 | hash p50 |")
    print("|--:|--:|--:|--:|--:|--:|")
    for count, r in report.hashing.items():
        print(
            f"| {count} | {r['images_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} "
            f"| {r['decode_p50_ms']:.2f} | {r['hash_p50_ms']:.2f} |"
        )

    bench_matching(args.list, args.dataset, threads, report)
    print(f"\n{args.list:,} list hashes x {args.dataset:,} dataset hashes, distance <= 31")
    print("| threads | seconds | ns/pair | pairs/s | matches | all planted found, no other |")
    print("|--:|--:|--:|--:|--:|:-:|")
    for count, r in report.matching.items():
        print(
            f"| {count} | {r['seconds']:.1f} | {r['ns_per_pair']:.2f} | {r['pairs_per_s']:.3g} "
            f"| {r['matches']:.0f} | {'yes' if r['correct'] else 'NO'} |"
        )
    best = min(r["ns_per_pair"] for r in report.matching.values())
    print(f"at the best rate, 100,000 x 1,000,000 would take {best * 1e11 / 1e9 / 60:.1f} min")

    if args.demo_records:
        bench_recall(args.demo_records, report)
        print(f"\ndemo near-duplicates (first {args.demo_records} records of the demo plan)")
        print("| kind | within 31 bits of the original |")
        print("|---|--:|")
        for kind, (hit, n) in report.recall.items():
            print(f"| {kind} | {hit}/{n} ({hit / max(n, 1):.0%}) |")
        print(f"matches between originals of different base pictures: {report.unrelated_matches}")

    report.load.append(os.getloadavg())
    print(f"\nload average at end: {_load(report.load[-1])}")
    return report


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values) + " (1 / 5 / 15 min)"


if __name__ == "__main__":
    main()
