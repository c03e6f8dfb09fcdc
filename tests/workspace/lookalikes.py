"""A small dataset of the demo's own pictures with look-alikes of one of them, for the PDQ
blocklist and quarantine tests.

Records (SAMPLE_ID):
  2000          astronaut, 256 px: the record a reviewer flags as suspected CSAM
  2001          a copy of it at half size, JPEG quality 50, 1 % cut off each side
  2002          a copy re-encoded at JPEG quality 40
  2003          a copy with 2 % cut off each side and blurred: PDQ misses it (34 bits), the
                image embedding does not (cosine ~0.92 with the untrained small CLIP)
  2004 ..       every other demo base picture once, except rocket (kept out: "a different
                image" that is in no record)
  REMOTE_COPY   no local picture; its URL serves a copy of astronaut (JPEG quality 60)
  REMOTE_OTHER  no local picture; its URL serves coffee

Every URL points at the loopback test server, which serves each record's picture, so
``check-links`` and remote fetching can be watched.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageFilter

from app.demo import images as demo_images

SIDE = 256
FLAGGED = "2000"
COPIES = {"2001": "half+q50+crop1%", "2002": "q40", "2003": "crop2%+blur"}
LEFT_OUT = "rocket"


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def trim(image: Image.Image, fraction: float) -> Image.Image:
    dx, dy = round(image.width * fraction), round(image.height * fraction)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def picture(key: str) -> Image.Image:
    base = demo_images.load_base(key)
    scale = SIDE / max(base.size)
    size = (max(1, round(base.width * scale)), max(1, round(base.height * scale)))
    return base.resize(size, Image.Resampling.LANCZOS)


def blurred_crop(image: Image.Image) -> Image.Image:
    return trim(image, 0.02).resize(image.size).filter(ImageFilter.GaussianBlur(2))


def half_jpeg50_crop1(image: Image.Image) -> bytes:
    """The issue's test copy: resized to half, JPEG quality 50, 1 % cut off each side."""
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.BICUBIC)
    return jpeg(trim(half, 0.01), 50)


@dataclass
class LookalikeData:
    source: Path
    images: Path
    pictures: dict[str, bytes]  # sample id -> the bytes its URL serves (and its local file)
    local: list[str]  # sample ids with a local picture
    remote_copy: str
    remote_other: str

    @property
    def look_alikes(self) -> list[str]:
        return sorted(COPIES)

    @property
    def others(self) -> list[str]:
        return [s for s in self.local if s != FLAGGED and s not in COPIES]


def write_lookalike_source(root: Path, url_of) -> LookalikeData:
    """Parquet source and images folder under ``root``; ``url_of(sample_id)`` gives each URL."""
    astronaut = picture("astronaut")
    pictures: dict[str, bytes] = {
        FLAGGED: jpeg(astronaut),
        "2001": half_jpeg50_crop1(astronaut),
        "2002": jpeg(astronaut, 40),
        "2003": jpeg(blurred_crop(astronaut)),
    }
    keys = [b.key for b in demo_images.BASE_IMAGES if b.key not in ("astronaut", LEFT_OUT)]
    captions = {FLAGGED: "an astronaut in a white suit", **dict.fromkeys(COPIES, "astronaut")}
    number = 2004
    for key in keys:
        pictures[str(number)] = jpeg(picture(key))
        captions[str(number)] = f"a picture of {key.replace('_', ' ')}"
        number += 1
    local = list(pictures)
    remote_copy, remote_other = str(number), str(number + 1)
    pictures[remote_copy] = jpeg(astronaut, 60)
    pictures[remote_other] = jpeg(picture("coffee"), 70)
    captions[remote_copy] = "astronaut portrait (remote)"
    captions[remote_other] = "a cup of coffee (remote)"

    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    for sample_id in local:
        (images / f"{sample_id}.jpg").write_bytes(pictures[sample_id])
    ids = list(pictures)
    table = pa.table(
        {
            "SAMPLE_ID": pa.array([int(i) for i in ids], pa.int64()),
            "URL": [url_of(i) for i in ids],
            "TEXT": [captions[i] for i in ids],
            "HEIGHT": pa.array([SIDE] * len(ids), pa.int32()),
            "WIDTH": pa.array([SIDE] * len(ids), pa.int32()),
            "LANGUAGE": ["en"] * len(ids),
            "similarity": pa.array([0.3] * len(ids), pa.float64()),
            "punsafe": pa.array([0.01] * len(ids), pa.float32()),
            "pwatermark": pa.array([0.1] * len(ids), pa.float32()),
            "aesthetic": pa.array([5.0] * len(ids), pa.float32()),
        }
    )
    source = root / "src" / "part-0.parquet"
    source.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, source)
    return LookalikeData(source, images, pictures, local, remote_copy, remote_other)
