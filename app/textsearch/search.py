"""Caption search with filters, answered by the tantivy index alone.

The structured filters of :mod:`app.catalog.filters` are translated into tantivy queries on
the fast fields stored beside the captions. Filters tantivy cannot express (substring match,
classroom word lists) raise :class:`Unsupported`, and the caller falls back to DuckDB over
the best text hits.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import tantivy

from app.catalog.filters import Condition
from app.catalog.schema import HISTOGRAM_BINS, SCORE_DOMAINS
from app.textsearch.index import FLOAT_FIELDS, INT_FIELDS, KEYWORD_FIELDS

ORDER_FIELDS: tuple[str, ...] = ("similarity", "aesthetic", "punsafe", "pwatermark")


TEXT_OPERATORS: frozenset[str] = frozenset({"gte", "lte", "eq", "in", "not_matches_words"})


def supports(conditions: Sequence[Condition], sort: str = "relevance") -> bool:
    """Whether the text index can answer these conditions and this sort on its own."""
    return sort in ("relevance", *ORDER_FIELDS) and all(c.op in TEXT_OPERATORS for c in conditions)


class Unsupported(Exception):
    """The request needs something the text index cannot answer on its own."""


@dataclass
class TextHits:
    positions: list[int]
    count: int


class TextIndex:
    def __init__(self, path: Path) -> None:
        if not (path / "meta.json").is_file():
            raise FileNotFoundError(
                f"no caption text index at {path}; rebuild the dataset with `loupe ingest`"
            )
        self._index = tantivy.Index.open(str(path))
        self._schema = self._index.schema
        self._local = threading.local()

    def _searcher(self) -> tantivy.Searcher:
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self._index.searcher()
            self._local.searcher = searcher
        return searcher

    # --- queries -----------------------------------------------------------------------------
    def search(
        self,
        text: str,
        conditions: Sequence[Condition],
        *,
        sort: str = "relevance",
        limit: int = 48,
        offset: int = 0,
        hidden: Sequence[int] = (),
    ) -> TextHits:
        query = self._query(text, conditions, hidden)
        searcher = self._searcher()
        limit = max(limit, 1)  # tantivy-py panics on limit=0
        if sort == "relevance":
            result = searcher.search(query, limit, count=True, offset=offset)
        elif sort in ORDER_FIELDS:
            result = searcher.search(
                query,
                limit,
                count=True,
                offset=offset,
                order_by_field=sort,
                order=tantivy.Order.Desc,
            )
        else:
            raise Unsupported(f"sort {sort!r}")
        addresses = [address for _, address in result.hits]
        positions = [int(p) for p in searcher.fast_field_values("pos", addresses)]
        return TextHits(positions=positions, count=int(result.count or 0))

    def facet(
        self,
        text: str,
        column: str,
        conditions: Sequence[Condition],
        *,
        limit: int = 20,
        hidden: Sequence[int] = (),
    ) -> list[tuple[str, int]]:
        if column not in KEYWORD_FIELDS:
            raise Unsupported(f"facet on {column!r}")
        query = self._query(text, conditions, hidden)
        result = self._searcher().aggregate(
            query, {"facet": {"terms": {"field": column, "size": limit}}}
        )
        buckets = result.get("facet", {}).get("buckets", [])
        return [(str(b["key"]), int(b["doc_count"])) for b in buckets]

    def histograms(
        self, text: str, conditions: Sequence[Condition], hidden: Sequence[int] = ()
    ) -> dict[str, list[int]]:
        """HISTOGRAM_BINS counts per score over its fixed domain, all in one aggregation."""
        query = self._query(text, conditions, hidden)
        steps = {
            score: (high - low) / HISTOGRAM_BINS for score, (low, high) in SCORE_DOMAINS.items()
        }
        spec = {
            score: {"histogram": {"field": score, "interval": steps[score], "offset": low}}
            for score, (low, _) in SCORE_DOMAINS.items()
        }
        result = self._searcher().aggregate(query, spec)
        histograms: dict[str, list[int]] = {}
        for score, (low, _) in SCORE_DOMAINS.items():
            counts = [0] * HISTOGRAM_BINS
            for bucket in result.get(score, {}).get("buckets", []):
                index = math.floor((float(bucket["key"]) - low) / steps[score] + 1e-9)
                counts[min(max(index, 0), HISTOGRAM_BINS - 1)] += int(bucket["doc_count"])
            histograms[score] = counts
        return histograms

    # --- translation -------------------------------------------------------------------------
    def _query(
        self, text: str, conditions: Sequence[Condition], hidden: Sequence[int]
    ) -> tantivy.Query:
        words, _errors = self._index.parse_query_lenient(
            text, ["caption"], conjunction_by_default=True
        )
        parts: list[tuple[tantivy.Occur, tantivy.Query]] = [(tantivy.Occur.Must, words)]
        for condition in conditions:
            parts.append((tantivy.Occur.Must, self._condition(condition)))
        if hidden:
            parts.append(
                (
                    tantivy.Occur.MustNot,
                    tantivy.Query.term_set_query(self._schema, "pos", [int(p) for p in hidden]),
                )
            )
        return tantivy.Query.boolean_query(parts)

    def _condition(self, condition: Condition) -> tantivy.Query:
        column, op, value = condition.column, condition.op, condition.value
        if column in FLOAT_FIELDS or column in INT_FIELDS:
            field_type = (
                tantivy.FieldType.Float if column in FLOAT_FIELDS else (tantivy.FieldType.Unsigned)
            )
            value = float(value) if column in FLOAT_FIELDS else max(int(value), 0)
            if op == "gte":
                return tantivy.Query.range_query(self._schema, column, field_type, value, None)
            if op == "lte":
                return tantivy.Query.range_query(self._schema, column, field_type, None, value)
        if column in KEYWORD_FIELDS:
            if op == "eq":
                return tantivy.Query.term_query(self._schema, column, value)
            if op == "in":
                # Term queries, not a term set: a term set first fills a bitset of every
                # document holding one of the values (~7 ms for a common language at 10M
                # rows, even when the caption words match only a few documents); term
                # postings are only read as far as the intersection needs them.
                terms = [tantivy.Query.term_query(self._schema, column, v) for v in value]
                if len(terms) == 1:
                    return terms[0]
                return tantivy.Query.boolean_query([(tantivy.Occur.Should, t) for t in terms])
        if column == "caption" and op == "not_matches_words":
            words = [w.lower() for w in value if w.strip()]
            return tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, tantivy.Query.all_query()),
                    (
                        tantivy.Occur.MustNot,
                        tantivy.Query.term_set_query(self._schema, "caption", words),
                    ),
                ]
            )
        raise Unsupported(f"{op} on {column}")
