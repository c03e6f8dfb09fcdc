"""The hidden set: which records of a dataset are never shown, to anyone.

A record is hidden when
  1. it has a ``suspected_csam`` flag, whatever the flag's status;
  2. another dataset has a ``suspected_csam`` flag, or a live quarantine, on the same URL (same
     url_sha256);
  3. a blocklist that applies to its dataset matches its sample id, URL hash, image hash or
     (within the list's Hamming distance) its perceptual hash; or
  4. it is quarantined: its image looks like that of a *confirmed* suspected-CSAM record (see
     ``app.review.quarantine``), and no admin has released it.

Why a suspected-CSAM flag hides for good, even after a dismissal: from the moment of flagging
nobody can see the image (that is the point), so no reviewer can look again and judge it safe.
A dismissal is recorded (it keeps the record out of the published removal list) but does not
bring the image back. An operator who is sure can only do so outside Loupe, on purpose.

Matching hashes to sample ids needs the catalog, which this package does not read: the
workspace registers one ``resolve(kind, values, **options) -> sample_ids`` callable per dataset
(PDQ lists pass ``max_distance``). Matches are stored per list and dataset, and redone when the
catalog is rebuilt (a new ``catalog_version``) or, for a kind whose matches depend on more than
the catalog (PDQ: the dataset's hash file), when the resolver's ``kind_version(kind)`` changes.
If hash lists apply to a dataset that has no resolver, ``hidden_sample_ids`` raises rather than
answer with a partial set: the model fails closed.

``version()`` changes whenever any hidden set may have changed (also when the CLI imports a
list from another process), so callers can cache what they build from a hidden set.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass

from app.review import audit
from app.review.blocklist import PDQ, PDQ_DEFAULT_DISTANCE, Blocklist, Blocklists
from app.review.db import Database
from app.review.errors import BlocklistUnresolved
from app.review.flags import CSAM, HiddenCallback

logger = logging.getLogger(__name__)

# resolve(kind, values, **options) -> sample ids; options: max_distance for PDQ lists.
Resolver = Callable[..., list[str]]
# kind_version(kind) -> a label of what else a kind's matches depend on ("" for none).
KindVersion = Callable[[str], str]
RESOLVE_CHUNK = 10_000


@dataclass(frozen=True)
class HiddenSet:
    dataset: str
    version: int
    sample_ids: frozenset[str]


@dataclass
class _Registered:
    resolve: Resolver
    catalog_version: str
    kind_version: KindVersion | None = None

    def version_for(self, kind: str) -> str:
        extra = self.kind_version(kind) if self.kind_version is not None else ""
        return f"{self.catalog_version}|{extra}" if extra else self.catalog_version


class Safety:
    def __init__(
        self,
        db: Database,
        blocklists: Blocklists,
        on_hidden: list[HiddenCallback] | None = None,
    ) -> None:
        self.db = db
        self.blocklists = blocklists
        # Called with (dataset, sample_ids) when records become hidden, after the change is
        # committed; the web layer registers one that deletes cached thumbnails.
        self.on_hidden: list[HiddenCallback] = on_hidden if on_hidden is not None else []
        self._resolvers: dict[str, _Registered] = {}
        self._cache: dict[str, HiddenSet] = {}
        self._blocked_cache: dict[str, tuple[tuple[tuple[object, ...], ...], frozenset[str]]] = {}
        self._lock = threading.RLock()

    # --- set-up ----------------------------------------------------------------------------
    def register_resolver(
        self,
        dataset: str,
        resolve: Resolver,
        catalog_version: str = "",
        kind_version: KindVersion | None = None,
    ) -> None:
        """Tell Safety how to turn hashes into ``dataset``'s sample ids.

        ``catalog_version`` identifies the catalog build (e.g. the manifest's ``built_at``);
        when it changes, every hash list is matched again. ``kind_version(kind)`` labels what
        else one kind's matches depend on (the PDQ hash file): when it changes, the lists of
        that kind are matched again. It is read whenever the hidden version moves, so whoever
        changes such a file calls ``recheck`` afterwards.
        """
        with self._lock:
            self._resolvers[dataset] = _Registered(resolve, catalog_version, kind_version)
            self._cache.pop(dataset, None)

    # --- queries ---------------------------------------------------------------------------
    def version(self) -> int:
        return self.db.hidden_version()

    def hidden(self, dataset: str) -> HiddenSet:
        """The hidden set of ``dataset`` and the version it belongs to (cached per version)."""
        cached = self._cache.get(dataset)
        if cached is not None and cached.version == self.db.hidden_version():
            return cached
        with self._lock:
            cached = self._cache.get(dataset)
            if cached is not None and cached.version == self.db.hidden_version():
                return cached
            # The label is read before anything else: all that was committed up to it is
            # included below, and a list imported meanwhile (by the CLI, say) bumps the version
            # past the label, so the next call matches it. A set is never labelled newer than
            # it is. (Our own matching bumps it too, costing one cheap recomputation.)
            version = self.db.hidden_version()
            self._resolve_pending(dataset)
            with self.db.read() as conn:
                flagged = conn.execute(
                    "SELECT sample_id FROM flags WHERE dataset = ? AND category = ?",
                    (dataset, CSAM),
                ).fetchall()
                blocked = self._blocked(conn, dataset)
                quarantined = conn.execute(
                    "SELECT DISTINCT sample_id FROM quarantine WHERE dataset = ? "
                    "AND released_at IS NULL",
                    (dataset,),
                ).fetchall()
                other_urls = conn.execute(
                    "SELECT url_sha256 FROM flags WHERE category = ? AND dataset != ? "
                    "AND url_sha256 IS NOT NULL UNION "
                    "SELECT url_sha256 FROM quarantine WHERE dataset != ? "
                    "AND released_at IS NULL AND url_sha256 IS NOT NULL",
                    (CSAM, dataset, dataset),
                ).fetchall()
            ids = set(blocked)
            ids.update(row[0] for row in flagged)
            ids.update(row[0] for row in quarantined)
            if other_urls:
                ids.update(self._resolve(dataset, "url_sha256", [row[0] for row in other_urls]))
            hidden = HiddenSet(dataset, version, frozenset(ids))
            previous = cached.sample_ids if cached is not None else frozenset()
            self._cache[dataset] = hidden
        newly = sorted(hidden.sample_ids - previous)
        if newly:
            # On the first computation in this process this covers everything hidden so far:
            # thumbnails cached before an import from another process are removed too.
            self._notify(dataset, newly)
        return hidden

    def _blocked(self, conn: sqlite3.Connection, dataset: str) -> frozenset[str]:
        """Blocklist hits of ``dataset``, re-read only when a list was (re)matched: a new flag
        must not cost a reload of a million blocklisted ids."""
        signature = tuple(
            tuple(row)
            for row in conn.execute(
                "SELECT list_id, catalog_version, resolved_at, hits FROM blocklist_resolutions "
                "WHERE dataset = ? ORDER BY list_id",
                (dataset,),
            )
        )
        cached = self._blocked_cache.get(dataset)
        if cached is not None and cached[0] == signature:
            return cached[1]
        rows = conn.execute(
            "SELECT DISTINCT sample_id FROM blocklist_hits WHERE dataset = ?", (dataset,)
        ).fetchall()
        blocked = frozenset(row[0] for row in rows)
        self._blocked_cache[dataset] = (signature, blocked)
        return blocked

    def hidden_sample_ids(self, dataset: str) -> frozenset[str]:
        return self.hidden(dataset).sample_ids

    def is_hidden(self, dataset: str, sample_id: str) -> bool:
        return sample_id in self.hidden(dataset).sample_ids

    # --- changes made outside the database -------------------------------------------------
    def recheck(self) -> None:
        """Make every process read its hidden sets again: call it after changing something a
        resolver's ``kind_version`` reads (``loupe embed`` writing a dataset's PDQ hashes)."""
        with self.db.write() as conn:
            self.db.bump_hidden_version(conn)

    def pdq_lists(self, dataset: str) -> list[Blocklist]:
        """The PDQ lists that apply to ``dataset`` (a fetched picture is checked against them)."""
        return [b for b in self.blocklists.lists(dataset) if b.kind == PDQ]

    def add_matches(
        self, dataset: str, blocklist: Blocklist, sample_ids: list[str], *, actor: str = "system"
    ) -> int:
        """Record records that ``blocklist`` was found to hit outside a full match (a picture
        fetched from the web whose PDQ hash matches the list); hidden from the next refresh.
        Returns how many were new."""
        if not sample_ids:
            return 0
        with self.db.write() as conn:
            added = 0
            for sample_id in sorted(set(map(str, sample_ids))):
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO blocklist_hits (dataset, sample_id, list_id) "
                    "VALUES (?, ?, ?)",
                    (dataset, sample_id, blocklist.id),
                )
                added += cursor.rowcount
            if not added:
                return 0
            # The resolution's hit count and time change, so every process re-reads the hits.
            conn.execute(
                "UPDATE blocklist_resolutions SET hits = hits + ?, resolved_at = ? "
                "WHERE list_id = ? AND dataset = ?",
                (added, self.db.now(), blocklist.id, dataset),
            )
            audit.record(
                self.db,
                conn,
                actor=actor,
                action="blocklist.match_fetched",
                target=f"blocklist:{blocklist.id}",
                dataset=dataset,
                new={"sample_ids": sorted(set(map(str, sample_ids)))[:100], "added": added},
            )
            self.db.bump_hidden_version(conn)
        return added

    # --- matching blocklists ---------------------------------------------------------------
    def _resolve(self, dataset: str, kind: str, values: list[str], **options: object) -> set[str]:
        registered = self._resolvers.get(dataset)
        if registered is None:
            raise BlocklistUnresolved(
                f"dataset {dataset!r}: records must be matched by {kind} but no catalog "
                "resolver is registered (Safety.register_resolver)"
            )
        found: set[str] = set()
        for start in range(0, len(values), RESOLVE_CHUNK):
            chunk = values[start : start + RESOLVE_CHUNK]
            found.update(str(v) for v in registered.resolve(kind, chunk, **options))
        return found

    def _resolve_pending(self, dataset: str) -> None:
        registered = self._resolvers.get(dataset)
        done = {
            row["list_id"]: row["catalog_version"]
            for row in self.db.connection().execute(
                "SELECT list_id, catalog_version FROM blocklist_resolutions WHERE dataset = ?",
                (dataset,),
            )
        }
        versions: dict[str, str] = {}
        for blocklist in self.blocklists.lists(dataset):
            if blocklist.id in done and blocklist.kind == "sample_id":
                continue
            if blocklist.kind not in versions:
                versions[blocklist.kind] = (
                    registered.version_for(blocklist.kind) if registered else ""
                )
            if done.get(blocklist.id) == versions[blocklist.kind]:
                continue
            self._resolve_list(dataset, blocklist, versions[blocklist.kind])

    def _resolve_list(self, dataset: str, blocklist: Blocklist, catalog_version: str) -> None:
        values = self.blocklists.entries(blocklist.id)
        if blocklist.kind == "sample_id":
            # Ids need no catalog: hiding an id the dataset lacks costs nothing.
            hits = set(values)
        elif blocklist.kind == "hex64":
            hits = self._resolve(dataset, "url_sha256", values)
            hits |= self._resolve(dataset, "sha256", values)
        elif blocklist.kind == PDQ:
            distance = blocklist.max_distance
            if distance is None:
                distance = PDQ_DEFAULT_DISTANCE
            hits = self._resolve(dataset, PDQ, values, max_distance=distance)
        else:
            hits = self._resolve(dataset, blocklist.kind, values)
        with self.db.write() as conn:
            before = conn.execute(
                "SELECT hits, catalog_version FROM blocklist_resolutions "
                "WHERE list_id = ? AND dataset = ?",
                (blocklist.id, dataset),
            ).fetchone()
            conn.execute(
                "DELETE FROM blocklist_hits WHERE dataset = ? AND list_id = ?",
                (dataset, blocklist.id),
            )
            conn.executemany(
                "INSERT INTO blocklist_hits (dataset, sample_id, list_id) VALUES (?, ?, ?)",
                ((dataset, sample_id, blocklist.id) for sample_id in sorted(hits)),
            )
            conn.execute(
                "INSERT INTO blocklist_resolutions (list_id, dataset, catalog_version, "
                "resolved_at, hits) VALUES (?, ?, ?, ?, ?) ON CONFLICT (list_id, dataset) DO "
                "UPDATE SET catalog_version = excluded.catalog_version, "
                "resolved_at = excluded.resolved_at, hits = excluded.hits",
                (blocklist.id, dataset, catalog_version, self.db.now(), len(hits)),
            )
            audit.record(
                self.db,
                conn,
                actor="system",
                action="blocklist.match",
                target=f"blocklist:{blocklist.id}",
                dataset=dataset,
                previous=None if before is None else dict(before),
                new={"hits": len(hits), "catalog_version": catalog_version},
            )
            self.db.bump_hidden_version(conn)
        logger.info(
            "blocklist %s (%s) hides %d records of %s",
            blocklist.name,
            blocklist.kind,
            len(hits),
            dataset,
        )

    def _notify(self, dataset: str, sample_ids: list[str]) -> None:
        for callback in list(self.on_hidden):
            try:
                callback(dataset, sample_ids)
            except Exception:  # one failing listener must not stop the others
                logger.exception("on_hidden callback failed for dataset %s", dataset)
