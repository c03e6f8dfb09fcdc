"""Queries that split a selection in two — the records a set of thresholds keeps, and those it
drops — for the threshold lab (app.explore.lab).

Counts are exact (``records``). Composition, score distributions, caption words and random
samples of a large dataset are read from its 1 % sample (``records_sample``) and flagged
approximate: one scan of 10M rows per panel would cost what the whole slider step may.
Every query goes through the catalog's ``_where``, so hidden records are never counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.catalog.connection import alias_for
from app.catalog.filters import ALL_COLUMNS, Condition, build_where
from app.catalog.queries import Catalog, _table
from app.catalog.schema import SAMPLE_RATE, quote_identifier

# Word tokens as the caption index cuts them: runs of letters and digits.
_WORD_SPLIT = r"[^\pL\pN]+"


@dataclass(frozen=True)
class SplitCount:
    value: str | None
    total: int
    inside: int  # in the split (kept, or leaving)


@dataclass(frozen=True)
class WordCount:
    word: str
    inside: int  # captions holding the word, in the split
    outside: int  # captions holding the word, outside it


@dataclass(frozen=True)
class Source:
    table: str
    scale: int  # multiply counts by this to estimate the whole

    @property
    def approximate(self) -> bool:
        return self.scale > 1


# Caption words are cut and counted from at most about this many captions: tokenising costs
# ~8 µs a caption, so 20,000 rows already take ~150 ms.
WORDS_FULL_ROWS = 20_000
# Most rows a boundary band may hold (the sample puts ~100 x the strip's records in it).
BAND_ROWS = 50_000


def summary_source(catalog: Catalog, name: str, full_rows: int | None = None) -> Source:
    """Where panels count: the 1 % sample of a large dataset (or of one larger than
    ``full_rows``), else the records."""
    larger = full_rows is not None and catalog.sizes.get(name, 0) > full_rows
    if name in catalog.sampled or (larger and name in catalog.sample_tables):
        return Source(f"{alias_for(name)}.records_sample", SAMPLE_RATE)
    return Source(_table(name), 1)


def _split_clause(split: Sequence[Condition]) -> tuple[str, list[object]]:
    where, params = build_where(split)
    return (f"coalesce(({where[len('WHERE ') :]}), false)" if where else "true"), params


def count_split(
    catalog: Catalog, name: str, base: Sequence[Condition], split: Sequence[Condition]
) -> tuple[int, int]:
    """Exactly how many records pass ``base``, and how many of those pass ``split`` too.

    Two counts, each with its conditions in the WHERE clause, where DuckDB skips the row
    groups they rule out; one scan counting both (``count(*) FILTER (WHERE split)``) had to
    evaluate the split on every row: ~70 ms against ~25 + ~1 at 10M rows."""
    return catalog.count(name, base), catalog.count(name, [*base, *split])


def split_counts(
    catalog: Catalog,
    name: str,
    column: str,
    base: Sequence[Condition],
    split: Sequence[Condition],
    *,
    limit: int = 12,
) -> tuple[list[SplitCount], Source]:
    """The ``limit`` most common values of ``column`` under ``base``, each with how many of
    its records pass ``split`` (scaled estimates from the sample of a large dataset)."""
    source = summary_source(catalog, name)
    col = quote_identifier(column)
    clause, split_params = _split_clause(split)
    where, params = catalog._where(name, base, [], [])
    _, rows = catalog.connection.query(
        f"SELECT {col}, count(*) AS n, count(*) FILTER (WHERE {clause}) "
        f"FROM {source.table} {where} GROUP BY 1 ORDER BY n DESC, 1 NULLS LAST LIMIT ?",
        [*split_params, *params, limit],
    )
    return [
        SplitCount(row[0], int(row[1]) * source.scale, int(row[2] or 0) * source.scale)
        for row in rows
    ], source


def split_histogram(
    catalog: Catalog,
    name: str,
    column: str,
    domain: tuple[float, float],
    bins: int,
    base: Sequence[Condition],
    split: Sequence[Condition],
) -> tuple[list[int], list[int], Source]:
    """``bins`` equal bins of ``column`` over ``domain``: records inside the split, and
    outside it (values beyond the domain fall in the first or last bin)."""
    source = summary_source(catalog, name)
    col = quote_identifier(column)
    low, high = domain
    step = (high - low) / bins
    clause, split_params = _split_clause(split)
    where, params = catalog._where(name, base, [f"{col} IS NOT NULL", f"isfinite({col})"], [])
    _, rows = catalog.connection.query(
        f"SELECT least(greatest(floor(({col} - ?) / ?), 0), ?)::INTEGER AS b, "
        f"count(*) FILTER (WHERE {clause}), count(*) FILTER (WHERE NOT {clause}) "
        f"FROM {source.table} {where} GROUP BY 1",
        [low, step, bins - 1, *split_params, *split_params, *params],
    )
    inside, outside = [0] * bins, [0] * bins
    for index, n_in, n_out in rows:
        inside[int(index)] += int(n_in or 0) * source.scale
        outside[int(index)] += int(n_out or 0) * source.scale
    return inside, outside, source


def nearest(
    catalog: Catalog,
    name: str,
    column: str,
    conditions: Sequence[Condition],
    order: Literal["ASC", "DESC"],
    limit: int,
) -> list[int]:
    """Positions of the ``limit`` records passing ``conditions`` whose ``column`` comes first
    in ``order``: the records nearest a threshold, on one side of it (a top-N of every match;
    ``nearest_each_side`` first tries a band)."""
    col = quote_identifier(column)
    direction = "ASC" if order == "ASC" else "DESC"
    where, params = catalog._where(name, conditions, [f"{col} IS NOT NULL"], [])
    _, rows = catalog.connection.query(
        f"SELECT pos FROM {_table(name)} {where} ORDER BY {col} {direction}, pos LIMIT ?",
        [*params, limit],
    )
    return [row[0] for row in rows]


def nearest_each_side(
    catalog: Catalog,
    name: str,
    column: str,
    conditions: Sequence[Condition],
    kept_side: Condition,
    limit: int,
) -> tuple[list[int], list[int]]:
    """Positions of the ``limit`` records passing ``conditions`` nearest the threshold of
    ``kept_side`` (``column`` gte or lte a value) on each side of it: (kept, dropped), each
    nearest first.

    On a sampled dataset one scan reads a band around the threshold that the sample says
    holds the nearest records of both sides (two top-N scans of 10M rows cost ~60 ms, the
    band ~30); a side the band holds too few of is asked again by ``nearest``."""
    col = quote_identifier(column)
    rising = kept_side.op == "gte"  # kept values lie above the threshold
    beyond = Condition(ALL_COLUMNS, "not_all", (kept_side,))
    kept_order: Literal["ASC", "DESC"] = "ASC" if rising else "DESC"
    dropped_order: Literal["ASC", "DESC"] = "DESC" if rising else "ASC"
    kept: list[int] | None = None
    dropped: list[int] | None = None
    if name in catalog.sampled:
        edges = []
        for side, order in ((kept_side, kept_order), (beyond, dropped_order)):
            where, params = catalog._where(name, [*conditions, side], [f"{col} IS NOT NULL"], [])
            _, edge = catalog.connection.query(
                f"SELECT {col} FROM {_sample_table(name)} {where} "
                f"ORDER BY {col} {order} LIMIT 1 OFFSET ?",
                [*params, max(limit, 10)],
            )
            value = edge[0][0] if edge else None
            edges.append(value if value is not None and math.isfinite(value) else None)
        if None not in edges:
            low, high = sorted(edges)
            clause, clause_params = _split_clause([kept_side])
            where, params = catalog._where(
                name, conditions, [f"{col} IS NOT NULL", f"{col} BETWEEN ? AND ?"], [low, high]
            )
            _, rows = catalog.connection.query(
                f"SELECT pos, {col}, {clause} FROM {_table(name)} {where} LIMIT ?",
                [*clause_params, *params, BAND_ROWS],
            )
            if len(rows) < BAND_ROWS:  # the whole band: its nearest are the nearest
                kept = _nearest_of([r for r in rows if r[2]], kept_order, limit)
                dropped = _nearest_of([r for r in rows if not r[2]], dropped_order, limit)
    if kept is None or len(kept) < limit:
        kept = nearest(catalog, name, column, [*conditions, kept_side], kept_order, limit)
    if dropped is None or len(dropped) < limit:
        dropped = nearest(catalog, name, column, [*conditions, beyond], dropped_order, limit)
    return kept, dropped


def _sample_table(name: str) -> str:
    """Where the 1 % sample of a dataset lies (the thresholds' bands are placed from it)."""
    return f"{alias_for(name)}.records_sample"


def _nearest_of(rows: list[tuple], order: Literal["ASC", "DESC"], limit: int) -> list[int]:
    """``nearest``'s order (the value, then ``pos``) applied to (pos, value, ...) rows."""
    sign = 1 if order == "ASC" else -1
    return [row[0] for row in sorted(rows, key=lambda r: (sign * r[1], r[0]))[:limit]]


def random_positions(
    catalog: Catalog, name: str, conditions: Sequence[Condition], n: int, seed: int
) -> tuple[list[int], Source]:
    """A seeded random sample of the records passing ``conditions`` (drawn from the 1 %
    sample of a large dataset, which is itself a uniform sample)."""
    source = summary_source(catalog, name)
    where, params = catalog._where(name, conditions, [], [])
    _, rows = catalog.connection.query(
        f"SELECT pos FROM {source.table} {where} ORDER BY hash(pos, ?::BIGINT), pos LIMIT ?",
        [*params, seed, n],
    )
    return [row[0] for row in rows], source


def split_words(
    catalog: Catalog,
    name: str,
    base: Sequence[Condition],
    split: Sequence[Condition],
    *,
    min_captions: int = 3,
    limit: int = 20_000,
) -> tuple[list[WordCount], int, int, Source]:
    """For each caption word, how many captions inside and outside the split hold it; and
    how many captions there are on each side. Counted on the 1 % sample of a dataset of
    more than WORDS_FULL_ROWS rows."""
    source = summary_source(catalog, name, WORDS_FULL_ROWS)
    clause, split_params = _split_clause(split)
    where, params = catalog._where(name, base, [], [])
    inner = (
        f"SELECT list_distinct(regexp_split_to_array(lower(caption), ?)) AS words, "
        f"{clause} AS k FROM {source.table} {where}"
    )
    _, totals = catalog.connection.query(
        f"SELECT count(*) FILTER (WHERE k), count(*) FILTER (WHERE NOT k) FROM ({inner})",
        [_WORD_SPLIT, *split_params, *params],
    )
    _, rows = catalog.connection.query(
        f"SELECT word, count(*) FILTER (WHERE k), count(*) FILTER (WHERE NOT k) "
        f"FROM (SELECT unnest(words) AS word, k FROM ({inner})) "
        f"WHERE length(word) > 1 GROUP BY word HAVING count(*) >= ? "
        f"ORDER BY count(*) DESC LIMIT ?",
        [_WORD_SPLIT, *split_params, *params, min_captions, limit],
    )
    words = [WordCount(str(r[0]), int(r[1] or 0), int(r[2] or 0)) for r in rows]
    return words, int(totals[0][0] or 0), int(totals[0][1] or 0), source


def hold(
    catalog: Catalog, name: str, position: int, condition_sets: Sequence[Sequence[Condition]]
) -> list[bool]:
    """Whether the record at ``position`` passes each set of conditions (one query; the same
    SQL the filters use, so a verdict and a filter can never disagree)."""
    if not condition_sets:
        return []
    selects, params = [], []
    for conditions in condition_sets:
        clause, clause_params = _split_clause(conditions)
        selects.append(clause)
        params.extend(clause_params)
    # The cast lets DuckDB skip to the row group holding ``pos`` (an untyped parameter made it
    # scan the table: 9 ms instead of 1.4 at 10M rows).
    where, where_params = catalog._where(name, [], ["pos = CAST(? AS BIGINT)"], [int(position)])
    _, rows = catalog.connection.query(
        f"SELECT {', '.join(selects)} FROM {_table(name)} {where}", [*params, *where_params]
    )
    if not rows:
        return [False] * len(condition_sets)
    return [bool(value) for value in rows[0]]
