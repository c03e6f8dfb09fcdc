"""kNN search over a dataset's loaded indexes, combined with the browse filters.

Filters live in DuckDB, vectors here, so the caller passes filters in one of two shapes:

* ``allowed``: the positions a filter matches, when that set is not too large
  (``VectorIndex.allowed_limit``, 2% of the records): up to ``EXACT_ROWS`` of them are scored
  exactly against their stored vectors, so a rare filter gets its true top ``k``; a larger
  set is searched through the index with an ID selector (only its rows are scanned, with as
  many lists opened as its sparseness needs) and re-ranked exactly.
* ``accept``: a callback asked about candidate positions (it runs the filter in DuckDB on
  just those), for broad filters: the index over-fetches (``k*rerank*2*4`` candidates, then
  4 times more a round, at most ``MAX_FETCH``) until enough pass, and those are re-ranked.

Every search returns ``Hit(pos, score)`` best first; ``score`` is the exact cosine similarity.
FAISS calls here run single-threaded: the web server answers many requests at once, and one
query's OpenMP team fighting the others for two cores costs more than it gains.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import faiss
import numpy as np

from app.catalog.layout import DatasetPaths
from app.vectors import index as vindex
from app.vectors import store
from app.vectors.duplicates import DuplicateTable, load_duplicates

log = logging.getLogger(__name__)

EXACT_ROWS = 4096  # allowed sets up to this size are scored row by row; larger ones go
# through the index with an ID selector
MAX_FETCH = 16_384
# A filter's true top k lies deeper in the unfiltered order, where compressed scores are
# closer together: re-rank twice as many (measured at 1M: recall@50 0.91 -> 0.97 with a 10%
# filter, p50 5.6 -> 9 ms).
FILTER_RERANK = 2
OVERFETCH = 4  # each round asks for this many times more candidates
NEIGHBOURS_FOR_DUPLICATES = 64

Accept = Callable[[np.ndarray], np.ndarray]


class Hit(NamedTuple):
    pos: int
    score: float


@dataclass
class IndexedKind:
    emb: store.Embeddings
    index: Any
    params: vindex.IndexParams
    duplicates: DuplicateTable | None = None


class VectorIndex:
    """What ``loupe index`` built for one dataset, loaded once (memory-mapped)."""

    def __init__(
        self, paths: DatasetPaths, kinds: dict[str, IndexedKind], problems: dict[str, str]
    ) -> None:
        self.paths = paths
        self.kinds = kinds
        self.problems = problems  # kind -> why it is not available (for the UI and logs)

    @classmethod
    def load(cls, paths: DatasetPaths) -> VectorIndex:
        """Load every kind that has embeddings and an index; missing ones are noted, not fatal."""
        kinds: dict[str, IndexedKind] = {}
        problems: dict[str, str] = {}
        for kind in store.KINDS:
            files = store.files_for(paths, kind)
            if not files.meta.is_file():
                problems[kind] = f"no {kind} embeddings: run `loupe embed {paths.name}`"
                continue
            if not files.index.exists() and not files.index_meta.exists():
                # Embedded, not indexed yet (e.g. while `loupe index` itself opens the
                # dataset): a state, not damage, so no warning.
                problems[kind] = f"no {kind} index yet: run `loupe index {paths.name}`"
                continue
            try:
                emb = store.load_embeddings(paths, kind, random_access=True)
                params = vindex.read_params(files)
                if (
                    params.count != emb.count
                    or params.dim != emb.dim
                    or params.vectors_created != str(emb.meta.get("created", ""))
                ):
                    raise vindex.IndexFileError(
                        f"{files.index} was built from other embeddings than {files.vectors}: "
                        f"run `loupe index {paths.name}` again."
                    )
                index = vindex.open_index(files.index, params.type)
                duplicates = load_duplicates(files)
            except (store.StoreError, vindex.IndexFileError) as error:
                problems[kind] = str(error)
                log.warning("%s: %s", paths.name, error)
                continue
            except Exception as error:  # any other damage: this kind is off, the server stays
                problems[kind] = (
                    f"{files.folder}: the {kind} vectors cannot be loaded "
                    f"({type(error).__name__}: {str(error).strip()[:200]}): run "
                    f"`loupe embed {paths.name}` and `loupe index {paths.name}` again."
                )
                log.warning("%s: %s", paths.name, problems[kind])
                continue
            kinds[kind] = IndexedKind(emb, index, params, duplicates)
        return cls(paths, kinds, problems)

    # -- what is there ---------------------------------------------------------------------

    def has(self, kind: str) -> bool:
        return kind in self.kinds

    def allowed_limit(self, kind: str = "image") -> int:
        """Largest filter match count worth passing as ``allowed``; above it pass ``accept``
        (a broad filter fills a page from a few thousand index candidates)."""
        return max(EXACT_ROWS, self.part(kind).emb.count // 50)

    def part(self, kind: str) -> IndexedKind:
        try:
            return self.kinds[kind]
        except KeyError:
            reason = self.problems.get(kind, f"no {kind} index")
            raise LookupError(f"{self.paths.name}: {reason}") from None

    def meta(self, kind: str) -> dict[str, Any]:
        return self.part(kind).emb.meta

    def vector_of(self, pos: int, kind: str = "image") -> np.ndarray | None:
        return self.part(kind).emb.vector_of(pos)

    # -- search ----------------------------------------------------------------------------

    def search(
        self,
        query: np.ndarray,
        k: int,
        *,
        kind: str = "image",
        allowed: np.ndarray | None = None,
        accept: Accept | None = None,
        exclude: set[int] | frozenset[int] = frozenset(),
    ) -> list[Hit]:
        """Top ``k`` positions for one query vector (as the model made it), best first.

        ``accept(positions) -> bool mask`` (or -> the accepted positions) filters candidates;
        ``allowed`` restricts the search to those positions and is scored exactly;
        ``exclude`` drops positions (the record a "more like this" started from).
        """
        part = self.part(kind)
        return self._search(part, self.prepare_query(query, kind), k, allowed, accept, exclude)

    def prepare_query(self, query: np.ndarray, kind: str = "image") -> np.ndarray:
        """A model's output vector in the stored vectors' frame: same dimension, the same
        mean shift as the stored vectors (untrained CLIP, see ``embed``), unit length."""
        part = self.part(kind)
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if query.shape[0] != part.emb.dim:
            raise ValueError(
                f"the query vector has {query.shape[0]} dimensions, the {kind} index "
                f"{part.emb.dim}: it comes from another model"
            )
        center = part.emb.meta.get("center")
        if center is not None:
            query = query - np.asarray(center, dtype=np.float32)
        return _unit(query)

    def _search(
        self,
        part: IndexedKind,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        accept: Accept | None,
        exclude: set[int] | frozenset[int],
    ) -> list[Hit]:
        if k <= 0:
            return []
        faiss.omp_set_num_threads(1)
        if allowed is None:
            return self._ranked(part, query, k, accept, exclude, None)
        rows = part.emb.rows_of(np.unique(np.asarray(allowed, dtype=np.int64)))
        rows = rows[rows >= 0]
        if exclude:
            rows = rows[~np.isin(rows, part.emb.rows_of(np.fromiter(exclude, dtype=np.int64)))]
        if rows.size == 0:
            return []
        if rows.size <= EXACT_ROWS:
            return self._score_rows(part, query, k, rows, accept)
        return self._ranked(part, query, k, accept, frozenset(), rows)

    def _ranked(
        self,
        part: IndexedKind,
        query: np.ndarray,
        k: int,
        accept: Accept | None,
        exclude: set[int] | frozenset[int],
        selection: np.ndarray | None,
    ) -> list[Hit]:
        """Candidates from the index (restricted to ``selection`` rows by an ID selector),
        filtered, then scored exactly."""
        params = part.params
        # Candidates to score exactly: k from an exact index; k * rerank from a compressed
        # one, whose first-stage order is approximate. Filters apply before re-ranking, so
        # deep over-fetching costs first-stage candidates, not disk reads.
        want = k if params.exact else k * params.rerank
        if accept is not None or selection is not None:
            want *= FILTER_RERANK
        fetch = want + len(exclude) if accept is None else want * OVERFETCH
        population = part.emb.count if selection is None else int(selection.size)
        limit = min(population, MAX_FETCH)
        selector = None if selection is None else faiss.IDSelectorBatch(selection)
        verdicts: dict[int, bool] = {}
        while True:
            fetch = min(fetch, limit)
            # A selection of 1 in 50 puts the 200th selected vector about 10,000th overall:
            # open as many lists as that depth needs.
            depth = fetch * part.emb.count // population
            scores, rows = vindex.first_stage(
                part.index,
                params,
                query[None, :],
                fetch,
                vindex.probe_for(params, depth),
                selector=selector,
            )
            valid = rows[0] >= 0
            scores, rows = scores[0][valid], rows[0][valid]
            positions = part.emb.positions[rows]
            keep = np.ones(rows.size, dtype=bool)
            if exclude:
                keep &= ~np.isin(positions, np.fromiter(exclude, dtype=np.int64))
            if accept is not None:
                unseen = np.array([p for p in positions.tolist() if p not in verdicts], np.int64)
                if unseen.size:
                    verdicts.update(
                        zip(unseen.tolist(), _mask(accept, unseen).tolist(), strict=True)
                    )
                keep &= np.fromiter((verdicts[p] for p in positions.tolist()), bool, rows.size)
            if int(keep.sum()) >= want or fetch >= limit:
                break
            fetch *= OVERFETCH
        rows, scores = rows[keep][:want], scores[keep][:want]
        if not params.exact:
            scores = part.emb.gather(rows) @ query
        top = vindex.top_indices(scores, k)
        return [
            Hit(int(p), float(sc))
            for p, sc in zip(part.emb.positions[rows[top]], scores[top], strict=True)
        ]

    def search_batch(self, queries: np.ndarray, k: int, *, kind: str = "image") -> list[list[Hit]]:
        """Several unfiltered queries at once (FAISS spreads them over the cores)."""
        part = self.part(kind)
        queries = np.stack([self.prepare_query(q, kind) for q in queries])
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        scores, rows = vindex.knn(part.index, part.params, part.emb, queries, k)
        return [_to_hits(part.emb, s, r, frozenset()) for s, r in zip(scores, rows, strict=True)]

    def similar_to(
        self,
        pos: int,
        k: int,
        *,
        kind: str = "image",
        allowed: np.ndarray | None = None,
        accept: Accept | None = None,
    ) -> list[Hit]:
        """ "More like this": neighbours of record ``pos`` (itself left out)."""
        part = self.part(kind)
        vector = part.emb.vector_of(pos)  # already in the stored frame
        if vector is None:
            return []
        return self._search(part, vector, k, allowed, accept, frozenset({int(pos)}))

    def near_duplicates(
        self,
        pos: int,
        threshold: float,
        *,
        kind: str = "image",
        limit: int = NEIGHBOURS_FOR_DUPLICATES,
    ) -> list[Hit]:
        """Records whose embedding is at least ``threshold`` similar to record ``pos``'s."""
        hits = self.similar_to(pos, limit, kind=kind)
        return [hit for hit in hits if hit.score >= threshold]

    def duplicates(self, kind: str = "image") -> DuplicateTable | None:
        """Duplicate clusters found at index time (None if that pass was skipped)."""
        part = self.kinds.get(kind)
        return part.duplicates if part is not None else None

    # -- internals ---------------------------------------------------------------------------

    def _score_rows(
        self,
        part: IndexedKind,
        query: np.ndarray,
        k: int,
        rows: np.ndarray,
        accept: Accept | None,
    ) -> list[Hit]:
        """Exact scores of a few rows, read from the stored vectors."""
        scores = part.emb.gather(rows) @ query
        # Best first, a slice at a time: only as many candidates as the filter needs become
        # Hit objects.
        step = k if accept is None else k * OVERFETCH
        order = (
            vindex.top_indices(scores, step)
            if accept is None
            else np.argsort(-scores, kind="stable")
        )
        kept: list[Hit] = []
        for start in range(0, order.size, step):
            chosen = order[start : start + step]
            positions = part.emb.positions[rows[chosen]]
            ok = np.ones(chosen.size, bool) if accept is None else _mask(accept, positions)
            kept.extend(
                Hit(int(p), float(sc))
                for p, sc, good in zip(positions, scores[chosen], ok, strict=True)
                if good
            )
            if len(kept) >= k:
                break
        return kept[:k]


def fuse(rankings: Sequence[list[Hit]], k: int, *, constant: int = 60) -> list[Hit]:
    """One ranking from several (a text query's caption hits and, with real CLIP weights,
    its image hits) by reciprocal-rank fusion: scores of different models are not
    comparable, ranks are. Each record keeps the best score it had in any list."""
    fused: dict[int, float] = {}
    best: dict[int, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking):
            fused[hit.pos] = fused.get(hit.pos, 0.0) + 1.0 / (constant + rank + 1)
            best[hit.pos] = max(best.get(hit.pos, -1.0), hit.score)
    order = sorted(fused, key=lambda pos: (-fused[pos], pos))[:k]
    return [Hit(pos, best[pos]) for pos in order]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _to_hits(
    emb: store.Embeddings, scores: np.ndarray, rows: np.ndarray, exclude: set[int] | frozenset[int]
) -> list[Hit]:
    keep = rows >= 0
    positions = emb.positions[rows[keep]]
    return [
        Hit(int(p), float(s))
        for p, s in zip(positions, scores[keep], strict=True)
        if int(p) not in exclude
    ]


def _mask(accept: Accept, positions: np.ndarray) -> np.ndarray:
    """The caller's verdict as a boolean mask, whether it returned a mask or the accepted ids."""
    result = np.asarray(accept(positions))
    if result.dtype == np.bool_ and result.shape == positions.shape:
        return result
    return np.isin(positions, result.astype(np.int64, copy=False))
