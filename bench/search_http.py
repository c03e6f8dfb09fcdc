"""End-to-end search over HTTP, for ``bench/search.py --catalog DIR``.

The vectors of bench/search.py get the catalog rows of a dataset built by bench/browse.py
(same row count), so a search returns real rows under real filters. Then the real server
(``loupe serve``, uvicorn) is started on 127.0.0.1 and timed from one httpx client:

- ``POST /api/search/vector`` (kNN + filters + rows, the query embedding given), and
- ``GET /api/search?mode=meaning&space=images`` (encode the text with OpenCLIP ViT-B-32 on
  the CPU + kNN + filters + rows),

each without filters and with a language + punsafe filter. OpenCLIP loads a random-weight
ViT-B-32 checkpoint written here (nothing is downloaded): the encoding costs what a trained
model's does, and Loupe treats a checkpoint path as trained weights, so text queries search
the image index as they would with real weights.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.catalog.layout import DatasetPaths
from app.catalog.manifest import read_manifest, write_manifest
from bench.servers import free_port, stop, wait_ready

REPO_ROOT = Path(__file__).resolve().parent.parent
WORDS = ["a red car on a street", "mountain lake at sunset", "portrait of a dog", "blue logo"]
FILTERS = {"lang": "en", "punsafe_max": "0.3"}
TARGET_TEXT_P50_MS = 150.0


def link_catalog(root: Path, catalog_root: Path, n: int) -> None:
    """Make ``root`` a dataset whose rows are ``catalog_root``'s (linked, not copied)."""
    source = DatasetPaths(catalog_root)
    manifest = read_manifest(source.manifest)
    if manifest.row_count != n:
        raise SystemExit(
            f"--catalog {catalog_root} holds {manifest.row_count:,} rows, not --n {n:,}; "
            f"build one with `python bench/browse.py --rows {n}`"
        )
    target = DatasetPaths(root)
    root.mkdir(parents=True, exist_ok=True)
    for part in (source.catalog, source.rows, source.text_index):
        if part.exists():
            (root / part.name).symlink_to(part.resolve())
    write_manifest(target.manifest, manifest.model_copy(update={"name": root.name}))


def random_checkpoint(path: Path) -> Path:
    """A ViT-B-32 state_dict with random weights (what the encoder costs, not what it knows)."""
    if not path.is_file():
        import open_clip
        import torch

        model = open_clip.create_model("ViT-B-32", pretrained=None)
        torch.save(model.state_dict(), path)
    return path


def measure_http(root: Path, work: Path, queries: np.ndarray, repeat: int) -> dict[str, Any]:
    import httpx

    state = work / "http-state"
    shutil.rmtree(state, ignore_errors=True)
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LOUPE_DATA_DIR": str(root.parent),
        "LOUPE_STATE_DIR": str(state),
        "LOUPE_CLIP_MODEL": "ViT-B-32",
        "LOUPE_CLIP_WEIGHTS": str(random_checkpoint(work / "random-vit-b-32.pt")),
    }
    log = open(work / "http-server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    ds = root.name
    results: dict[str, Any] = {}
    try:
        with httpx.Client(timeout=120) as client:
            wait_ready(client, f"{base}/api/datasets", server, work / "http-server.log", 300)
            for label, filters in (("no filters", {}), ("lang=en, punsafe ≤ 0.3", FILTERS)):
                results[f"POST /api/search/vector, k=50, {label}"] = _time(
                    repeat,
                    lambda i, f=filters: client.post(
                        f"{base}/api/search/vector",
                        params={"ds": ds, **f},
                        json={"vector": queries[i % len(queries)].tolist(), "k": 50},
                    ),
                )
                results[f"GET /api/search?mode=meaning (encode + kNN + rows), {label}"] = _time(
                    repeat,
                    lambda i, f=filters: client.get(
                        f"{base}/api/search",
                        params={
                            "ds": ds,
                            "q": f"{WORDS[i % len(WORDS)]} {i}",
                            "mode": "meaning",
                            "space": "images",
                            "k": 50,
                            **f,
                        },
                    ),
                )
    finally:
        stop(server)
        log.close()
    return results


def _time(repeat: int, send: Any, warmup: int = 3) -> dict[str, float]:
    times: list[float] = []
    for i in range(warmup + repeat):
        tick = time.perf_counter()
        response = send(i)
        elapsed = (time.perf_counter() - tick) * 1000
        if response.status_code != 200:
            raise SystemExit(
                f"{response.request.url} answered {response.status_code}: {response.text[:300]}"
            )
        if len(response.json()["records"]) != 50:
            raise SystemExit(f"{response.request.url} returned fewer than 50 records")
        if i >= warmup:
            times.append(elapsed)
    arr = np.asarray(times)
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p95_ms": round(float(np.percentile(arr, 95)), 2),
    }
