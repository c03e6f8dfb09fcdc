"""``ImageService``: the one object the web layer asks for a record's picture.

Order of sources for a record: the dataset's local store (folder or tar shards), then, only
when ``remote_images`` is on and the record has a URL, the guarded remote fetcher. Whatever
the source, the bytes are decoded and re-encoded here and cached as JPEG; when there is nothing
to show, ``image_or_placeholder`` returns a placeholder that says why.

A picture fetched from the web is PDQ-hashed once decoded and the hash kept
(``app.images.remotehashes``); the workspace may set ``remote_hash_check`` to match it against
the PDQ blocklists, and a picture that matches is refused (``RecordHidden``) before any size of
it is cached or served.

Hidden records are never read, decoded or fetched: the service is given the catalog's hidden
positions (app.catalog.hidden) and refuses a record that is hidden, or that it cannot place
(no position, or a dataset whose hidden set is unknown), with :class:`RecordHidden` — before
looking for a single byte. The routes 404 earlier still; this is the guard no caller can miss.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from app.catalog.hidden import HiddenPositions, HiddenSetUnknown
from app.catalog.layout import DatasetPaths
from app.images.addresses import Resolver, system_resolver
from app.images.decode import MEDIA_TYPE, ImageRefused, decode_image, encode_jpeg, resize_to
from app.images.linkstatus import LinkCheck, LinkStatusStore, domain_of
from app.images.phash import PerceptualHash, perceptual_hash
from app.images.placeholder import MEDIA_TYPE as PLACEHOLDER_TYPE
from app.images.placeholder import placeholder_etag, placeholder_svg
from app.images.remote import FetchLimits, RemoteFetcher
from app.images.remotehashes import RemoteHashStore
from app.images.stores import (
    MAX_LOCAL_BYTES,
    ImageStore,
    StoreError,
    TarShardStore,
    open_image_store,
)
from app.images.thumbnails import ThumbnailCache

if TYPE_CHECKING:
    from app.config import Settings

log = logging.getLogger(__name__)

SizeName = Literal["thumb", "display"]
# remote_hash_check(dataset, sample_id, hash) -> True when the picture must not be shown.
HashCheck = Callable[[str, str, PerceptualHash], bool]
REMOTE_HASHES_FILE = "remote-pdq.sqlite3"
SIZE_NAMES: tuple[str, ...] = ("thumb", "display")
_KEY_LOCKS = 64


class RecordHidden(LookupError):
    """The record is hidden (or cannot be shown to be visible): no pixels are looked for."""


@dataclass(frozen=True)
class ImageResult:
    content: bytes
    media_type: str
    etag: str
    placeholder: bool = False
    reason: str | None = None  # why there is no picture, for placeholders
    source: str = "local"  # "local", "remote" or "placeholder"


class ImageService:
    def __init__(
        self,
        settings: Settings,
        *,
        hidden: HiddenPositions,
        resolver: Resolver = system_resolver,
        fetcher: RemoteFetcher | None = None,
    ) -> None:
        self.settings = settings
        self.hidden = hidden
        self.cache = ThumbnailCache(settings.thumbnail_cache_dir, settings.thumbnail_cache_bytes)
        self.links = LinkStatusStore(settings.state_dir / "linkstatus.sqlite3")
        self.remote_hashes = RemoteHashStore(settings.state_dir / REMOTE_HASHES_FILE)
        self.remote_hash_check: HashCheck | None = None  # set by the workspace
        self._resolver = resolver
        self._fetcher = fetcher
        self._fetcher_lock = threading.Lock()
        self._stores: dict[Path, tuple[int, ImageStore | None]] = {}
        self._stores_lock = threading.Lock()
        # One fetch per record at a time: the grid asks for the thumb while the record page
        # asks for the display size; the second waits and then finds both in the cache.
        self._key_locks = [threading.Lock() for _ in range(_KEY_LOCKS)]

    # -- public --------------------------------------------------------------------------

    def thumbnail(
        self, paths: DatasetPaths, record: Mapping[str, Any], size: SizeName = "thumb"
    ) -> ImageResult | None:
        """The record's picture at ``size``, or None when there is none to show."""
        found = self._find(paths, record, size)
        return found if isinstance(found, ImageResult) else None

    def image_or_placeholder(
        self, paths: DatasetPaths, record: Mapping[str, Any], size: SizeName = "thumb"
    ) -> ImageResult:
        """Like ``thumbnail`` but never None: a placeholder naming the reason instead."""
        found = self._find(paths, record, size)
        if isinstance(found, ImageResult):
            return found
        return ImageResult(
            placeholder_svg(found),
            PLACEHOLDER_TYPE,
            placeholder_etag(found),
            placeholder=True,
            reason=found,
            source="placeholder",
        )

    def delete(self, dataset: str, sample_id: str) -> int:
        """Remove a record's cached pictures (all sizes); the safety layer calls this."""
        return self.cache.delete(dataset, str(sample_id))

    def forget_hidden(self, dataset: str, sample_ids: list[str]) -> None:
        """``Safety.on_hidden`` callback: drop the cached pictures of newly hidden records."""
        for sample_id in sample_ids:
            self.cache.delete(dataset, str(sample_id))

    def store_for(self, paths: DatasetPaths) -> ImageStore | None:
        """The dataset's local store, per ``manifest.image_store`` or the conventional
        ``images/`` and ``shards/`` folders; re-read when the manifest changes."""
        try:
            stamp = paths.manifest.stat().st_mtime_ns
        except OSError:
            stamp = 0
        with self._stores_lock:
            cached = self._stores.get(paths.root)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            if cached is not None and isinstance(cached[1], TarShardStore):
                cached[1].close()
            store = self._open_store(paths)
            self._stores[paths.root] = (stamp, store)
            return store

    def fetcher(self) -> RemoteFetcher:
        with self._fetcher_lock:
            if self._fetcher is None:
                self._fetcher = RemoteFetcher(
                    FetchLimits.from_settings(self.settings), resolver=self._resolver
                )
            return self._fetcher

    def close(self) -> None:
        with self._stores_lock:
            for _, store in self._stores.values():
                if isinstance(store, TarShardStore):
                    store.close()
            self._stores.clear()
        if self._fetcher is not None:
            self._fetcher.close()

    # -- finding pixels ------------------------------------------------------------------

    def _find(
        self, paths: DatasetPaths, record: Mapping[str, Any], size: SizeName
    ) -> ImageResult | str:
        if size not in SIZE_NAMES:
            raise ValueError(f"unknown image size {size!r}")
        self._refuse_hidden(paths.name, record)
        if record.get("sample_id") is None:
            return "no_image"
        store = self.store_for(paths)
        if store is not None:
            try:
                located = store.locate(record)
            except StoreError as exc:
                log.warning("image store of %s unusable: %s", paths.name, exc)
                located = None
            if located is not None:
                return self._from_local(paths.name, record, size, located)
        if self.settings.remote_images and isinstance(record.get("url"), str):
            return self._from_remote(paths.name, record, size)
        return "no_image"

    def _from_local(
        self, dataset: str, record: Mapping[str, Any], size: SizeName, located: Any
    ) -> ImageResult | str:
        sample_id = str(record["sample_id"])
        variant, px = self._variant(size)
        fingerprint = located.fingerprint
        cached = self.cache.get(dataset, sample_id, variant, fingerprint)
        if cached is not None:
            return self._result(cached, fingerprint, variant, "local")
        if located.size > MAX_LOCAL_BYTES:
            return "too_large"
        try:
            image = decode_image(located.read(), self.settings.max_image_pixels, target=px)
        except ImageRefused as exc:
            log.info("local image of %s/%s refused: %s", dataset, sample_id, exc.detail)
            return "too_large" if exc.kind == "too_large" else "unreadable"
        except OSError as exc:
            log.warning("local image of %s/%s unreadable: %s", dataset, sample_id, exc)
            return "unreadable"
        data = encode_jpeg(resize_to(image, px))
        self.cache.put(dataset, sample_id, variant, fingerprint, data)
        return self._result(data, fingerprint, variant, "local")

    def _from_remote(
        self, dataset: str, record: Mapping[str, Any], size: SizeName
    ) -> ImageResult | str:
        sample_id = str(record["sample_id"])
        url = str(record["url"])
        md5, sha256 = _text(record.get("md5")), _text(record.get("sha256"))
        fingerprint = f"remote:{url}|{md5 or ''}|{sha256 or ''}"
        variant, _ = self._variant(size)
        cached = self.cache.get(dataset, sample_id, variant, fingerprint)
        if cached is not None:
            return self._result(cached, fingerprint, variant, "remote")
        last = self.links.get(dataset, sample_id)
        if (
            last is not None
            and last.status != "ok"
            and time.time() - last.checked_at < self.settings.remote_recheck_s
        ):
            return last.status
        lock = self._key_locks[hash((dataset, sample_id)) % _KEY_LOCKS]
        with lock:
            cached = self.cache.get(dataset, sample_id, variant, fingerprint)
            if cached is not None:
                return self._result(cached, fingerprint, variant, "remote")
            outcome = self.fetcher().fetch(
                url,
                md5=md5,
                sha256=sha256,
                decode_target=self.settings.display_size,
                slot_wait_s=self.settings.remote_connect_timeout_s,
            )
            if outcome.status == "busy":
                return "busy"
            self.links.record(
                LinkCheck(
                    dataset,
                    sample_id,
                    outcome.status,
                    outcome.detail,
                    outcome.http_status,
                    _text(record.get("domain")) or domain_of(url),
                    seconds=outcome.seconds,
                )
            )
            if outcome.status != "ok" or outcome.image is None:
                return outcome.status
            self._hash_remote(dataset, sample_id, outcome.image)
            # Both sizes from one fetch: the record page usually follows the grid.
            wanted: bytes = b""
            for name in SIZE_NAMES:
                name_variant, name_px = self._variant(name)  # type: ignore[arg-type]
                data = encode_jpeg(resize_to(outcome.image, name_px))
                self.cache.put(dataset, sample_id, name_variant, fingerprint, data)
                if name == size:
                    wanted = data
            return self._result(wanted, fingerprint, variant, "remote")

    def _hash_remote(self, dataset: str, sample_id: str, image: Any) -> None:
        """Keep the fetched picture's PDQ hash; refuse it if a PDQ blocklist matches it.

        The picture was decoded at the display size (``settings.display_size``, 1024 px by
        default), which for most web pictures is their full size; larger ones are reduced as
        the local hashing pass reduces them past 2047 px, within a few bits.
        """
        try:
            found = perceptual_hash(image)
        except (ValueError, OSError) as exc:
            log.info("remote image of %s/%s not hashed: %s", dataset, sample_id, exc)
            return
        self.remote_hashes.put(dataset, sample_id, found.hex, found.quality)
        check = self.remote_hash_check
        if check is not None and check(dataset, sample_id, found):
            raise RecordHidden(f"{dataset}: record {sample_id!r} matches a PDQ blocklist")

    # -- helpers -------------------------------------------------------------------------

    def _refuse_hidden(self, dataset: str, record: Mapping[str, Any]) -> None:
        position = record.get("pos")
        try:
            hidden = position is None or self.hidden.is_hidden(dataset, int(position))
        except HiddenSetUnknown:
            hidden = True
        if hidden:
            raise RecordHidden(f"{dataset}: record {record.get('sample_id')!r} is not shown")

    def _open_store(self, paths: DatasetPaths) -> ImageStore | None:
        return open_image_store(paths, self.settings.state_dir)

    def _variant(self, size: SizeName) -> tuple[str, int]:
        px = self.settings.thumbnail_size if size == "thumb" else self.settings.display_size
        return f"{size}{px}", px

    @staticmethod
    def _result(data: bytes, fingerprint: str, variant: str, source: str) -> ImageResult:
        tag = hashlib.sha256(f"{fingerprint}\x00{variant}".encode("utf-8", "surrogatepass"))
        return ImageResult(data, MEDIA_TYPE, f'"{tag.hexdigest()[:24]}"', source=source)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
