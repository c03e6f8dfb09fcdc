"""`loupe ingest NAME <clip-retrieval folder>`: metadata and embeddings in one command."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
from typer.testing import CliRunner

from app.cli import app as cli_app
from tests.factories import laion_table


def write_layout(root, rows: int, vectors: int):
    for folder in ("metadata", "img_emb"):
        (root / folder).mkdir(parents=True)
    pq.write_table(laion_table(rows), root / "metadata" / "metadata_0.parquet")
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((vectors, 32)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    np.save(root / "img_emb" / "img_emb_0.npy", emb)


def test_ingest_imports_aligned_embeddings(tmp_path, monkeypatch):
    monkeypatch.setenv("LOUPE_DATA_DIR", str(tmp_path / "indexes"))
    write_layout(tmp_path / "cr", rows=40, vectors=40)
    result = CliRunner().invoke(cli_app, ["ingest", "pre", str(tmp_path / "cr"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Imported 40 precomputed image embeddings" in result.output
    assert (tmp_path / "indexes" / "pre" / "vectors").is_dir()


def test_ingest_refuses_misaligned_shards_before_building(tmp_path, monkeypatch):
    monkeypatch.setenv("LOUPE_DATA_DIR", str(tmp_path / "indexes"))
    write_layout(tmp_path / "cr", rows=40, vectors=39)
    result = CliRunner().invoke(cli_app, ["ingest", "bad", str(tmp_path / "cr"), "--no-progress"])
    assert result.exit_code == 2
    assert "img_emb_0.npy" in result.output and "metadata_0.parquet" in result.output
    assert not (tmp_path / "indexes" / "bad").exists()
