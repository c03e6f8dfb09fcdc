"""ImageService end to end: local folder and tar stores, cache, placeholders, remote fetch."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from app.catalog.hidden import HiddenPositions
from app.catalog.layout import DatasetPaths
from app.catalog.manifest import Manifest, write_manifest
from app.config import Settings
from app.images.service import ImageService, RecordHidden
from tests.images.conftest import Route, image_bytes
from tests.images.test_image_stores import write_shard


def nothing_hidden(*names: str) -> HiddenPositions:
    """An image-layer test's hidden positions: the datasets known, nothing hidden."""
    hidden = HiddenPositions()
    for name in names:
        hidden.replace(name, [])
    return hidden


def make_dataset(root, name="pics", image_store=None) -> DatasetPaths:
    paths = DatasetPaths(root / name)
    paths.root.mkdir(parents=True)
    manifest = Manifest(
        name=name,
        row_count=3,
        source_format="laion",
        source_files=[],
        column_mapping={},
        image_store=image_store,
    )
    write_manifest(paths.manifest, manifest)
    return paths


@pytest.fixture
def settings(tmp_path):
    return Settings(
        data_dir=tmp_path / "data",
        state_dir=tmp_path / "state",
        thumbnail_size=64,
        display_size=200,
    )


def size_of(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_folder_store_thumbnail_and_display(settings, tmp_path):
    paths = make_dataset(tmp_path / "data")
    paths.images.mkdir()
    (paths.images / "1.jpg").write_bytes(image_bytes(800, 400))
    service = ImageService(settings, hidden=nothing_hidden("pics"))
    thumb = service.thumbnail(paths, {"pos": 61, "sample_id": "1"}, "thumb")
    display = service.thumbnail(paths, {"pos": 61, "sample_id": "1"}, "display")
    assert thumb.media_type == "image/jpeg" and size_of(thumb.content) == (64, 32)
    assert size_of(display.content) == (200, 100)
    assert thumb.etag != display.etag and not thumb.placeholder
    again = service.thumbnail(paths, {"pos": 61, "sample_id": "1"}, "thumb")
    assert again == thumb  # same bytes and ETag, from the cache
    assert service.delete("pics", "1") == 2
    service.thumbnail(paths, {"pos": 61, "sample_id": "1"}, "thumb")
    service.forget_hidden("pics", ["1", "never-cached"])
    assert not list((settings.thumbnail_cache_dir / "pics").rglob("*.jpg"))
    service.close()


def test_cache_serves_hits_without_decoding(settings, tmp_path):
    paths = make_dataset(tmp_path / "data")
    paths.images.mkdir()
    (paths.images / "1.jpg").write_bytes(image_bytes(100, 100))
    service = ImageService(settings, hidden=nothing_hidden("pics"))
    first = service.thumbnail(paths, {"pos": 61, "sample_id": "1"})
    cached = service.cache.path_for(
        "pics",
        "1",
        "thumb64",
        service.store_for(paths).locate({"pos": 61, "sample_id": "1"}).fingerprint,
    )
    cached.write_bytes(b"marker: came from the cache")
    assert (
        service.thumbnail(paths, {"pos": 61, "sample_id": "1"}).content
        == b"marker: came from the cache"
    )
    assert first.content != b"marker: came from the cache"
    service.close()


def test_tar_store_from_manifest(settings, tmp_path):
    paths = make_dataset(tmp_path / "data", image_store={"kind": "tar", "path": "shards"})
    write_shard(paths.shards / "00000.tar", {"000000007": image_bytes(300, 300, fmt="PNG")})
    service = ImageService(settings, hidden=nothing_hidden("pics"))
    result = service.thumbnail(paths, {"pos": 799, "sample_id": "000000007"})
    assert size_of(result.content) == (64, 64)
    assert (settings.state_dir / "tarindex" / "pics.sqlite3").is_file()
    service.close()


def test_placeholders_say_why(settings, tmp_path):
    paths = make_dataset(tmp_path / "data")
    paths.images.mkdir()
    (paths.images / "broken.jpg").write_bytes(b"<html>not really</html>")
    service = ImageService(settings, hidden=nothing_hidden("pics"))
    assert service.thumbnail(paths, {"pos": 571, "sample_id": "none"}) is None
    missing = service.image_or_placeholder(
        paths, {"pos": 571, "sample_id": "none", "url": "http://x/y"}
    )
    assert missing.placeholder and missing.reason == "no_image"
    assert missing.media_type == "image/svg+xml" and b"No local image" in missing.content
    broken = service.image_or_placeholder(paths, {"pos": 322, "sample_id": "broken"})
    assert broken.reason == "unreadable"
    with pytest.raises(ValueError):
        service.thumbnail(paths, {"pos": 571, "sample_id": "none"}, "huge")
    service.close()


def test_remote_off_never_fetches(settings, tmp_path, http_server):
    http_server.routes["/a.jpg"] = Route(body=image_bytes())
    paths = make_dataset(tmp_path / "data")
    service = ImageService(
        settings.model_copy(update={"remote_allowlist": ["127.0.0.1/32"]}),
        hidden=nothing_hidden("pics"),
    )
    record = {"pos": 61, "sample_id": "1", "url": http_server.url("/a.jpg")}
    result = service.image_or_placeholder(paths, record)
    assert result.reason == "no_image"
    assert http_server.requests == []
    service.close()


def test_remote_on_fetches_once_caches_both_sizes_and_records_status(
    settings, tmp_path, http_server
):
    body = image_bytes(640, 480)
    http_server.routes["/a.jpg"] = Route(headers={"Content-Type": "image/jpeg"}, body=body)
    http_server.routes["/gone.jpg"] = Route(404)
    http_server.routes["/noai.jpg"] = Route(headers={"X-Robots-Tag": "noai"}, body=body)
    paths = make_dataset(tmp_path / "data")
    remote = settings.model_copy(
        update={"remote_images": True, "remote_allowlist": ["127.0.0.1/32"]}
    )
    service = ImageService(remote, hidden=nothing_hidden("pics"))
    record = {
        "pos": 1,
        "sample_id": "1",
        "url": http_server.url("/a.jpg"),
        "md5": hashlib.md5(body).hexdigest(),
        "domain": "pics.example",
    }
    thumb = service.image_or_placeholder(paths, record, "thumb")
    display = service.image_or_placeholder(paths, record, "display")
    assert thumb.source == display.source == "remote"
    assert size_of(thumb.content) == (64, 48) and size_of(display.content) == (200, 150)
    assert thumb.content != body  # re-encoded, never the fetched bytes
    assert http_server.paths_seen() == ["/a.jpg"]  # one fetch made both sizes
    assert service.links.get("pics", "1").status == "ok"

    dead = {"pos": 485, "sample_id": "2", "url": http_server.url("/gone.jpg")}
    assert service.image_or_placeholder(paths, dead).reason == "dead"
    assert service.image_or_placeholder(paths, dead).reason == "dead"
    assert http_server.paths_seen().count("/gone.jpg") == 1  # not retried before recheck time
    opted = {"pos": 627, "sample_id": "3", "url": http_server.url("/noai.jpg")}
    assert service.image_or_placeholder(paths, opted).reason == "opted_out"
    changed = {"pos": 123, "sample_id": "4", "url": http_server.url("/a.jpg"), "md5": "0" * 32}
    assert service.image_or_placeholder(paths, changed).reason == "changed"
    stats = service.links.rot_stats("pics")
    assert stats.checked == 4 and stats.alive == 2
    service.close()


def test_local_image_wins_over_remote(settings, tmp_path, http_server):
    paths = make_dataset(tmp_path / "data")
    paths.images.mkdir()
    (paths.images / "1.jpg").write_bytes(image_bytes())
    remote = settings.model_copy(
        update={"remote_images": True, "remote_allowlist": ["127.0.0.1/32"]}
    )
    service = ImageService(remote, hidden=nothing_hidden("pics"))
    result = service.image_or_placeholder(
        paths, {"pos": 61, "sample_id": "1", "url": http_server.url("/x")}
    )
    assert result.source == "local" and http_server.requests == []
    service.close()


def test_a_hidden_record_is_never_read(settings, tmp_path):
    paths = make_dataset(tmp_path / "data")
    paths.images.mkdir()
    (paths.images / "1.jpg").write_bytes(image_bytes(80, 40))
    hidden = nothing_hidden("pics")
    hidden.replace("pics", [7])
    service = ImageService(settings, hidden=hidden)
    with pytest.raises(RecordHidden):
        service.thumbnail(paths, {"pos": 7, "sample_id": "1"})
    with pytest.raises(RecordHidden):  # a record it cannot place is refused too
        service.image_or_placeholder(paths, {"sample_id": "1"})
    unknown = ImageService(settings, hidden=HiddenPositions())
    with pytest.raises(RecordHidden):  # a dataset whose hidden set is unknown: fail closed
        unknown.thumbnail(paths, {"pos": 1, "sample_id": "1"})
    assert not list(settings.thumbnail_cache_dir.rglob("*")) or not any(
        p.is_file() for p in settings.thumbnail_cache_dir.rglob("*")
    ), "nothing was decoded into the cache"
    assert service.thumbnail(paths, {"pos": 1, "sample_id": "1"}) is not None
