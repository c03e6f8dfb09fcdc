"""Keeps the catalog's hidden positions in step with the review store's hidden records.

The review store decides *which* records are hidden (suspected-CSAM flags, blocklists) by
sample id; every read excludes records by position, from the one object that holds them
(``catalog.hidden``, app.catalog.hidden). This module is the one place that turns the first
into the second, and the workspace (app.workspace) is the only thing that runs it:

- at start-up it registers, per dataset, the resolver the store needs to match hash lists
  (URL SHA-256, image MD5/SHA-256) against that dataset's catalog, and PDQ lists against the
  perceptual hashes of its pictures (``DatasetHashes``: ``vectors/pdq.npz`` from ``loupe
  embed``, and the hashes of pictures the server fetched from the web);
- it checks each picture the server fetches from the web against the PDQ lists before the
  picture is served (``check_remote_hash``), and records a match as a hit of that list;
- ``refresh()`` reads each dataset's hidden set and replaces its positions in
  ``catalog.hidden``; it costs one SQLite read when nothing changed, so the web layer calls
  it on every request, commands before each batch of work, and everyone right after every
  flag, which is how a flag made by the CLI or another process is seen at once too;
- it deletes the cached thumbnails of newly hidden records (the image service's
  ``forget_hidden``) *after* the records are excluded, so no image request can put a thumbnail
  back in between; a second pass a little later catches a thumbnail that was being made when
  the record was hidden. Large batches (a blocklist, the first start) are deleted in a
  background thread: by then nothing can serve those records any more, and start-up and
  requests need not wait for a hundred thousand file look-ups.

Failing closed: if a hidden set cannot be computed (a hash list but no catalog to match it
against, a catalog error), ``refresh`` raises and the request is refused (503) rather than
answered from a partial set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from app.catalog.queries import Catalog
from app.explore.datasets import DatasetHandle
from app.images.phash import (
    CONFIDENT_DISTANCE,
    MIN_QUALITY,
    PDQ_FILE,
    HashSet,
    PerceptualHash,
    read_hashes,
)
from app.images.remotehashes import RemoteHashStore
from app.images.service import ImageService
from app.review.blocklist import Blocklist
from app.review.store import ReviewStore

logger = logging.getLogger(__name__)

# Thumbnail deletions up to this many records run in the request that hid them.
SYNC_FORGET = 1_000
SECOND_PASS_S = 2.0

Forget = Callable[[str, list[str]], None]


class DatasetHashes:
    """One dataset's PDQ hashes, each with its record's sample id: its local pictures'
    (``vectors/pdq.npz``, by catalog position, written by ``loupe embed``) and those of the
    pictures the server fetched from the web (``RemoteHashStore``).

    Hashes of plain pictures (quality under ``MIN_QUALITY``: flat colour, faint gradients) are
    left out of every match: they match each other freely (PDQ's own advice), so a list entry
    of one flat picture would otherwise hide every flat picture of the dataset.
    """

    def __init__(
        self, catalog: Catalog, handle: DatasetHandle, remote: RemoteHashStore | None
    ) -> None:
        self.catalog = catalog
        self.handle = handle
        self.remote = remote
        self._lock = threading.Lock()
        self._local: tuple[str, np.ndarray, np.ndarray, np.ndarray, list[str]] | None = None

    def version(self) -> str:
        """Changes whenever ``pdq.npz`` is rewritten (Safety then matches PDQ lists again)."""
        try:
            stat = (self.handle.paths.vectors / PDQ_FILE).stat()
        except OSError:
            return "pdq:none"
        return f"pdq:{stat.st_mtime_ns}:{stat.st_size}"

    def _read_local(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """(positions, hashes, quality, sample ids) of the local pictures, cached per file."""
        version = self.version()
        with self._lock:
            if self._local is not None and self._local[0] == version:
                return self._local[1:]  # type: ignore[return-value]
            if version == "pdq:none":
                empty = np.zeros(0, np.int64)
                loaded = (empty, np.zeros((0, 32), np.uint8), np.zeros(0, np.uint8), [])
            else:
                positions, hashes, quality = read_hashes(self.handle.paths.vectors)
                # Hidden records included: a record hidden for one reason must still count
                # as a hit of the next list (as for the catalog's hash columns).
                rows = self.catalog.row_stores[self.handle.name].rows(
                    positions.tolist(), ["sample_id"]
                )
                ids = [str(rows[int(p)]["sample_id"]) if int(p) in rows else "" for p in positions]
                loaded = (positions, hashes, quality, ids)
            self._local = (version, *loaded)
            return loaded

    def everything(self) -> tuple[HashSet, list[str]]:
        """Every hash of good quality, local and fetched, with its sample id."""
        positions, hashes, quality, ids = self._read_local()
        keep = (quality >= MIN_QUALITY) & np.array([bool(i) for i in ids], dtype=bool)
        chosen = hashes[keep]
        chosen_ids = [i for i, k in zip(ids, keep.tolist(), strict=True) if k]
        if self.remote is not None:
            fetched = [h for h in self.remote.all(self.handle.name) if h.quality >= MIN_QUALITY]
            if fetched:
                extra = np.frombuffer(
                    b"".join(bytes.fromhex(h.hex) for h in fetched), dtype=np.uint8
                ).reshape(-1, 32)
                chosen = np.concatenate([chosen, extra])
                chosen_ids += [h.sample_id for h in fetched]
        return HashSet.from_bytes(chosen), chosen_ids

    def match(self, values: list[str], max_distance: int) -> list[str]:
        """Sample ids whose hash is within ``max_distance`` bits of one of ``values``."""
        if not values:
            return []
        hashes, ids = self.everything()
        listed = HashSet.from_hex(values)
        return sorted({ids[q] for q, _, _ in listed.matches(hashes, max_distance)})

    def hash_of(self, sample_id: str) -> PerceptualHash | None:
        """The record's hash, local or fetched (None when it has none yet)."""
        positions, hashes, quality, _ = self._read_local()
        found = self.catalog.positions_matching(self.handle.name, "sample_id", [str(sample_id)])
        if found and positions.size:
            index = int(np.searchsorted(positions, found[0]))
            if index < positions.size and int(positions[index]) == found[0]:
                return PerceptualHash(hashes[index].tobytes().hex(), int(quality[index]))
        if self.remote is not None:
            fetched = self.remote.get(self.handle.name, str(sample_id))
            if fetched is not None:
                return PerceptualHash(fetched.hex, fetched.quality)
        return None


def catalog_resolver(
    catalog: Catalog, dataset: str, hashes: DatasetHashes | None = None
) -> Callable[..., list[str]]:
    """``resolve(kind, values, **options) -> sample ids`` of ``dataset`` for
    ``Safety.register_resolver``: hash columns through the catalog, PDQ through ``hashes``."""

    def resolve(kind: str, values: list[str], **options: Any) -> list[str]:
        if kind == "pdq":
            if hashes is None:
                return []
            distance = options.get("max_distance")
            return hashes.match(values, CONFIDENT_DISTANCE if distance is None else int(distance))
        # The catalog refuses a kind it cannot match (ValueError).
        return catalog.sample_ids_matching(dataset, kind, values)

    return resolve


class HiddenSync:
    def __init__(
        self,
        store: ReviewStore,
        catalog: Catalog,
        datasets: dict[str, DatasetHandle],
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.datasets = datasets
        # Per dataset: the hidden sample ids last applied, so a new flag resolves only the
        # ids that are new, not a million blocklisted ones again.
        self._applied: dict[str, frozenset[str]] = {}
        self._applied_version: int | None = None
        self._lock = threading.Lock()
        self._forget: Forget | None = None
        self._pending: dict[str, set[str]] = {}  # hidden, thumbnails not yet deleted
        self._pending_lock = threading.Lock()
        self.hashes: dict[str, DatasetHashes] = {}
        self._lists: dict[int, HashSet] = {}  # PDQ lists by id (a list never changes)

    def register(
        self, forget_hidden: Forget | None = None, images: ImageService | None = None
    ) -> None:
        """Register the catalog resolvers, and ``forget_hidden(dataset, sample_ids)`` to run
        for every record that becomes hidden (the store tells us; see ``_note_hidden``).
        With ``images``, its fetched pictures' hashes are matched too, and each new fetch is
        checked against the PDQ lists before it is served."""
        remote = images.remote_hashes if images is not None else None
        for name, handle in self.datasets.items():
            hashes = DatasetHashes(self.catalog, handle, remote)
            self.hashes[name] = hashes
            self.store.safety.register_resolver(
                name,
                catalog_resolver(self.catalog, name, hashes),
                handle.manifest.built_at or "",
                kind_version=lambda kind, hashes=hashes: hashes.version() if kind == "pdq" else "",
            )
        self._forget = forget_hidden
        self.store.add_hidden_listener(self._note_hidden)
        if images is not None:
            images.remote_hash_check = self.check_remote_hash

    def check_remote_hash(self, dataset: str, sample_id: str, found: PerceptualHash) -> bool:
        """Whether a picture just fetched for a record matches a PDQ list of its dataset; a
        match is stored as a hit of the list and the record hidden before this returns."""
        if found.quality < MIN_QUALITY:
            return False
        matched = []
        for blocklist in self.store.safety.pdq_lists(dataset):
            distance = blocklist.max_distance
            listed = self._list_hashes(blocklist)
            if listed.matches([found.hex], CONFIDENT_DISTANCE if distance is None else distance):
                matched.append(blocklist)
        for blocklist in matched:
            self.store.safety.add_matches(dataset, blocklist, [str(sample_id)])
        if matched:
            logger.warning(
                "%s: a picture fetched for record %s matches PDQ list(s) %s; hidden",
                dataset,
                sample_id,
                ", ".join(f"#{b.id}" for b in matched),
            )
            self.refresh()
        return bool(matched)

    def _list_hashes(self, blocklist: Blocklist) -> HashSet:
        listed = self._lists.get(blocklist.id)
        if listed is None:
            listed = HashSet.from_hex(self.store.blocklists.entries(blocklist.id))
            self._lists[blocklist.id] = listed
        return listed

    def _note_hidden(self, dataset: str, sample_ids: list[str]) -> None:
        """The store's hidden listener: remember; ``refresh`` deletes once they are excluded."""
        if self._forget is None or not sample_ids:
            return
        with self._pending_lock:
            self._pending.setdefault(dataset, set()).update(str(i) for i in sample_ids)

    def is_current(self) -> bool:
        """Whether ``refresh`` would have nothing to do: one indexed SQLite read, cheap enough
        for the event loop, so the common request skips a thread hop."""
        return (
            not self._pending
            and self._applied_version is not None
            and self.store.safety.version() == self._applied_version
        )

    def refresh(self) -> int:
        """Bring every dataset's exclusions up to the store's hidden version; returns it.

        Blocking (SQLite and DuckDB): call it off the event loop.
        """
        if self._applied_version is not None and self.store.safety.version() == (
            self._applied_version
        ):
            if self._pending:
                self._forget_pending()
            return self._applied_version
        with self._lock:
            version = self.store.safety.version()
            if self._applied_version != version:
                labels = []
                for name, handle in self.datasets.items():
                    hidden = self.store.safety.hidden(name)
                    labels.append(hidden.version)
                    self._apply(handle, hidden.sample_ids)
                # A hidden set is labelled with the version read before it was computed, so
                # the oldest label is a version everything applied here includes.
                self._applied_version = min(labels, default=version)
        self._forget_pending()
        return self._applied_version

    def _apply(self, handle: DatasetHandle, sample_ids: frozenset[str]) -> None:
        previous = self._applied.get(handle.name)
        hidden = self.catalog.hidden
        if previous is not None and previous == sample_ids and hidden.is_known(handle.name):
            return
        if previous is not None and previous <= sample_ids and hidden.is_known(handle.name):
            added = sorted(sample_ids - previous)
            positions = [
                *hidden.of(handle.name).ordered.tolist(),
                *self.catalog.positions_matching(handle.name, "sample_id", added),
            ]
        else:
            positions = self.catalog.positions_matching(
                handle.name, "sample_id", sorted(sample_ids)
            )
        applied = hidden.replace(handle.name, positions)
        self._applied[handle.name] = sample_ids
        newly = sample_ids - previous if previous is not None else sample_ids
        self._note_hidden(handle.name, sorted(newly))
        logger.info("%s: %d records hidden", handle.name, len(applied))

    def _forget_pending(self) -> None:
        forget = self._forget
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        if forget is None or not pending:
            return
        for dataset, ids in pending.items():
            batch = sorted(ids)
            if len(batch) <= SYNC_FORGET:
                _forget_safely(forget, dataset, batch)
                again = threading.Timer(SECOND_PASS_S, _forget_safely, (forget, dataset, batch))
            else:
                again = threading.Thread(
                    target=_forget_safely, args=(forget, dataset, batch), name="forget-hidden"
                )
            again.daemon = True
            again.start()


def _forget_safely(forget: Forget, dataset: str, sample_ids: list[str]) -> None:
    try:
        forget(dataset, sample_ids)
    except Exception:  # a cache problem must not turn into a failed flag
        logger.exception("deleting cached images of %d hidden records failed", len(sample_ids))
