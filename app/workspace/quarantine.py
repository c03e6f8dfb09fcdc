"""Quarantine around a confirmed suspected-CSAM record: find its look-alikes, hide them at once.

The Stanford Internet Observatory's LAION-5B audit (Dec 2023) expanded from confirmed hits to
their nearest neighbours in CLIP space (27 hits in one segment led to 88 more). When a second
reviewer confirms a suspected-CSAM flag, ``quarantine_neighbours`` looks for

- **knn**: records of the same dataset whose image embedding has a cosine similarity of at
  least ``LOUPE_QUARANTINE_SIMILARITY`` with the flagged record's (its vector is still in the
  FAISS index: hidden records are excluded from results, not deleted), at most
  ``MAX_NEIGHBOURS`` of them;
- **pdq**: records of any served dataset whose PDQ hash is within PDQ's confident distance
  (31 bits) of the flagged record's hash (local pictures hashed by ``loupe embed``, fetched
  ones by the image service); a plain picture's hash (quality under 50) is not matched;

and hands them to the review store (``app.review.quarantine``), which hides them from everyone
in the same transaction that records the search (``quarantine_runs``) and its audit row. The
hidden sets are refreshed before this returns, so the confirming request's answer and every
later one already leave them out.

Nobody looks at the neighbours' pictures here, or later: admins see them by id and URL hash.

If the process dies between the confirmation and the search, the flag is found by
``quarantine_pending`` (run each time a workspace opens) and searched then.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.images.phash import CONFIDENT_DISTANCE, MIN_QUALITY, HashSet
from app.review.flags import CSAM, Flag
from app.review.quarantine import Neighbour, Quarantined

if TYPE_CHECKING:
    from app.workspace import Workspace

log = logging.getLogger(__name__)

# Most embedding neighbours one confirmed record can quarantine. The Stanford audit found ~3
# more items per confirmed one (88 from 27); a cluster of near-copies in a crawl rarely has more
# than a few dozen members. The kNN search is exact on a Flat index and re-ranked on IVF.
MAX_NEIGHBOURS = 200


@dataclass(frozen=True)
class QuarantineResult:
    flag_id: int
    dataset: str
    found: int  # neighbours found (some may have been quarantined already)
    added: list[Quarantined]
    methods: dict[str, str]  # "knn" / "pdq" -> what was searched, or why it could not be


def find_neighbours(ws: Workspace, flag: Flag) -> tuple[list[Neighbour], dict[str, str]]:
    """The look-alikes of ``flag``'s record, and a line per method saying what was done."""
    methods: dict[str, str] = {}
    neighbours: list[Neighbour] = []
    handle = ws.datasets.get(flag.dataset)
    if handle is None:
        reason = f"dataset {flag.dataset!r} is not served by this process"
        return [], {"knn": reason, "pdq": reason}
    found = ws.catalog.positions_matching(flag.dataset, "sample_id", [flag.sample_id])
    position = found[0] if found else None

    # kNN in the image-embedding space of the flagged record's dataset.
    threshold = ws.settings.quarantine_similarity
    vectors = handle.vectors()
    if position is None:
        methods["knn"] = "the flagged record is not in the catalog"
    elif not vectors.has("image"):
        methods["knn"] = "no image index (run `loupe embed` and `loupe index`)"
    elif vectors.vector_of(position, "image") is None:
        methods["knn"] = "the flagged record has no image embedding"
    else:
        hits = vectors.near_duplicates(position, threshold, limit=MAX_NEIGHBOURS)
        rows = _rows(ws, flag.dataset, [hit.pos for hit in hits])
        for hit in hits:
            row = rows.get(hit.pos)
            if row is not None:
                neighbours.append(
                    Neighbour(
                        flag.dataset,
                        str(row["sample_id"]),
                        row.get("url_sha256"),
                        "knn",
                        similarity=float(hit.score),
                    )
                )
        methods["knn"] = f"{len(hits)} within cosine similarity {threshold:g}"

    # PDQ against every served dataset's hashes.
    hashes = ws.hiding.hashes.get(flag.dataset)
    own = hashes.hash_of(flag.sample_id) if hashes is not None else None
    if own is None:
        methods["pdq"] = "the flagged record has no perceptual hash (run `loupe embed`)"
    elif own.quality < MIN_QUALITY:
        methods["pdq"] = f"its hash is of low quality ({own.quality} < {MIN_QUALITY}): not matched"
    else:
        query = HashSet.from_hex([own.hex])
        matched = 0
        for name, dataset_hashes in ws.hiding.hashes.items():
            everything, ids = dataset_hashes.everything()
            pairs = query.matches(everything, CONFIDENT_DISTANCE)
            by_id = {ids[q]: distance for q, _, distance in pairs}
            if not by_id:
                continue
            positions = ws.catalog.positions_matching(name, "sample_id", sorted(by_id))
            for row in _rows(ws, name, positions).values():
                sample_id = str(row["sample_id"])
                neighbours.append(
                    Neighbour(
                        name, sample_id, row.get("url_sha256"), "pdq", distance=by_id[sample_id]
                    )
                )
                if (name, sample_id) != (flag.dataset, flag.sample_id):
                    matched += 1
        methods["pdq"] = f"{matched} within {CONFIDENT_DISTANCE} bits"
    return neighbours, methods


def _rows(ws: Workspace, dataset: str, positions: list[int]) -> dict[int, dict]:
    """sample_id and url_sha256 at ``positions``, hidden records included: a neighbour hidden
    for another reason today (a quarantine an admin may release) is quarantined here too."""
    if not positions:
        return {}
    return ws.catalog.row_stores[dataset].rows(
        [int(p) for p in positions], ["sample_id", "url_sha256"]
    )


def quarantine_neighbours(ws: Workspace, flag: Flag, *, actor: str) -> QuarantineResult:
    """Search ``flag``'s look-alikes and hide them (``flag`` must be a confirmed suspected-CSAM
    flag); blocking (FAISS, SQLite): run it off the event loop."""
    neighbours, methods = find_neighbours(ws, flag)
    added = ws.review.quarantine.add(flag, neighbours, actor=actor, methods=methods)
    ws.hiding.refresh()
    found = len({(n.dataset, n.sample_id) for n in neighbours} - {(flag.dataset, flag.sample_id)})
    if added:
        log.warning(
            "flag %d confirmed: %d look-alike record(s) quarantined (%s)",
            flag.id,
            len(added),
            "; ".join(f"{k}: {v}" for k, v in sorted(methods.items())),
        )
    return QuarantineResult(flag.id, flag.dataset, found, added, methods)


def after_decision(ws: Workspace, flag: Flag, *, actor: str) -> QuarantineResult | None:
    """What a decision on ``flag`` sets off: the quarantine, for a confirmed suspected-CSAM
    flag; nothing otherwise."""
    if flag.category != CSAM or flag.status != "confirmed":
        return None
    return quarantine_neighbours(ws, flag, actor=actor)


def quarantine_pending(ws: Workspace, *, actor: str = "system") -> list[QuarantineResult]:
    """Search the confirmed suspected-CSAM flags whose neighbourhood was never searched (of the
    datasets this workspace serves). A failure is logged and the flag stays pending: it is
    tried again the next time a workspace opens (``loupe quarantine list`` shows it)."""
    results: list[QuarantineResult] = []
    try:
        pending = ws.review.quarantine.pending()
    except Exception:
        log.exception("could not read the confirmed flags awaiting a quarantine search")
        return results
    for flag in pending:
        if flag.dataset not in ws.datasets:
            continue
        try:
            results.append(quarantine_neighbours(ws, flag, actor=actor))
        except Exception:
            log.exception("the quarantine search for confirmed flag %d failed", flag.id)
    return results
