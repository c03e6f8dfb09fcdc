"""Folder and webdataset tar stores: found by id or path, read by member, never outside root."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from app.images.stores import FolderStore, StoreError, TarShardStore, safe_id
from tests.images.conftest import image_bytes


def write_shard(path: Path, samples: dict[str, bytes], ext: str = "jpg") -> Path:
    """A webdataset shard as img2dataset writes it: key.jpg, key.txt, key.json per sample."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as archive:
        for key, data in samples.items():
            for name, payload in (
                (f"{key}.{ext}", data),
                (f"{key}.txt", f"caption of {key}".encode()),
                (f"{key}.json", json.dumps({"key": key, "status": "success"}).encode()),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
    return path


# -- folder ---------------------------------------------------------------------------------


def test_folder_by_sample_id(tmp_path):
    (tmp_path / "1001.jpg").write_bytes(b"jpeg-1001")
    (tmp_path / "abc_2.png").write_bytes(b"png-abc")
    store = FolderStore(tmp_path)
    assert store.locate({"sample_id": "1001"}).read() == b"jpeg-1001"
    assert store.locate({"sample_id": "abc_2"}).read() == b"png-abc"
    assert store.locate({"sample_id": "missing"}) is None


def test_folder_img2dataset_files_layout(tmp_path):
    (tmp_path / "00012").mkdir()
    (tmp_path / "00012" / "000120034.jpg").write_bytes(b"nested")
    assert FolderStore(tmp_path).locate({"sample_id": "000120034"}).read() == b"nested"


def test_folder_by_image_path(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.webp").write_bytes(b"webp")
    (tmp_path / "b.jpg").write_bytes(b"flat")
    store = FolderStore(tmp_path)
    assert store.locate({"sample_id": "x", "image_path": "sub/a.webp"}).read() == b"webp"
    # clip-retrieval wrote absolute paths of another machine: the tail is found here.
    record = {"sample_id": "x", "image_path": "/mnt/crawl/images/sub/a.webp"}
    assert store.locate(record).read() == b"webp"
    assert store.locate({"sample_id": "x", "image_path": "/elsewhere/deep/b.jpg"}).read() == b"flat"


def test_folder_never_reads_outside_its_root(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"secret")
    (root / "link.jpg").symlink_to(secret)
    store = FolderStore(root)
    for record in (
        {"sample_id": "../secret"},
        {"sample_id": "x", "image_path": "../secret.jpg"},
        {"sample_id": "x", "image_path": str(secret)},  # absolute: only tails inside root
        {"sample_id": "link"},  # a symlink out of the store
        {"sample_id": "x", "image_path": "link.jpg"},
        {"sample_id": "x", "image_path": "a\x00b.jpg"},
    ):
        assert store.locate(record) is None, record


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1001", True),
        ("000120034", True),
        ("a-b_c.d", True),
        ("../x", False),
        ("a/b", False),
        (".hidden", False),
        ("", False),
        (None, False),
        ("x" * 300, False),
        (12345, True),
    ],
)
def test_safe_id(value, ok):
    assert (safe_id(value) is not None) == ok


def test_fingerprint_changes_with_the_file(tmp_path):
    path = tmp_path / "7.jpg"
    path.write_bytes(b"one")
    store = FolderStore(tmp_path)
    first = store.locate({"sample_id": "7"}).fingerprint
    path.write_bytes(b"second version")
    assert store.locate({"sample_id": "7"}).fingerprint != first


# -- tar shards -----------------------------------------------------------------------------


def test_tar_reads_members_without_extracting(tmp_path):
    shards = tmp_path / "shards"
    a, b, c = image_bytes(colour=(1, 2, 3)), image_bytes(fmt="PNG"), image_bytes(30, 30)
    write_shard(shards / "00000.tar", {"000000000": a, "000000001": b})
    write_shard(shards / "00001.tar", {"000010000": c}, ext="png")
    store = TarShardStore(shards, tmp_path / "state" / "tarindex.sqlite3")
    assert store.locate({"sample_id": "000000000"}).read() == a
    assert store.locate({"sample_id": "000000001"}).read() == b
    assert store.locate({"sample_id": "000010000"}).read() == c
    assert store.locate({"sample_id": "000000002"}) is None
    assert store.locate({"sample_id": None}) is None
    # nothing extracted beside the shards
    assert sorted(p.name for p in shards.iterdir()) == ["00000.tar", "00001.tar"]
    store.close()


def test_tar_index_is_kept_and_refreshed(tmp_path):
    shards = tmp_path / "shards"
    index = tmp_path / "tarindex.sqlite3"
    write_shard(shards / "00000.tar", {"k1": b"one"})
    first = TarShardStore(shards, index)
    assert first.ensure_index(force=True) == 1
    first.close()
    again = TarShardStore(shards, index)
    assert again.ensure_index(force=True) == 0  # read from disk, not rebuilt
    write_shard(shards / "00000.tar", {"k2": b"two"})
    os.utime(shards / "00000.tar", ns=(1, 1))
    assert again.ensure_index(force=True) == 1
    assert again.locate({"sample_id": "k1"}) is None
    assert again.locate({"sample_id": "k2"}).read() == b"two"
    (shards / "00000.tar").unlink()
    again.ensure_index(force=True)
    assert again.locate({"sample_id": "k2"}) is None
    again.close()


def test_broken_shard_is_a_clear_error(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "00000.tar").write_bytes(b"this is not a tar file" * 100)
    store = TarShardStore(shards, tmp_path / "idx.sqlite3")
    with pytest.raises(StoreError, match="00000.tar: not a readable tar shard"):
        store.locate({"sample_id": "x"})
    store.close()
