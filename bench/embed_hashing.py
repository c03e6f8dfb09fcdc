"""PDQ hashing at embed time: images per second of the hashing pass `loupe embed` runs, beside
the image embedding it follows, and how far a hash of the embedding's draft decode would be.

    .venv/bin/python bench/embed_hashing.py [--records 600] [--data-dir DIR --dataset NAME]
                                            [--workers 1 2] [--clip-sample 32]

1. Without ``--data-dir``, a demo dataset of ``--records`` records is built in a temporary
   folder (the demo's own pictures: scikit-image and matplotlib samples, 128-512 px JPEGs).
2. The hashing pass (``app.vectors.hashing.hash_dataset``, through the workspace as
   ``loupe embed`` runs it) hashes every visible record, once per ``--workers`` count
   (``--force``: from scratch each time). Images per second are printed for each.
3. ``--clip-sample`` pictures are embedded with the configured OpenCLIP model (untrained
   ViT-B-32 unless LOUPE_CLIP_WEIGHTS is set) to give the hashing pass's cost as a share of
   the embedding's.
4. The draft decode: the demo's base pictures re-encoded at 1024 and 1600 px are hashed after
   the embedding's reduced decode (``embed.DECODE_TARGET``) and after a full decode; the bits
   between the two are printed (why the pass decodes again, see ``app/vectors/hashing.py``).

The load average is printed before and after (a shared 2-core machine moves the figures).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from app.config import Settings  # noqa: E402
from app.demo import images as demo_images  # noqa: E402
from app.images.decode import decode_image  # noqa: E402
from app.images.phash import HASH_SIDE, hamming, perceptual_hash  # noqa: E402
from app.vectors.embed import DECODE_TARGET  # noqa: E402
from app.vectors.hashing import hash_dataset  # noqa: E402
from app.workspace import workspace  # noqa: E402

MAX_PIXELS = 40_000_000


def build_demo(root: Path, records: int) -> Path:
    from app.build import build_dataset
    from app.demo.build import build_demo_source

    source = build_demo_source(root / "src", n_records=records, progress=False)
    data_dir = root / "indexes"
    build_dataset(data_dir, "demo", [source.parquet], images=source.images_dir, progress=False)
    return data_dir


def hash_pass(settings: Settings, name: str, workers: int) -> dict[str, float]:
    with workspace(settings, names=[name]) as opened:
        paths = opened.dataset(name).paths
        started = time.perf_counter()
        result = hash_dataset(
            paths,
            rows=lambda positions, columns: opened.visible_rows(name, positions, columns),
            state_dir=settings.state_dir,
            max_pixels=settings.max_image_pixels,
            workers=workers,
            force=True,
            progress=False,
        )
        seconds = time.perf_counter() - started
    return {
        "hashed": result.hashed,
        "seconds": seconds,
        "images_per_s": result.hashed / seconds,
        "ms_per_image": seconds / max(result.hashed, 1) * 1000,
    }


def clip_cost(settings: Settings, sample: int) -> float:
    """Milliseconds per picture of the image embedding (one batch of ``sample`` pictures)."""
    from app.vectors.models import Encoders

    clip = Encoders.from_settings(settings).clip()
    pictures = [demo_images.load_base(b.key) for b in demo_images.BASE_IMAGES]
    pictures = (pictures * (sample // len(pictures) + 1))[:sample]
    clip.encode_images(pictures[:2])  # warm up
    started = time.perf_counter()
    clip.encode_images(pictures)
    return (time.perf_counter() - started) / len(pictures) * 1000


def draft_distances() -> dict[int, list[tuple[int, str]]]:
    out: dict[int, list[tuple[int, str]]] = {}
    for side in (1024, 1600):
        rows = []
        for base in demo_images.BASE_IMAGES:
            picture = demo_images.load_base(base.key)
            height = round(side * picture.height / picture.width)
            big = picture.resize((side, height), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            big.save(buffer, format="JPEG", quality=90)
            data = buffer.getvalue()
            draft = perceptual_hash(decode_image(data, MAX_PIXELS, target=DECODE_TARGET))
            full = perceptual_hash(decode_image(data, MAX_PIXELS, target=HASH_SIDE))
            rows.append((hamming(draft.hex, full.hex), base.key))
        out[side] = sorted(rows, reverse=True)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clip-sample", type=int, default=32, help="0 to skip")
    args = parser.parse_args(argv)
    report: dict = {"load": [os.getloadavg()], "hashing": {}}
    print(f"load average at start: {_load(report['load'][-1])}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="loupe-bench-hash-") as tmp:
        data_dir = args.data_dir or build_demo(Path(tmp), args.records)
        settings = Settings(data_dir=data_dir, state_dir=Path(tmp) / "state")
        print(f"\nhashing pass over {args.dataset} ({data_dir})")
        print("| workers | pictures | seconds | images/s | ms per picture |")
        print("|--:|--:|--:|--:|--:|")
        for workers in args.workers:
            figures = hash_pass(settings, args.dataset, workers)
            report["hashing"][workers] = figures
            print(
                f"| {workers} | {figures['hashed']:,.0f} | {figures['seconds']:.2f} "
                f"| {figures['images_per_s']:,.0f} | {figures['ms_per_image']:.2f} |"
            )
        if args.clip_sample:
            clip_ms = clip_cost(settings, args.clip_sample)
            best = min(f["ms_per_image"] for f in report["hashing"].values())
            report["clip_ms"] = clip_ms
            print(
                f"\nimage embedding ({settings.clip_model}): {clip_ms:.0f} ms per picture; "
                f"the hashing pass adds {best:.2f} ms ({best / clip_ms:.1%})"
            )
    report["draft"] = draft_distances()
    print(f"\nbits between a hash of the {DECODE_TARGET}-px draft decode and of the full decode")
    for side, rows in report["draft"].items():
        bits = [b for b, _ in rows]
        worst = ", ".join(f"{key} {b}" for b, key in rows[:3])
        print(
            f"{side} px: median {statistics.median(bits):.0f}, max {max(bits)} "
            f"(worst: {worst}); within 8 bits: {sum(b <= 8 for b in bits)}/{len(bits)}"
        )
    report["load"].append(os.getloadavg())
    print(f"\nload average at end: {_load(report['load'][-1])}")
    return report


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values) + " (1 / 5 / 15 min)"


if __name__ == "__main__":
    main()
