"""The on-disk thumbnail cache: hits, fingerprints, delete, LRU eviction under a cap."""

from __future__ import annotations

import os
import time

import pytest

from app.images.thumbnails import ThumbnailCache


def test_put_get_and_fingerprint(tmp_path):
    cache = ThumbnailCache(tmp_path, max_bytes=10_000_000)
    assert cache.get("demo", "1", "thumb256", "fp-a") is None
    path = cache.put("demo", "1", "thumb256", "fp-a", b"jpeg bytes")
    assert cache.get("demo", "1", "thumb256", "fp-a") == b"jpeg bytes"
    assert cache.get("demo", "1", "thumb256", "fp-b") is None  # the source changed
    assert cache.get("demo", "1", "display1024", "fp-a") is None
    assert path.is_relative_to(tmp_path / "demo")
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]


def test_ids_never_become_paths(tmp_path):
    cache = ThumbnailCache(tmp_path, max_bytes=10_000_000)
    path = cache.put("demo", "../../etc/passwd", "thumb256", "fp", b"x")
    assert path.is_relative_to(tmp_path / "demo") and "passwd" not in path.name
    with pytest.raises(ValueError):
        cache.put("../escape", "1", "thumb256", "fp", b"x")
    with pytest.raises(ValueError):
        cache.path_for("demo", "1", "../thumb", "fp")


def test_delete_removes_every_size_of_one_record(tmp_path):
    cache = ThumbnailCache(tmp_path, max_bytes=10_000_000)
    cache.put("demo", "1", "thumb256", "fp", b"small")
    cache.put("demo", "1", "display1024", "fp", b"large")
    cache.put("demo", "1", "thumb256", "old-fp", b"older build")
    cache.put("demo", "2", "thumb256", "fp", b"other record")
    assert cache.delete("demo", "1") == 3
    assert cache.get("demo", "1", "thumb256", "fp") is None
    assert cache.get("demo", "2", "thumb256", "fp") == b"other record"
    assert cache.delete("demo", "1") == 0


def test_lru_eviction_keeps_recently_used(tmp_path):
    cache = ThumbnailCache(tmp_path, max_bytes=10_000)
    now = time.time()
    for i in range(9):
        path = cache.put("demo", str(i), "thumb256", "fp", b"x" * 1000)
        os.utime(path, (now - 1000 + i, now - 1000 + i))  # 0 is the oldest
    # Record 0 is used again (a hit refreshes its time), so 1 and 2 are now the oldest.
    assert cache.get("demo", "0", "thumb256", "fp") is not None
    cache.put("demo", "9", "thumb256", "fp", b"x" * 1000)
    cache.put("demo", "10", "thumb256", "fp", b"x" * 1000)  # 11,000 bytes > cap
    assert cache.usage() <= 9_000  # evicted down to the 90% low-water mark
    assert cache.get("demo", "0", "thumb256", "fp") is not None
    assert cache.get("demo", "1", "thumb256", "fp") is None
    assert cache.get("demo", "2", "thumb256", "fp") is None
    assert cache.get("demo", "10", "thumb256", "fp") is not None


def test_stale_temp_files_are_cleaned(tmp_path):
    cache = ThumbnailCache(tmp_path, max_bytes=10_000_000)
    path = cache.put("demo", "1", "thumb256", "fp", b"x")
    stale = path.parent / ".tmp-abandoned.jpg"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    cache.maintain()
    assert not stale.exists() and path.exists()


def test_delete_dataset(tmp_path):
    cache = ThumbnailCache(tmp_path, max_bytes=10_000_000)
    cache.put("demo", "1", "thumb256", "fp", b"x")
    cache.delete_dataset("demo")
    assert cache.get("demo", "1", "thumb256", "fp") is None and cache.usage() == 0
