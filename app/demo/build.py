"""Build the demo source: a LAION-5B-style parquet and a folder of JPEGs, offline, from a seed.

The plan is drawn first (which base image, which recipe, which near-duplicate cluster), then
each image is rendered and encoded, then the rows are shuffled so clusters are scattered through
the file as they are in a real crawl. One ``numpy.random.Generator`` drives everything, so a seed
gives the same rows and the same image bytes every time.

Besides the parquet that ``loupe ingest`` reads, a small ``provenance.parquet`` records how
each image was made (base image, recipe, near-duplicate group): the ground truth for checking
duplicate detection and search by image.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from app.demo import captions, scores, urls
from app.demo.images import BASE_IMAGES, Variant, encode_jpeg, load_base, render

DEFAULT_SEED = 20261125
DEFAULT_RECORDS = 1200

CLUSTER_SHARE = 0.22  # distinct images that come with near-duplicates
# How a near-duplicate differs from the image it copies, and how often each kind appears.
DUPLICATE_KINDS: dict[str, float] = {
    "copy": 0.2,  # the same bytes at another URL: identical md5
    "requality": 0.3,  # re-encoded at another JPEG quality
    "trim": 0.25,  # a few percent cropped off the edges
    "rescale": 0.15,  # a smaller copy
    "watermark": 0.1,  # a stock site's preview with a stamped watermark
}
STOCK_SHARE = 0.1  # captions in stock-photo style (besides watermarked copies)
REUSE_CAPTION_SHARE = 0.4  # near-duplicates that keep the original's caption (reposts)
WATERMARK_TEXTS = ("© stockhub", "dreamstock", "© stocklane", "PREVIEW")

# Scikit-image's grey test images: hue shifts do nothing to them, so they are not offered.
_GREY_BASES = {
    "camera",
    "coins",
    "horse",
    "brick",
    "grass",
    "gravel",
    "text",
    "cell",
    "clock",
    "checkerboard",
}
_SIDES = np.array([512, 480, 448, 400, 384, 320, 300, 256, 224, 200, 160, 128])
_SIDE_WEIGHTS = np.array([10, 3, 4, 3, 5, 5, 2, 5, 2, 2, 1, 1], dtype=float)

PARQUET_NAME = "demo.parquet"
PROVENANCE_NAME = "provenance.parquet"


@dataclass(frozen=True)
class DemoSource:
    parquet: Path  # LAION-5B columns, one row per image
    images_dir: Path  # <SAMPLE_ID>.jpg for every row
    provenance: Path  # SAMPLE_ID, base, recipe, dup_group, dup_kind: ground truth, not ingested


@dataclass(frozen=True)
class _Planned:
    variant: Variant
    dup_group: int
    dup_kind: str  # "original" or one of DUPLICATE_KINDS
    image: scores.ImageScores


def _draw_variant(rng: np.random.Generator, base: str) -> Variant:
    width, height = load_base(base).size
    crop = None
    kept = 1.0
    if rng.random() < 0.45:
        area = rng.uniform(0.35, 0.95)
        aspect = rng.uniform(0.75, 1.33)
        w = min(1.0, float(np.sqrt(area * aspect)))
        h = min(1.0, float(np.sqrt(area / aspect)))
        left = float(rng.uniform(0, 1 - w))
        top = float(rng.uniform(0, 1 - h))
        crop = (round(left, 3), round(top, 3), round(left + w, 3), round(top + h, 3))
        kept = max(w * width, h * height) / max(width, height)
    roll = rng.random()
    flip = "h" if roll < 0.25 else "v" if roll < 0.28 else None
    roll = rng.random()
    if roll < 0.08:
        rotate = int(rng.choice([90, 180, 270]))
    elif roll < 0.15:
        rotate = int(rng.choice([-1, 1]) * rng.integers(2, 13))
    else:
        rotate = 0
    colours = (
        ["none", "sepia", "warm"]
        if base in _GREY_BASES
        else ["none", "grey", "sepia", "hue", "warm"]
    )
    colour_weights = np.array(
        [0.7, 0.1, 0.2] if base in _GREY_BASES else [0.62, 0.12, 0.06, 0.12, 0.08]
    )
    colour = colours[int(rng.choice(len(colours), p=colour_weights / colour_weights.sum()))]
    hue_shift = (
        round(float(rng.choice([-1, 1]) * rng.uniform(0.08, 0.5)), 3) if colour == "hue" else 0.0
    )
    side = int(rng.choice(_SIDES, p=_SIDE_WEIGHTS / _SIDE_WEIGHTS.sum()))
    # Do not blow small crops up much past their real size.
    side = max(64, min(side, round(max(width, height) * kept * 1.1)))
    quality = int(rng.integers(72, 96))
    return Variant(
        base=base,
        crop=crop,
        flip=flip,
        rotate=rotate,
        colour=colour,
        hue_shift=hue_shift,
        side=side,
        quality=quality,
    )


def _near_duplicate(rng: np.random.Generator, original: Variant, kind: str) -> Variant:
    if kind == "copy":
        return original
    if kind == "requality":
        quality = original.quality - int(rng.integers(18, 40))
        return original.derive(quality=max(35, quality))
    if kind == "trim":
        left, top, right, bottom = original.crop or (0.0, 0.0, 1.0, 1.0)
        w, h = right - left, bottom - top
        cut = [float(rng.uniform(0.01, 0.04)) for _ in range(4)]
        crop = (
            round(left + w * cut[0], 3),
            round(top + h * cut[1], 3),
            round(right - w * cut[2], 3),
            round(bottom - h * cut[3], 3),
        )
        return original.derive(crop=crop)
    if kind == "rescale":
        return original.derive(side=max(64, round(original.side * rng.uniform(0.55, 0.85))))
    if kind == "watermark":
        return original.derive(watermark=str(rng.choice(WATERMARK_TEXTS)))
    raise ValueError(f"unknown near-duplicate kind {kind!r}")


def _plan(rng: np.random.Generator, n_records: int) -> list[_Planned]:
    keys = [b.key for b in BASE_IMAGES]
    weights = np.array([b.weight for b in BASE_IMAGES])
    weights /= weights.sum()
    kinds = list(DUPLICATE_KINDS)
    kind_weights = np.array([DUPLICATE_KINDS[k] for k in kinds])
    kind_weights /= kind_weights.sum()
    planned: list[_Planned] = []
    group = 0
    while len(planned) < n_records:
        variant = _draw_variant(rng, keys[int(rng.choice(len(keys), p=weights))])
        image = scores.image_scores(rng, variant)
        planned.append(_Planned(variant, group, "original", image))
        if rng.random() < CLUSTER_SHARE:
            for _ in range(int(rng.integers(1, 5))):
                kind = kinds[int(rng.choice(len(kinds), p=kind_weights))]
                copy_scores = (
                    image
                    if kind == "copy"
                    else scores.near_duplicate_scores(rng, image, watermarked=kind == "watermark")
                )
                planned.append(
                    _Planned(_near_duplicate(rng, variant, kind), group, kind, copy_scores)
                )
        group += 1
    return planned[:n_records]


def _signed_hash(url: str, text: str) -> int:
    """A stable int64 of URL and caption, standing in for LAION's ``hash`` column."""
    digest = hashlib.blake2b(f"{url}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def build_demo_source(
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    n_records: int = DEFAULT_RECORDS,
    *,
    progress: bool = False,
) -> DemoSource:
    """Write ``demo.parquet``, ``provenance.parquet`` and ``images/`` under ``out_dir``."""
    if n_records < 1:
        raise ValueError("n_records must be at least 1")
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    images_dir = out_dir / "images"
    images_dir.mkdir(exist_ok=True)

    planned = _plan(rng, n_records)
    # Row order is shuffled; SAMPLE_IDs grow along the rows, as in a LAION part file.
    rows_order = rng.permutation(n_records)
    first_id = int(rng.integers(100_000_000_000, 3_000_000_000_000))
    ids_by_row = first_id + np.cumsum(rng.integers(1, 400_000, size=n_records))
    sample_ids = [int(ids_by_row[row]) for row in rows_order]  # indexed by plan position

    records: list[dict[str, object] | None] = [None] * n_records
    provenance: list[dict[str, object] | None] = [None] * n_records
    seen_urls: set[str] = set()
    cluster_caption: dict[int, tuple[str, str | None]] = {}
    steps = tqdm(planned, desc="demo images", unit="img", disable=not progress)
    for index, item in enumerate(steps):
        sample_id = sample_ids[index]
        image = render(item.variant)
        data = encode_jpeg(image, item.variant.quality)
        (images_dir / f"{sample_id}.jpg").write_bytes(data)

        stock = item.dup_kind == "watermark" or rng.random() < STOCK_SHARE
        html = rng.random() < captions.HTML_SHARE
        monochrome = item.variant.colour in ("grey", "sepia")
        if (
            item.dup_kind != "original"
            and not stock
            and item.dup_group in cluster_caption
            and rng.random() < REUSE_CAPTION_SHARE
        ):
            text, language = cluster_caption[item.dup_group]
        elif html:
            language = "en"
            text = captions.make_caption(
                rng, item.variant.base, language, stock=False, monochrome=monochrome, html=True
            )
        else:
            language = captions.pick_language(rng)
            if language is None:
                text = captions.nolang_caption(rng)
            else:
                text = captions.make_caption(
                    rng, item.variant.base, language, stock=stock, monochrome=monochrome
                )
        if item.dup_kind == "original":
            cluster_caption[item.dup_group] = (text, language)

        host = urls.pick_host(rng, language, stock)
        slug = urls.slugify(text)
        url = urls.make_url(rng, host, slug)
        attempt = 0
        while url in seen_urls:  # reposted captions can repeat a slug; URLs must stay unique
            attempt += 1
            url = urls.make_url(rng, host, slug, attempt)
        seen_urls.add(url)

        image_scores = scores.stock_watermark(rng, item.image) if host.stock else item.image
        noisy = language is None or html or stock
        records[rows_order[index]] = {
            "SAMPLE_ID": sample_id,
            "URL": url,
            "TEXT": text,
            "LANGUAGE": language,
            "WIDTH": image.width,
            "HEIGHT": image.height,
            "LICENSE": scores.pick_license(rng),
            "NSFW": scores.nsfw_tag(image_scores.punsafe),
            "similarity": scores.similarity(rng, language, noisy),
            "punsafe": image_scores.punsafe,
            "pwatermark": image_scores.pwatermark,
            "aesthetic": image_scores.aesthetic,
            "md5": hashlib.md5(data).hexdigest(),  # noqa: S324 - a content checksum, as LAION's
            "hash": _signed_hash(url, text),
        }
        provenance[rows_order[index]] = {
            "SAMPLE_ID": sample_id,
            "base": item.variant.base,
            "recipe": item.variant.label(),
            "dup_group": item.dup_group,
            "dup_kind": item.dup_kind,
        }

    parquet = out_dir / PARQUET_NAME
    pq.write_table(pa.Table.from_pylist(records, schema=LAION_SCHEMA), parquet)
    provenance_path = out_dir / PROVENANCE_NAME
    pq.write_table(pa.Table.from_pylist(provenance, schema=PROVENANCE_SCHEMA), provenance_path)
    return DemoSource(parquet=parquet, images_dir=images_dir, provenance=provenance_path)


LAION_SCHEMA = pa.schema(
    [
        ("SAMPLE_ID", pa.int64()),
        ("URL", pa.string()),
        ("TEXT", pa.string()),
        ("LANGUAGE", pa.string()),
        ("WIDTH", pa.int64()),
        ("HEIGHT", pa.int64()),
        ("LICENSE", pa.string()),
        ("NSFW", pa.string()),
        ("similarity", pa.float64()),
        ("punsafe", pa.float64()),
        ("pwatermark", pa.float64()),
        ("aesthetic", pa.float64()),
        ("md5", pa.string()),
        ("hash", pa.int64()),
    ]
)

PROVENANCE_SCHEMA = pa.schema(
    [
        ("SAMPLE_ID", pa.int64()),
        ("base", pa.string()),
        ("recipe", pa.string()),
        ("dup_group", pa.int64()),
        ("dup_kind", pa.string()),
    ]
)
