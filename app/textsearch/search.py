"""Caption search with filters, answered by the tantivy index alone.

The structured filters of :mod:`app.catalog.filters` are translated into tantivy queries on
the fast fields stored beside the captions: the operator table there names, for each operator,
the translation this module builds (``_TRANSLATIONS``), or none. Filters tantivy cannot
express (substring match, hiding duplicates) raise :class:`Unsupported`, and the explorer's
plan lets DuckDB answer over the best text hits instead.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from app.catalog.filters import ALL_COLUMNS, OPERATORS, Condition, Phrases, TextTranslation
from app.catalog.schema import HISTOGRAM_BINS, SAMPLE_RATE, SCORE_COLUMNS, SCORE_DOMAINS
from app.textsearch import languages
from app.textsearch.index import (
    BLOCK_FIELD,
    CAPTION_FIELD,
    FLOAT_FIELDS,
    INT_FIELDS,
    KEYWORD_FIELDS,
    SAMPLED_FIELD,
)

# Besides relevance, the text index orders by any score (each is a fast field).
ORDER_FIELDS: tuple[str, ...] = SCORE_COLUMNS

# The columns each translation applies to in the text index.
_FIELDS: dict[str, tuple[str, ...]] = {
    "at_least": FLOAT_FIELDS + INT_FIELDS,
    "at_most": FLOAT_FIELDS + INT_FIELDS,
    "term": KEYWORD_FIELDS,
    "any_term": KEYWORD_FIELDS,
    "without_phrases": (CAPTION_FIELD,),
    "not_all": (ALL_COLUMNS,),
}


def translation(condition: Condition) -> TextTranslation | None:
    """How the text index answers ``condition``, or None when it cannot."""
    text = OPERATORS[condition.op].text
    if text == "not_all" and not all(translation(c) is not None for c in condition.value):
        return None
    return text if text is not None and condition.column in _FIELDS[text] else None


def supports(conditions: Sequence[Condition], sort: str = "relevance") -> bool:
    """Whether the text index can answer these conditions and this sort on its own."""
    return sort in ("relevance", *ORDER_FIELDS) and all(
        translation(c) is not None for c in conditions
    )


class Unsupported(Exception):
    """The request needs something the text index cannot answer on its own."""


# A search in catalog order first looks in the first block, then the first 8, then the
# first 64, and only then everywhere (see index.BLOCK_BITS).
BLOCK_WINDOWS: tuple[int, ...] = (1, 8, 64)
# A search in relevance order with filters first ranks this many best matches (at least
# twice the page) by the words alone and filters them; deeper pages do the full search.
RELEVANCE_PROBE = 100
RELEVANCE_PROBE_MAX = 2_000
# Facets and histograms come from the 1 % sample when it holds at least this many hits
# (about 100,000 hits in all); smaller result sets are counted exactly.
SAMPLED_ENOUGH = 1_000


@dataclass
class TextHits:
    positions: list[int]
    count: int
    # False when the search stopped early: ``count`` is then a lower bound (the hits in the
    # part of the catalog it looked at), and the exact number is a separate, slower request.
    count_exact: bool = True


class TextIndex:
    def __init__(self, path: Path) -> None:
        if not (path / "meta.json").is_file():
            raise FileNotFoundError(
                f"no caption text index at {path}; rebuild the dataset with `loupe ingest`"
            )
        self._index = tantivy.Index.open(str(path))
        # The words fields' analyzers live in code, not in the index: without them a query on
        # those fields would silently match nothing.
        languages.register(self._index)
        self._schema = self._index.schema
        self._local = threading.local()
        # Indexes built before these fields existed are answered without the shortcuts.
        self._has_blocks = self._has_field(BLOCK_FIELD)
        self._has_sample = self._has_field(SAMPLED_FIELD)
        self._has_positions = self._phrases_work()
        # People's words are searched in the per-language fields; an index built before they
        # existed (or with other analyzers) has none, and is searched in ``caption``.
        self._word_fields = [f for f in languages.all_fields() if self._has_text_field(f)]
        self._hidden_cache: tuple[Sequence[int], tantivy.Query] | None = None

    def _has_field(self, name: str) -> bool:
        try:
            tantivy.Query.term_query(self._schema, name, 0)
        except ValueError:
            return False
        return True

    def _has_text_field(self, name: str) -> bool:
        """Whether ``name`` is a text field whose analyzer this code registered (a strict
        parse refuses a missing field or an unknown analyzer)."""
        try:
            self._index.parse_query("a", [name])
        except ValueError:
            return False
        return True

    def _phrases_work(self) -> bool:
        """Whether the caption field has positions (phrase queries); older indexes lack them."""
        phrase = tantivy.Query.phrase_query(self._schema, CAPTION_FIELD, ["a", "b"])
        try:
            self._searcher().search(phrase, 1)
        except ValueError:
            return False
        return True

    def answers(self, conditions: Sequence[Condition], sort: str = "relevance") -> bool:
        """Whether this index can answer these conditions and this sort on its own."""
        if not supports(conditions, sort):
            return False
        return self._has_positions or not any(
            translation(c) == "without_phrases" and any(len(p) > 1 for p in c.value)
            for c in conditions
        )

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
        if sort == "similarity" and self._has_blocks:
            early = self._first_in_catalog_order(query, limit, offset)
            if early is not None:
                return early
        if sort == "relevance" and conditions:
            early = self._best_then_filtered(text, conditions, hidden, limit, offset)
            if early is not None:
                return early
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
        return TextHits(positions=self._positions(result), count=int(result.count or 0))

    def count(self, text: str, conditions: Sequence[Condition], hidden: Sequence[int] = ()) -> int:
        """The exact number of matches (what a search that stopped early does not know)."""
        query = self._query(text, conditions, hidden)
        return int(self._searcher().search(query, 1, count=True).count or 0)

    def _positions(self, result: tantivy.SearchResult) -> list[int]:
        addresses = [address for _, address in result.hits]
        return [int(p) for p in self._searcher().fast_field_values("pos", addresses)]

    def _first_in_catalog_order(
        self, query: tantivy.Query, limit: int, offset: int
    ) -> TextHits | None:
        """The page in similarity order, looked for in the first blocks of the catalog.

        The catalog is sorted by similarity (``pos`` order), so the first ``offset + limit``
        hits inside a prefix of blocks are the first overall. Common words fill a page in
        the first block; rare ones fall through to the full search (None)."""
        searcher = self._searcher()
        need = offset + limit
        for blocks in BLOCK_WINDOWS:
            window = tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, query),
                    (tantivy.Occur.Must, self._first_blocks(blocks)),
                ]
            )
            result = searcher.search(
                window, need, count=True, order_by_field="pos", order=tantivy.Order.Asc
            )
            if int(result.count or 0) >= need:
                positions = self._positions(result)[offset:]
                return TextHits(positions=positions, count=int(result.count), count_exact=False)
        return None

    def _best_then_filtered(
        self,
        text: str,
        conditions: Sequence[Condition],
        hidden: Sequence[int],
        limit: int,
        offset: int,
    ) -> TextHits | None:
        """The page in relevance order from the best caption matches, filtered afterwards.

        Filtering first makes tantivy score every match (a word in a million captions costs
        ~50 ms); the best few hundred by BM25 alone come from block-max WAND in a few ms,
        and whichever of them pass the filters, in that order, are the best that pass. When
        too few pass, or the words match fewer captions than were asked for (a rare word:
        the full search is cheap then), the caller does the full search (None)."""
        need = offset + limit
        probe = max(2 * need, RELEVANCE_PROBE)
        if probe > RELEVANCE_PROBE_MAX:
            return None
        searcher = self._searcher()
        best = searcher.search(
            self._query(text, [], hidden, narrowed_by=conditions), probe, count=False
        )
        if len(best.hits) < probe:
            return None
        ranked = self._positions(best)
        passing = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, tantivy.Query.term_set_query(self._schema, "pos", ranked))]
            + [(tantivy.Occur.Must, self._condition(c)) for c in conditions]
        )
        passed = set(self._positions(searcher.search(passing, probe, count=False)))
        kept = [p for p in ranked if p in passed]
        if len(kept) < need:
            return None
        return TextHits(positions=kept[offset:need], count=len(kept), count_exact=False)

    def _first_blocks(self, blocks: int) -> tantivy.Query:
        if blocks == 1:
            return tantivy.Query.term_query(self._schema, BLOCK_FIELD, 0)
        return tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, BLOCK_FIELD, b))
                for b in range(blocks)
            ]
        )

    def facet(
        self,
        text: str,
        column: str,
        conditions: Sequence[Condition],
        *,
        limit: int = 20,
        hidden: Sequence[int] = (),
    ) -> tuple[list[tuple[str, int]], bool]:
        """The ``limit`` most common values and their counts, and whether the counts are
        estimated from the 1 % sample (large result sets)."""
        if column not in KEYWORD_FIELDS:
            raise Unsupported(f"facet on {column!r}")
        query, scale = self._counted_query(self._query(text, conditions, hidden))
        result = self._searcher().aggregate(
            query, {"facet": {"terms": {"field": column, "size": limit}}}
        )
        buckets = result.get("facet", {}).get("buckets", [])
        return [(str(b["key"]), int(b["doc_count"]) * scale) for b in buckets], scale > 1

    def histograms(
        self, text: str, conditions: Sequence[Condition], hidden: Sequence[int] = ()
    ) -> tuple[dict[str, list[int]], bool]:
        """HISTOGRAM_BINS counts per score over its fixed domain, all in one aggregation; and
        whether they are estimated from the 1 % sample."""
        query, scale = self._counted_query(self._query(text, conditions, hidden))
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
                counts[min(max(index, 0), HISTOGRAM_BINS - 1)] += int(bucket["doc_count"]) * scale
            histograms[score] = counts
        return histograms, scale > 1

    def _counted_query(self, query: tantivy.Query) -> tuple[tantivy.Query, int]:
        """What facets and histograms count, and the factor that scales it up: the sample's
        hits when there are enough of them (aggregating a million hits costs ~60 ms, the
        sample's ten thousand ~2), else every hit."""
        if not self._has_sample:
            return query, 1
        sampled = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, query),
                (tantivy.Occur.Must, tantivy.Query.term_query(self._schema, SAMPLED_FIELD, 1)),
            ]
        )
        found = self._searcher().search(sampled, 1, count=True).count or 0
        if found >= SAMPLED_ENOUGH:
            return sampled, SAMPLE_RATE
        return query, 1

    # --- translation -------------------------------------------------------------------------
    def _query(
        self,
        text: str,
        conditions: Sequence[Condition],
        hidden: Sequence[int],
        *,
        narrowed_by: Sequence[Condition] = (),
    ) -> tantivy.Query:
        """The words, the conditions and the hidden positions as one query; the words are
        looked for only in the fields of the languages ``conditions`` (or ``narrowed_by``,
        conditions applied later) keep."""
        words = self._words(text, [*conditions, *narrowed_by])
        parts: list[tuple[tantivy.Occur, tantivy.Query]] = [(tantivy.Occur.Must, words)]
        for condition in conditions:
            # Filters decide which captions match, never how well: a term query on a
            # language would otherwise add that language's idf to the caption's BM25 score.
            filtered = tantivy.Query.const_score_query(self._condition(condition), 0.0)
            parts.append((tantivy.Occur.Must, filtered))
        if len(hidden):
            parts.append((tantivy.Occur.MustNot, self._hidden_query(hidden)))
        return tantivy.Query.boolean_query(parts)

    def _words(self, text: str, conditions: Sequence[Condition]) -> tantivy.Query:
        """A person's words, analysed by each searched field's own analyzer (stemmed for its
        language, folded, CJK cut into characters: ``app.textsearch.languages``); every word
        must match, a quoted phrase or a CJK word in sequence.

        A caption is in one words field only, so the query is the union of one whole query
        per field: a union of intersections, not an intersection of unions (on 1M rows,
        "white cat" over 18 fields: 3.5 ms against 7.4). When the conditions keep some
        languages, only their fields are searched: one language is one field, a plain term
        query as fast as before. In the fields of other languages than English the English
        stems are looked for too (``languages.english_forms``). An index without words
        fields is searched in ``caption``."""
        if not self._word_fields:
            return self._parsed(text, CAPTION_FIELD)
        fields = languages.searched_fields(self._word_fields, _languages_kept(conditions))
        english = languages.english_forms(text)
        per_field = []
        for field in fields:
            query = self._parsed(text, field)
            if english != text and field != languages.DEFAULT_FIELD:
                # The better of the two, not their sum: a caption matching both is no better.
                query = tantivy.Query.disjunction_max_query([query, self._parsed(english, field)])
            per_field.append(query)
        if not per_field:
            return tantivy.Query.empty_query()
        if len(per_field) == 1:
            return per_field[0]
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in per_field])

    def _parsed(self, text: str, field: str) -> tantivy.Query:
        return self._index.parse_query_lenient(text, [field], conjunction_by_default=True)[0]

    def _hidden_query(self, hidden: Sequence[int]) -> tantivy.Query:
        """The exclusion of the hidden positions, built once per hidden set (the caller hands
        the same sequence object until the set changes; it is kept, so its id stays unique)."""
        cached = self._hidden_cache
        if cached is not None and cached[0] is hidden:
            return cached[1]
        positions = hidden.tolist() if hasattr(hidden, "tolist") else [int(p) for p in hidden]
        query = tantivy.Query.term_set_query(self._schema, "pos", positions)
        self._hidden_cache = (hidden, query)
        return query

    def _condition(self, condition: Condition) -> tantivy.Query:
        text = translation(condition)
        if text is None:
            raise Unsupported(f"{condition.op} on {condition.column}")
        return _TRANSLATIONS[text](self._schema, condition.column, condition.value)


def _languages_kept(conditions: Sequence[Condition]) -> set[str] | None:
    """The languages every condition on ``language`` allows, or None when none restricts."""
    kept: set[str] | None = None
    for condition in conditions:
        if condition.column != "language" or condition.op not in ("eq", "in"):
            continue
        values = {condition.value} if condition.op == "eq" else set(condition.value)
        kept = values if kept is None else kept & values
    return kept


def _number(column: str, value: object) -> tuple[tantivy.FieldType, float | int]:
    if column in FLOAT_FIELDS:
        return tantivy.FieldType.Float, float(value)  # type: ignore[arg-type]
    return tantivy.FieldType.Unsigned, max(int(value), 0)  # type: ignore[call-overload]


def _at_least(schema: tantivy.Schema, column: str, value: object) -> tantivy.Query:
    field_type, number = _number(column, value)
    return tantivy.Query.range_query(schema, column, field_type, number, None)


def _at_most(schema: tantivy.Schema, column: str, value: object) -> tantivy.Query:
    field_type, number = _number(column, value)
    return tantivy.Query.range_query(schema, column, field_type, None, number)


def _term(schema: tantivy.Schema, column: str, value: object) -> tantivy.Query:
    return tantivy.Query.term_query(schema, column, value)


def _any_term(schema: tantivy.Schema, column: str, values: object) -> tantivy.Query:
    # Term queries, not a term set: a term set first fills a bitset of every document
    # holding one of the values (~7 ms for a common language at 10M rows, even when the
    # caption words match only a few documents); term postings are only read as far as the
    # intersection needs them.
    terms = [tantivy.Query.term_query(schema, column, v) for v in values]  # type: ignore[attr-defined]
    if not terms:
        return tantivy.Query.boolean_query([(tantivy.Occur.MustNot, tantivy.Query.all_query())])
    if len(terms) == 1:
        return terms[0]
    return tantivy.Query.boolean_query([(tantivy.Occur.Should, t) for t in terms])


def _without_phrases(schema: tantivy.Schema, column: str, phrases: Phrases) -> tantivy.Query:
    """Every caption but those holding one of the phrases (tokens from app.textsearch.analysis,
    the field's own analyzer): a term for one token, a phrase query for several."""
    listed = [
        tantivy.Query.term_query(schema, column, phrase[0])
        if len(phrase) == 1
        else tantivy.Query.phrase_query(schema, column, list(phrase))
        for phrase in phrases
        if phrase
    ]
    return tantivy.Query.boolean_query(
        [(tantivy.Occur.Must, tantivy.Query.all_query())]
        + [(tantivy.Occur.MustNot, query) for query in listed]
    )


def _not_all(schema: tantivy.Schema, column: str, conditions: Any) -> tantivy.Query:
    """Every document but those passing all ``conditions`` (a document missing a score does
    not pass that range, as SQL's NULL does not)."""
    passing = [
        (tantivy.Occur.Must, _TRANSLATIONS[translation(c)](schema, c.column, c.value))  # type: ignore[index]
        for c in conditions
    ]
    parts = [(tantivy.Occur.Must, tantivy.Query.all_query())]
    if passing:
        parts.append((tantivy.Occur.MustNot, tantivy.Query.boolean_query(passing)))
    else:
        parts = [(tantivy.Occur.MustNot, tantivy.Query.all_query())]
    return tantivy.Query.boolean_query(parts)


_TRANSLATIONS: dict[str, Callable[[tantivy.Schema, str, Any], tantivy.Query]] = {
    "at_least": _at_least,
    "at_most": _at_most,
    "term": _term,
    "any_term": _any_term,
    "without_phrases": _without_phrases,
    "not_all": _not_all,
}
