"""Search by meaning: query text, an uploaded picture or a record -> kNN, under every filter.

Filters live in DuckDB and vectors in FAISS, so the filter reaches the vector search in one of
two shapes: a small candidate set (scored exactly), or a callback that asks DuckDB which of a
batch of candidates pass (with over-fetching). Hidden records are excluded either way,
because both go through the catalog's own filtered queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from app.catalog.filters import RecordFilter
from app.explore.datasets import DatasetHandle
from app.explore.service import BrowseResult, Explorer
from app.vectors.queries import QueryEncoder
from app.vectors.saved import SavedVector, SavedVectors
from app.vectors.search import Accept, Hit, VectorIndex

Space = Literal["auto", "captions", "images"]

# Filters matching at most this many records hand their positions to the vector search
# (exact within them); broader ones are checked in DuckDB on each batch of candidates.
CANDIDATE_CAP = 50_000


class MeaningUnavailable(Exception):
    """Search by meaning cannot run for this dataset; the message says why and what to do."""


@dataclass
class MeaningStatus:
    """What search by meaning can do for a dataset (shown in the UI and the API)."""

    captions: bool
    images: bool
    clip_trained: bool
    text_searches_images: bool
    note: str | None
    problems: dict[str, str]


@dataclass
class SemanticSearch:
    explorer: Explorer
    encoder: QueryEncoder
    max_results: int = 1000
    # Query embeddings of uploaded pictures, kept under a short id (app.vectors.saved).
    saved: SavedVectors | None = None

    # --- what is possible -----------------------------------------------------------------------
    def status(self, dataset: DatasetHandle) -> MeaningStatus:
        vectors = dataset.vectors()
        trained = self.encoder.clip_trained
        return MeaningStatus(
            captions=vectors.has("caption"),
            images=vectors.has("image"),
            clip_trained=trained,
            text_searches_images=trained and vectors.has("image"),
            note=self.encoder.untrained_note,
            problems=dict(vectors.problems),
        )

    # --- searches -------------------------------------------------------------------------------
    def by_text(
        self,
        dataset: DatasetHandle,
        text: str,
        record_filter: RecordFilter,
        *,
        limit: int,
        offset: int = 0,
        space: Space = "auto",
    ) -> BrowseResult:
        vectors = dataset.vectors()
        query = self.encoder.embed_text_query(text)
        use_images = space == "images" or (
            space == "auto" and query.image is not None and vectors.has("image")
        )
        if use_images:
            if query.image is None:
                raise MeaningUnavailable(
                    "searching images with words needs real CLIP weights "
                    "(set LOUPE_CLIP_WEIGHTS; see `loupe model fetch`)"
                )
            kind, vector = "image", query.image
        else:
            kind, vector = "caption", query.caption
        return self._nearest(dataset, vector, kind, record_filter, limit, offset)

    def by_image(
        self,
        dataset: DatasetHandle,
        picture: Any,
        record_filter: RecordFilter,
        *,
        limit: int,
        offset: int = 0,
    ) -> BrowseResult:
        vectors = dataset.vectors()
        self._require(vectors, "image")
        problem = self.encoder.image_space_problem(vectors.meta("image"))
        if problem:
            raise MeaningUnavailable(problem)
        vector = self.encoder.embed_image_query(picture)
        return self._nearest(dataset, vector, "image", record_filter, limit, offset)

    def by_vector(
        self,
        dataset: DatasetHandle,
        vector: np.ndarray,
        kind: str,
        record_filter: RecordFilter,
        *,
        limit: int,
        offset: int = 0,
        columns: Sequence[str] | None = None,
    ) -> BrowseResult:
        """A query embedding the client computed itself (as clip-retrieval's back end takes).

        ``columns``: read only these columns of each record (the API's ``fields``; a
        clip-retrieval client asks for two or three), instead of every card column."""
        return self._nearest(dataset, vector, kind, record_filter, limit, offset, columns)

    def save_image_query(self, dataset: DatasetHandle, picture: Any) -> str:
        """Embed an uploaded picture and keep the embedding (never the picture); returns the
        id a ``vec`` URL parameter names it by."""
        if self.saved is None:
            raise MeaningUnavailable("this server keeps no query embeddings")
        vectors = dataset.vectors()
        self._require(vectors, "image")
        problem = self.encoder.image_space_problem(vectors.meta("image"))
        if problem:
            raise MeaningUnavailable(problem)
        return self.saved.save("image", self.encoder.embed_image_query(picture))

    def saved_query(self, vector_id: str) -> SavedVector:
        """The kept embedding ``vector_id`` names (SavedVectorMissing if expired)."""
        if self.saved is None:
            raise MeaningUnavailable("this server keeps no query embeddings")
        return self.saved.load(vector_id)

    def by_saved(
        self,
        dataset: DatasetHandle,
        vector_id: str,
        record_filter: RecordFilter,
        *,
        limit: int,
        offset: int = 0,
    ) -> BrowseResult:
        """The records nearest a kept query embedding (an uploaded picture's)."""
        saved = self.saved_query(vector_id)
        return self._nearest(dataset, saved.vector, saved.kind, record_filter, limit, offset)

    def like(
        self,
        dataset: DatasetHandle,
        pos: int,
        record_filter: RecordFilter,
        *,
        limit: int,
        offset: int = 0,
    ) -> BrowseResult:
        """ "More like this": the records whose images are closest to record ``pos``'s."""
        vectors = dataset.vectors()
        kind = "image" if vectors.has("image") else "caption"
        self._require(vectors, kind)
        return self._knn(
            dataset,
            record_filter,
            limit,
            offset,
            kind,
            lambda k, allowed, accept: vectors.similar_to(
                pos, k, kind=kind, allowed=allowed, accept=accept
            ),
        )

    def near_duplicates(
        self, dataset: DatasetHandle, pos: int, threshold: float, limit: int = 24
    ) -> list[dict[str, Any]]:
        """Visible records at least ``threshold`` similar to record ``pos`` (best first)."""
        vectors = dataset.vectors()
        if not vectors.has("image"):
            return []
        hits = vectors.near_duplicates(pos, threshold, kind="image", limit=limit)
        return self._rows(dataset, hits)

    # --- internals ------------------------------------------------------------------------------
    def _nearest(
        self,
        dataset: DatasetHandle,
        vector: np.ndarray,
        kind: str,
        record_filter: RecordFilter,
        limit: int,
        offset: int,
        columns: Sequence[str] | None = None,
    ) -> BrowseResult:
        vectors = dataset.vectors()
        self._require(vectors, kind)
        return self._knn(
            dataset,
            record_filter,
            limit,
            offset,
            kind,
            lambda k, allowed, accept: vectors.search(
                vector, k, kind=kind, allowed=allowed, accept=accept
            ),
            columns,
        )

    def _require(self, vectors: VectorIndex, kind: str) -> None:
        if not vectors.has(kind):
            reason = vectors.problems.get(kind, f"no {kind} index")
            raise MeaningUnavailable(f"search by meaning is not ready for this dataset: {reason}")

    def _knn(
        self,
        dataset: DatasetHandle,
        record_filter: RecordFilter,
        limit: int,
        offset: int,
        kind: str,
        run,
        columns: Sequence[str] | None = None,
    ) -> BrowseResult:
        if offset >= self.max_results:
            return BrowseResult(rows=[], total=0, has_more=False, offset=offset, sort="meaning")
        k = min(offset + limit + 1, self.max_results)
        allowed, accept = self._filter_shape(dataset, record_filter)
        hits: list[Hit] = run(k, allowed, accept)
        page = hits[offset : offset + limit]
        rows = self._rows(dataset, page, columns)
        has_more = len(hits) > offset + limit
        notes = []
        # Caption embeddings come from a trained text model; only image vectors are untrained.
        if kind == "image" and self.encoder.untrained_note and not self.encoder.clip_trained:
            notes.append(f"Note: {self.encoder.untrained_note}.")
        return BrowseResult(
            rows=rows,
            total=len(hits) if not has_more else k - 1,
            has_more=has_more,
            offset=offset,
            sort="meaning",
            approximate=has_more,
            notes=notes,
        )

    def answers_in_memory(self, dataset: DatasetHandle, record_filter: RecordFilter) -> bool:
        """Whether a search under this filter needs no catalog query: no filter condition
        (classroom mode's included) nor restriction, so the index, the row store and the
        hidden set answer it (a route may then run it without a thread hop). Any filter
        answers False before a plan is made: making one may search the text index."""
        if record_filter.query_items():
            return False
        plan = self.explorer.plan(dataset, record_filter)
        return not plan.conditions and plan.restriction is None

    def _filter_shape(
        self, dataset: DatasetHandle, record_filter: RecordFilter
    ) -> tuple[np.ndarray | None, Accept | None]:
        """Small candidate sets are searched exactly; large ones through a DuckDB check."""
        catalog = self.explorer.catalog
        plan = self.explorer.plan(dataset, record_filter)
        conditions, within, hidden = plan.conditions, plan.restriction, plan.hidden
        if within is not None:
            passing = catalog.positions_passing(dataset.name, conditions, within)
            return np.fromiter(passing, dtype=np.int64, count=len(passing)), None
        if conditions:
            candidates = catalog.candidate_positions(dataset.name, conditions, cap=CANDIDATE_CAP)
            if candidates is not None:
                return np.asarray(candidates, dtype=np.int64), None
        if not conditions and not len(hidden):
            return None, None
        if not conditions:  # only the hidden set: checked in memory, without a catalog query
            return None, lambda positions: ~hidden.holds(positions)

        def accept(positions: np.ndarray) -> np.ndarray:
            passing = catalog.positions_passing(dataset.name, conditions, positions.tolist())
            return np.fromiter((int(p) in passing for p in positions), dtype=bool)

        return None, accept

    def _rows(
        self, dataset: DatasetHandle, hits: list[Hit], columns: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        rows = self.explorer.rows_at(dataset, [h.pos for h in hits], columns)
        score = {h.pos: h.score for h in hits}
        for row in rows:
            row["knn_score"] = score.get(row["pos"])
        return rows
