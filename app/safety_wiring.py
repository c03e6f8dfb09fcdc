"""Joins the review store's hidden sets to the catalog, the text index and the image cache.

The review store decides *which* records are hidden (suspected-CSAM flags, blocklists) by
sample id; the catalog and the text index exclude records by position. This module is the one
place that turns the first into the second:

- at start-up it registers, per dataset, the resolver the store needs to match hash lists
  (URL SHA-256, image MD5/SHA-256) against that dataset's catalog;
- ``refresh()`` reads each dataset's hidden set and hands its positions to
  ``Explorer.hide`` (the catalog's ``hidden`` table and the text-index exclusion); it costs one
  SQLite read when nothing changed, so the web layer calls it on every request and right after
  every flag, which is how a flag made by the CLI or another process is seen at once too;
- it registers the image service's ``forget_hidden`` as the store's hidden listener, so
  cached thumbnails of newly hidden records are deleted.

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
from app.explore.service import Explorer
from app.review.store import ReviewStore

logger = logging.getLogger(__name__)

MATCHABLE = ("sample_id", "url_sha256", "md5", "sha256")


def catalog_resolver(catalog: Catalog, dataset: str) -> Callable[[str, list[str]], list[str]]:
    """``resolve(kind, values) -> sample ids`` of ``dataset`` for ``Safety.register_resolver``."""

    def resolve(kind: str, values: list[str]) -> list[str]:
        if kind not in MATCHABLE:
            raise ValueError(f"cannot match records on {kind!r}")
        return catalog.sample_ids_matching(dataset, kind, values)

    return resolve


class SafetyWiring:
    def __init__(
        self,
        store: ReviewStore,
        catalog: Catalog,
        explorer: Explorer,
        datasets: dict[str, DatasetHandle],
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.explorer = explorer
        self.datasets = datasets
        # Per dataset: the hidden sample ids last applied and their positions, so a new flag
        # resolves only the ids that are new, not a million blocklisted ones again.
        self._applied: dict[str, tuple[frozenset[str], list[int]]] = {}
        self._applied_version: int | None = None
        self._lock = threading.Lock()

    def register(self, forget_hidden: Callable[[str, list[str]], None] | None = None) -> None:
        for name, handle in self.datasets.items():
            self.store.safety.register_resolver(
                name, catalog_resolver(self.catalog, name), handle.manifest.built_at or ""
            )
        if forget_hidden is not None:
            self.store.add_hidden_listener(forget_hidden)

    def refresh(self) -> int:
        """Bring every dataset's exclusions up to the store's hidden version; returns it.

        Blocking (SQLite and DuckDB): call it off the event loop.
        """
        if self._applied_version is not None and self.store.safety.version() == (
            self._applied_version
        ):
            return self._applied_version
        with self._lock:
            version = self.store.safety.version()
            if self._applied_version == version:
                return version
            labels = []
            for name, handle in self.datasets.items():
                hidden = self.store.safety.hidden(name)
                labels.append(hidden.version)
                self._apply(handle, hidden.sample_ids)
            # A hidden set is labelled with the version read before it was computed, so the
            # oldest label is a version everything applied here includes.
            self._applied_version = min(labels, default=version)
            return self._applied_version

    def _apply(self, handle: DatasetHandle, sample_ids: frozenset[str]) -> None:
        previous = self._applied.get(handle.name)
        if previous is not None and previous[0] == sample_ids:
            return
        if previous is not None and previous[0] <= sample_ids:
            added = sorted(sample_ids - previous[0])
            positions = previous[1] + self.catalog.positions_matching(
                handle.name, "sample_id", added
            )
        else:
            positions = self.catalog.positions_matching(
                handle.name, "sample_id", sorted(sample_ids)
            )
        self.explorer.hide(handle, positions)
        self._applied[handle.name] = (sample_ids, sorted(set(positions)))
        logger.info("%s: %d records hidden", handle.name, len(self._applied[handle.name][1]))

    def hidden_count(self, dataset: str) -> int:
        applied = self._applied.get(dataset)
        return len(applied[1]) if applied else 0
