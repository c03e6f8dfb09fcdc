"""Answer one browse request by combining the catalog (DuckDB) and the caption text index.

Routes for HTML and JSON both call this, so a page and its JSON twin can never disagree.
Every request becomes one :class:`~app.explore.plan.QueryPlan` (conditions, engine,
restriction); the safety rules — hidden records, classroom mode — are part of every plan, and
the hidden positions are read from the one object that holds them (``catalog.hidden``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pyarrow as pa

from app.catalog.filters import Condition, RecordFilter
from app.catalog.queries import Catalog, FacetValue, Histogram, histogram_edges
from app.catalog.schema import FACET_COLUMNS, SCORE_DOMAINS
from app.config import Settings
from app.explore.datasets import DatasetHandle
from app.explore.map import region_positions
from app.explore.plan import TEXT_FALLBACK_HITS, QueryPlan, TtlCache
from app.textsearch.analysis import phrases

# A caption in a list (the grid, /api/records, /api/search, similar records, kNN and lab
# strips) is cut to this many characters: a 100 KB caption would otherwise travel whole in
# every page that lists it, three times per card (text, title, alt). The record page and
# /api/records/{id} keep the full text.
LIST_CAPTION_CHARS = 1_000


def bound_captions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cut long captions in list rows (in place), saying so: ``caption_truncated`` and the
    full ``caption_length`` (characters) are set on each row that has a caption."""
    for row in rows:
        caption = row.get("caption")
        if not isinstance(caption, str) or "caption_truncated" in row:
            continue
        row["caption_length"] = len(caption)
        row["caption_truncated"] = len(caption) > LIST_CAPTION_CHARS
        if row["caption_truncated"]:
            row["caption"] = caption[:LIST_CAPTION_CHARS]
    return rows


@dataclass
class BrowseResult:
    """A page of list rows; their captions are bounded (``bound_captions``) on the way in,
    so no list answer can carry a caption whole."""

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

    def __post_init__(self) -> None:
        bound_captions(self.rows)


# A page counts its matches only this far (a selective filter scans ~30 rows per match);
# an exact count over 10M rows costs ~50-70 ms and is loaded apart.
COUNT_CAP = 1_000


# A caption search is exported from its text-index hits; past this many, narrow the filters.
MAX_TEXT_EXPORT = 2_000_000


class SelectionTooLarge(ValueError):
    """An export of a caption search would hold more records than MAX_TEXT_EXPORT."""


# Most records a link-status restriction may name (link checks sample; they never cover 10M).
LINK_RESTRICTION_CAP = 200_000

LinkIds = Callable[[str, Sequence[str], int], list[str]]


@dataclass
class Explorer:
    catalog: Catalog
    settings: Settings
    # Sample ids whose last link check gave one of the statuses (the image service's store).
    link_ids: LinkIds | None = None
    plans: TtlCache[QueryPlan] = field(default_factory=lambda: TtlCache(1024, 60.0))
    # Answers computed from a plan (pages, counts, facets, histograms), keyed by the plan's key:
    # people browsing ask the same filters again and again (the grid, then its count and
    # histograms, then the next visitor), and each costs a scan of up to 10M rows. A hidden-set
    # change makes a new key; a link-status filter may lag new checks by this long. 2,048
    # answers (a page of 50 cards is ~25 KB) hold what 200 people browsing ask in 30 s; 512
    # were evicted before they were asked again.
    answers: TtlCache[Any] = field(default_factory=lambda: TtlCache(2048, 30.0))
    # dataset -> ((dataset, hidden-set version), histograms of the whole visible set)
    _whole_histograms: dict[str, tuple[tuple[str, int], dict[str, Histogram]]] = field(
        default_factory=dict, repr=False
    )
    # dataset -> ((dataset, hidden-set version), records classroom mode hides)
    _classroom_hidden: dict[str, tuple[tuple[str, int], int]] = field(
        default_factory=dict, repr=False
    )

    # --- safety -------------------------------------------------------------------------------
    @cached_property
    def _classroom(self) -> list[Condition]:
        if not self.settings.classroom_mode:
            return []
        conditions = [Condition("punsafe", "lte", self.settings.punsafe_threshold)]
        listed = phrases(self.settings.classroom_words)
        if listed:
            conditions.append(Condition("caption", "without_words", listed))
        return conditions

    def safety_conditions(self) -> list[Condition]:
        """Classroom mode's conditions (records above the punsafe threshold, captions with a
        listed word or phrase), added to every query of every plan."""
        return list(self._classroom)

    def classroom_hidden(self, dataset: DatasetHandle) -> int:
        """How many records classroom mode hides in this dataset (0 when it is off): the
        records not hidden otherwise, minus those that also pass its conditions. Kept per
        dataset by the hidden-set version, like the whole-dataset histograms: two counts
        over the whole table, paid once per change of the hidden set."""
        if not self._classroom:
            return 0
        key = (dataset.name, self.catalog.hidden.version)
        cached = self._classroom_hidden.get(dataset.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        self.catalog.hidden.of(dataset.name)  # refuses an unknown hidden set
        everyone = self.catalog.count(dataset.name, [])
        shown = self.catalog.count(dataset.name, list(self._classroom))
        hidden = max(0, everyone - shown)
        self._classroom_hidden[dataset.name] = (key, hidden)
        return hidden

    # --- plans --------------------------------------------------------------------------------
    def plan(self, dataset: DatasetHandle, record_filter: RecordFilter) -> QueryPlan:
        """The plan for this filter (made once, then reused while the hidden set stands)."""
        hidden = self.catalog.hidden.of(dataset.name)  # refuses an unknown hidden set
        key = (
            dataset.name,
            tuple(record_filter.query_items()),
            self.catalog.hidden.version,
        )
        return self.plans.get_or_make(
            key, lambda: self._make_plan(dataset, record_filter, hidden, key)
        )

    def _make_plan(
        self, dataset: DatasetHandle, record_filter: RecordFilter, hidden: Any, key: Any
    ) -> QueryPlan:
        server = self.safety_conditions()
        if record_filter.nodup:
            server.append(Condition("pos", "not_duplicate", dataset.name))
        restriction = self._restriction(dataset, record_filter)
        conditions = record_filter.conditions() + server
        if not record_filter.q:
            engine = "catalog"
        elif restriction is None and dataset.text().answers(conditions):
            engine = "text"
        else:
            engine = "text_hits"
        return QueryPlan(
            dataset=dataset,
            filter=record_filter,
            server_conditions=server,
            engine=engine,
            restriction=restriction,
            hidden=hidden,
            key=key,
        )

    def _restriction(self, dataset: DatasetHandle, record_filter: RecordFilter) -> list[int] | None:
        """Positions a request is restricted to by filters that are not catalog columns: the
        link status, and a region of the map (the records whose layout point lies inside,
        app.explore.map); given both, the records in both."""
        found: list[list[int]] = []
        if record_filter.link:
            if self.link_ids is None:
                return []
            ids = self.link_ids(dataset.name, list(record_filter.link), LINK_RESTRICTION_CAP)
            found.append(self.catalog.positions_matching(dataset.name, "sample_id", ids))
        if record_filter.region:
            found.append(region_positions(dataset, record_filter.region))
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        return sorted(set(found[0]).intersection(found[1]))

    def scope(self, plan: QueryPlan) -> list[int] | None:
        """The positions DuckDB is restricted to for this plan (None: no restriction)."""
        if plan.engine == "text_hits":
            return self._best_text_hits(plan)
        return plan.restriction

    def _best_text_hits(self, plan: QueryPlan) -> list[int]:
        """The best caption matches (in relevance order) under the conditions the text index
        can answer, narrowed to the restriction; DuckDB then applies the rest."""

        def search() -> list[int]:
            text = plan.dataset.text()
            answerable = [c for c in plan.conditions if text.answers([c])]
            hits = text.search(
                plan.words,
                answerable,
                sort="relevance",
                limit=TEXT_FALLBACK_HITS,
                hidden=plan.hidden.ordered,
            )
            if plan.restriction is None:
                return hits.positions
            allowed = set(plan.restriction)
            return [p for p in hits.positions if p in allowed]

        return plan.best_hits(search)

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
        """A page of records (kept a little while: the same page asked again is not recomputed;
        its rows are shared, so callers read them and never change them)."""
        plan = self.plan(dataset, record_filter)
        key = (plan.key, "browse", sort, limit, offset, after, seed)
        return self.answers.get_or_make(
            key, lambda: self._browse(plan, sort, limit, offset, after, seed)
        )

    def _browse(
        self,
        plan: QueryPlan,
        sort: str,
        limit: int,
        offset: int,
        after: int | None,
        seed: int,
    ) -> BrowseResult:
        dataset = plan.dataset
        if plan.engine == "text" and dataset.text().answers(plan.conditions, sort):
            return self._text_browse(plan, sort, limit, offset)
        if plan.engine != "catalog":
            return self._text_hits_browse(plan, sort, limit, offset, seed)
        if sort == "relevance":
            sort = "similarity"
        page = self.catalog.page(
            dataset.name,
            plan.conditions,
            sort=sort,
            limit=limit,
            offset=offset,
            after=after,
            seed=seed,
            within=plan.restriction,
        )
        total = self.catalog.count(
            dataset.name, plan.conditions, within=plan.restriction, cap=COUNT_CAP
        )
        return BrowseResult(
            rows=page.rows,
            total=total,
            has_more=page.has_more,
            offset=offset,
            sort=sort,
            next_after=page.next_after,
            total_exact=total <= COUNT_CAP,
        )

    def _text_browse(self, plan: QueryPlan, sort: str, limit: int, offset: int) -> BrowseResult:
        hits = plan.dataset.text().search(
            plan.words,
            plan.conditions,
            sort=sort,
            limit=limit + 1,
            offset=offset,
            hidden=plan.hidden.ordered,
        )
        positions = hits.positions[:limit]
        rows = self.catalog.rows_by_positions(plan.dataset.name, positions)
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

    def _text_hits_browse(
        self, plan: QueryPlan, sort: str, limit: int, offset: int, seed: int
    ) -> BrowseResult:
        positions = self._best_text_hits(plan)
        catalog_sort = "similarity" if sort == "relevance" else sort
        page = self.catalog.page(
            plan.dataset.name,
            plan.conditions,
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
        total = self.catalog.count(plan.dataset.name, plan.conditions, within=positions)
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

    # --- summaries ------------------------------------------------------------------------------
    def count(self, dataset: DatasetHandle, record_filter: RecordFilter) -> int:
        """The exact number of records the grid would page through for this filter."""
        plan = self.plan(dataset, record_filter)
        return self.answers.get_or_make((plan.key, "count"), lambda: self._count(plan))

    def _count(self, plan: QueryPlan) -> int:
        dataset = plan.dataset
        if plan.engine == "text":
            return dataset.text().count(plan.words, plan.conditions, hidden=plan.hidden.ordered)
        return self.catalog.count(dataset.name, plan.conditions, within=self.scope(plan))

    def facets(
        self, dataset: DatasetHandle, record_filter: RecordFilter, limit: int = 20
    ) -> dict[str, list[FacetValue]]:
        plan = self.plan(dataset, record_filter)
        return self.answers.get_or_make(
            (plan.key, "facets", limit), lambda: self._facets(plan, limit)
        )

    def _facets(self, plan: QueryPlan, limit: int) -> dict[str, list[FacetValue]]:
        dataset = plan.dataset
        within = self.scope(plan)
        result: dict[str, list[FacetValue]] = {}
        for column in FACET_COLUMNS:
            conditions = plan.conditions_without(column)
            if plan.engine == "text":
                pairs, approximate = dataset.text().facet(
                    plan.words, column, conditions, limit=limit, hidden=plan.hidden.ordered
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
        plan = self.plan(dataset, record_filter)
        return self.answers.get_or_make((plan.key, "histograms"), lambda: self._histograms(plan))

    def _histograms(self, plan: QueryPlan) -> dict[str, Histogram]:
        dataset = plan.dataset
        if plan.engine != "text":
            return self.catalog.histograms(dataset.name, plan.conditions, within=self.scope(plan))
        counts, approximate = dataset.text().histograms(
            plan.words, plan.conditions, hidden=plan.hidden.ordered
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

    def whole_histograms(self, dataset: DatasetHandle) -> dict[str, Histogram]:
        """Histograms of every visible record (no filter but the server's safety rules): the
        faint "whole dataset" behind each chart. They change only with the hidden set, so
        they are kept per dataset by its version (a full-table aggregate costs a scan)."""
        key = (dataset.name, self.catalog.hidden.version)
        cached = self._whole_histograms.get(dataset.name)
        if cached is not None and cached[0] == key:
            return cached[1]
        histograms = self.histograms(dataset, RecordFilter())
        self._whole_histograms[dataset.name] = (key, histograms)
        return histograms

    def visible_count(self, dataset: DatasetHandle) -> int:
        """Records anyone may see: not hidden, and not filtered out by classroom mode."""
        return self.count(dataset, RecordFilter())

    # --- exports ------------------------------------------------------------------------------
    def export_ranked(
        self, dataset: DatasetHandle, rows: Sequence[dict[str, Any]]
    ) -> Iterator[pa.RecordBatch]:
        """Whole records of a ranked answer (a search by meaning: ``rows`` nearest first, each
        with its ``knn_score``), in rank order, with the score as a last column."""
        batch = self.catalog.records_batch(dataset.name, [row["pos"] for row in rows])
        score = {row["pos"]: row.get("knn_score") for row in rows}
        positions = batch.column(batch.schema.get_field_index("pos")).to_pylist()
        scores = pa.array([score.get(p) for p in positions], type=pa.float32())
        yield (
            batch.append_column("knn_score", scores)
            if "knn_score" not in batch.schema.names
            else batch
        )

    def export_batches(
        self,
        dataset: DatasetHandle,
        record_filter: RecordFilter,
        *,
        batch_rows: int = 10_000,
        limit: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """Every record of the grid's selection (its plan: the same conditions, the same text
        search, the same restriction, hidden records never) as Arrow batches, pos order."""
        plan = self.plan(dataset, record_filter)
        conditions, within = plan.conditions, self.scope(plan)
        if plan.engine == "text":
            text = dataset.text()
            count = text.count(plan.words, plan.conditions, hidden=plan.hidden.ordered)
            if count > MAX_TEXT_EXPORT:
                raise SelectionTooLarge(
                    f"the search matches {count:,} records; an export of a caption search "
                    f"holds at most {MAX_TEXT_EXPORT:,}: narrow the filters"
                )
            hits = text.search(
                plan.words, plan.conditions, limit=max(count, 1), hidden=plan.hidden.ordered
            )
            # The text index applied the conditions; DuckDB re-checks only the hidden set.
            conditions, within = [], hits.positions
        return self.catalog.export_batches(
            dataset.name, conditions, within=within, batch_rows=batch_rows, limit=limit
        )

    # --- single records -------------------------------------------------------------------------
    def record(self, dataset: DatasetHandle, sample_id: str) -> dict[str, Any] | None:
        """The full row, or None when absent, hidden, or filtered out by classroom mode."""
        rows = self.records(dataset, [sample_id])
        return rows[0] if rows else None

    def records(self, dataset: DatasetHandle, sample_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Full rows in the order asked; absent, hidden and classroom-filtered ones left out."""
        return self._safe(dataset, self.catalog.rows_by_ids(dataset.name, sample_ids))

    def rows_at(
        self,
        dataset: DatasetHandle,
        positions: Sequence[int],
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Card rows (only ``columns`` if given; ``pos`` always) at ``positions`` in that
        order; hidden and classroom-filtered ones left out (for answers found elsewhere:
        nearest neighbours, the map's picks)."""
        if columns is None:
            rows = self.catalog.rows_by_positions(dataset.name, positions)
        else:
            wanted = ["pos", *(c for c in columns if c != "pos")]
            rows = self.catalog.rows_by_positions(dataset.name, positions, wanted)
        return bound_captions(self._safe(dataset, rows))

    def _safe(self, dataset: DatasetHandle, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        safety = self.safety_conditions()
        if not safety or not rows:
            return rows
        passing = self.catalog.positions_passing(dataset.name, safety, [r["pos"] for r in rows])
        return [row for row in rows if row["pos"] in passing]
