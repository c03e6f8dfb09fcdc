"""Answer one browse request by combining the catalog (DuckDB) and the caption text index.

Routes for HTML and JSON both call this, so a page and its JSON twin can never disagree.
The safety rules (hidden records, classroom mode) are applied here, once, to every query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.catalog.filters import Condition, RecordFilter
from app.catalog.queries import Catalog, FacetValue, Histogram, histogram_edges
from app.catalog.schema import FACET_COLUMNS, SCORE_DOMAINS
from app.config import Settings
from app.explore.datasets import DatasetHandle
from app.textsearch.search import supports

# When a text search needs something the text index cannot do (substring match, a random
# sample, sort by size), DuckDB filters the best text hits; this bounds how many.
TEXT_FALLBACK_HITS = 10_000


@dataclass
class BrowseResult:
    rows: list[dict[str, Any]]
    total: int
    has_more: bool
    offset: int
    sort: str
    next_after: int | None = None
    approximate: bool = False
    notes: list[str] = field(default_factory=list)
    # False when ``total`` is only a lower bound (the page counts up to COUNT_CAP; the exact
    # number is asked for separately, so a first page never waits for a full count).
    total_exact: bool = True


# A page counts its matches only this far (a selective filter scans ~30 rows per match);
# an exact count over 10M rows costs ~50-70 ms and is loaded apart.
COUNT_CAP = 1_000


# Most records a link-status restriction may name (link checks sample; they never cover 10M).
LINK_RESTRICTION_CAP = 200_000

LinkIds = Callable[[str, Sequence[str], int], list[str]]


@dataclass
class Explorer:
    catalog: Catalog
    settings: Settings
    hidden_positions: dict[str, list[int]] = field(default_factory=dict)
    # Sample ids whose last link check gave one of the statuses (the image service's store).
    link_ids: LinkIds | None = None

    # --- safety -------------------------------------------------------------------------------
    def hide(self, dataset: DatasetHandle, positions: list[int]) -> None:
        """Replace the set of positions of ``dataset`` no one may see."""
        unique = sorted(set(positions))
        self.hidden_positions[dataset.name] = unique
        self.catalog.set_hidden(dataset.name, unique)

    def safety_conditions(self) -> list[Condition]:
        if not self.settings.classroom_mode:
            return []
        conditions = [Condition("punsafe", "lte", self.settings.punsafe_threshold)]
        if self.settings.classroom_words:
            conditions.append(
                Condition("caption", "not_matches_words", list(self.settings.classroom_words))
            )
        return conditions

    def conditions(
        self, dataset: DatasetHandle, record_filter: RecordFilter, without: str | None = None
    ) -> list[Condition]:
        """The request's conditions plus the ones the server adds (classroom mode, hiding
        near-duplicates), so every query path applies the same rules."""
        conditions = record_filter.conditions(without=without) + self.safety_conditions()
        if record_filter.nodup:
            conditions.append(Condition("pos", "not_duplicate", dataset.name))
        return conditions

    def restriction(self, dataset: DatasetHandle, record_filter: RecordFilter) -> list[int] | None:
        """Positions a request is restricted to by filters that are not catalog columns."""
        if not record_filter.link:
            return None
        if self.link_ids is None:
            return []
        ids = self.link_ids(dataset.name, list(record_filter.link), LINK_RESTRICTION_CAP)
        return self.catalog.positions_matching(dataset.name, "sample_id", ids)

    # --- browse -------------------------------------------------------------------------------
    def browse(
        self,
        dataset: DatasetHandle,
        record_filter: RecordFilter,
        *,
        sort: str,
        limit: int,
        offset: int = 0,
        after: int | None = None,
        seed: int = 0,
    ) -> BrowseResult:
        conditions = self.conditions(dataset, record_filter)
        within = self.restriction(dataset, record_filter)
        if record_filter.q:
            if within is None and supports(conditions, sort):
                return self._text_browse(dataset, record_filter, conditions, sort, limit, offset)
            return self._text_fallback(
                dataset, record_filter, conditions, sort, limit, offset, seed, within
            )
        if sort == "relevance":
            sort = "similarity"
        page = self.catalog.page(
            dataset.name,
            conditions,
            sort=sort,
            limit=limit,
            offset=offset,
            after=after,
            seed=seed,
            within=within,
        )
        total = self.catalog.count(dataset.name, conditions, within=within, cap=COUNT_CAP)
        return BrowseResult(
            rows=page.rows,
            total=total,
            has_more=page.has_more,
            offset=offset,
            sort=sort,
            next_after=page.next_after,
            total_exact=total <= COUNT_CAP,
        )

    def count(self, dataset: DatasetHandle, record_filter: RecordFilter) -> int:
        """The exact number of records the grid would page through for this filter."""
        by_text, within = self.scope(dataset, record_filter)
        conditions = self.conditions(dataset, record_filter)
        if by_text:
            hidden = self.hidden_positions.get(dataset.name, ())
            return dataset.text().count(record_filter.q or "", conditions, hidden=hidden)
        return self.catalog.count(dataset.name, conditions, within=within)

    def _text_browse(
        self,
        dataset: DatasetHandle,
        record_filter: RecordFilter,
        conditions: list[Condition],
        sort: str,
        limit: int,
        offset: int,
    ) -> BrowseResult:
        hits = dataset.text().search(
            record_filter.q or "",
            conditions,
            sort=sort,
            limit=limit + 1,
            offset=offset,
            hidden=self.hidden_positions.get(dataset.name, ()),
        )
        positions = hits.positions[:limit]
        rows = self.catalog.rows_by_positions(dataset.name, positions)
        # A search that stopped early knows only a lower bound: ``total`` then means "at
        # least", as the catalog's capped count does, and the page asks /count for the rest.
        total = hits.count if hits.count_exact else min(hits.count, COUNT_CAP + 1)
        return BrowseResult(
            rows=rows,
            total=total,
            has_more=len(hits.positions) > limit,
            offset=offset,
            sort=sort,
            total_exact=hits.count_exact,
        )

    def _text_fallback(
        self,
        dataset: DatasetHandle,
        record_filter: RecordFilter,
        conditions: list[Condition],
        sort: str,
        limit: int,
        offset: int,
        seed: int,
        within: list[int] | None,
    ) -> BrowseResult:
        positions = self._best_text_hits(dataset, record_filter, within)
        catalog_sort = "similarity" if sort == "relevance" else sort
        page = self.catalog.page(
            dataset.name,
            conditions,
            sort=catalog_sort,
            limit=limit,
            offset=offset,
            seed=seed,
            within=positions,
        )
        rows = page.rows
        if sort == "relevance":
            rank = {p: i for i, p in enumerate(positions)}
            rows = sorted(rows, key=lambda row: rank.get(row["pos"], len(rank)))
        total = self.catalog.count(dataset.name, conditions, within=positions)
        approximate = len(positions) >= TEXT_FALLBACK_HITS
        notes = (
            [f"Searched within the {TEXT_FALLBACK_HITS:,} best caption matches."]
            if approximate
            else []
        )
        return BrowseResult(
            rows=rows,
            total=total,
            has_more=page.has_more,
            offset=offset,
            sort=catalog_sort if sort != "relevance" else sort,
            approximate=approximate,
            notes=notes,
        )

    def _best_text_hits(
        self, dataset: DatasetHandle, record_filter: RecordFilter, within: list[int] | None
    ) -> list[int]:
        """The best caption matches (in relevance order), narrowed to ``within`` if given;
        DuckDB then applies the conditions the text index could not."""
        supported = [c for c in record_filter.conditions() if c.op not in ("contains",)]
        hits = dataset.text().search(
            record_filter.q or "",
            supported,
            sort="relevance",
            limit=TEXT_FALLBACK_HITS,
            hidden=self.hidden_positions.get(dataset.name, ()),
        )
        if within is None:
            return hits.positions
        allowed = set(within)
        return [p for p in hits.positions if p in allowed]

    # --- summaries ------------------------------------------------------------------------------
    def scope(
        self, dataset: DatasetHandle, record_filter: RecordFilter
    ) -> tuple[bool, list[int] | None]:
        """Whether the text index answers alone, else the positions DuckDB is restricted to."""
        within = self.restriction(dataset, record_filter)
        if not record_filter.q:
            return False, within
        if within is None and supports(self.conditions(dataset, record_filter)):
            return True, None
        return False, self._best_text_hits(dataset, record_filter, within)

    def facets(
        self, dataset: DatasetHandle, record_filter: RecordFilter, limit: int = 20
    ) -> dict[str, list[FacetValue]]:
        by_text, within = self.scope(dataset, record_filter)
        hidden = self.hidden_positions.get(dataset.name, ())
        result: dict[str, list[FacetValue]] = {}
        for column in FACET_COLUMNS:
            conditions = self.conditions(dataset, record_filter, without=column)
            if by_text:
                pairs, approximate = dataset.text().facet(
                    record_filter.q or "", column, conditions, limit=limit, hidden=hidden
                )
                result[column] = [
                    FacetValue(value=v, count=n, approximate=approximate) for v, n in pairs
                ]
            else:
                result[column] = self.catalog.facet(
                    dataset.name, column, conditions, limit=limit, within=within
                )
        return result

    def histograms(
        self, dataset: DatasetHandle, record_filter: RecordFilter
    ) -> dict[str, Histogram]:
        by_text, within = self.scope(dataset, record_filter)
        conditions = self.conditions(dataset, record_filter)
        if not by_text:
            return self.catalog.histograms(dataset.name, conditions, within=within)
        hidden = self.hidden_positions.get(dataset.name, ())
        counts, approximate = dataset.text().histograms(
            record_filter.q or "", conditions, hidden=hidden
        )
        return {
            score: Histogram(
                score=score,
                edges=histogram_edges(score),
                counts=counts[score],
                approximate=approximate,
            )
            for score in SCORE_DOMAINS
        }

    # --- single records -------------------------------------------------------------------------
    def record(self, dataset: DatasetHandle, sample_id: str) -> dict[str, Any] | None:
        """The full row, or None when absent, hidden, or filtered out by classroom mode."""
        row = self.catalog.record(dataset.name, sample_id)
        if row is None:
            return None
        safety = self.safety_conditions()
        if safety and not self.catalog.positions_passing(dataset.name, safety, [row["pos"]]):
            return None
        return row
