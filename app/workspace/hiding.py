"""Keeps the catalog's hidden positions in step with the review store's hidden records.

The review store decides *which* records are hidden (suspected-CSAM flags, blocklists) by
sample id; every read excludes records by position, from the one object that holds them
(``catalog.hidden``, app.catalog.hidden). This module is the one place that turns the first
into the second, and the workspace (app.workspace) is the only thing that runs it:

- at start-up it registers, per dataset, the resolver the store needs to match hash lists
  (URL SHA-256, image MD5/SHA-256) against that dataset's catalog;
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

from app.catalog.queries import Catalog
from app.explore.datasets import DatasetHandle
from app.review.store import ReviewStore

logger = logging.getLogger(__name__)

# Thumbnail deletions up to this many records run in the request that hid them.
SYNC_FORGET = 1_000
SECOND_PASS_S = 2.0

Forget = Callable[[str, list[str]], None]


def catalog_resolver(catalog: Catalog, dataset: str) -> Callable[[str, list[str]], list[str]]:
    """``resolve(kind, values) -> sample ids`` of ``dataset`` for ``Safety.register_resolver``."""

    def resolve(kind: str, values: list[str]) -> list[str]:
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

    def register(self, forget_hidden: Forget | None = None) -> None:
        """Register the catalog resolvers, and ``forget_hidden(dataset, sample_ids)`` to run
        for every record that becomes hidden (the store tells us; see ``_note_hidden``)."""
        for name, handle in self.datasets.items():
            self.store.safety.register_resolver(
                name, catalog_resolver(self.catalog, name), handle.manifest.built_at or ""
            )
        self._forget = forget_hidden
        self.store.add_hidden_listener(self._note_hidden)

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
