"""Filters become SQL text with bound parameters; column names come from the schema only."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.catalog.filters import Condition, RecordFilter, build_where, phrases_pattern


@pytest.mark.parametrize(
    ("conditions", "sql", "params"),
    [
        ([], "", []),
        ([Condition("aesthetic", "gte", 6.0)], 'WHERE "aesthetic" >= ?', [6.0]),
        (
            [Condition("language", "in", ["en", "de"]), Condition("punsafe", "lte", 0.5)],
            'WHERE "language" IN (?, ?) AND "punsafe" <= ?',
            ["en", "de", 0.5],
        ),
        ([Condition("language", "in", [])], "WHERE false", []),
        ([Condition("domain", "eq", "a.example")], 'WHERE "domain" = ?', ["a.example"]),
        (
            [Condition("caption", "contains", "Cat")],
            'WHERE contains(lower("caption"), lower(?))',
            ["Cat"],
        ),
        (
            [Condition("caption", "without_words", (("a", "b"), ("c",)))],
            'WHERE NOT coalesce(regexp_matches("caption", ?), false)',
            [r"(?i)(?:^|[^\pL\pN])(?:a[^\pL\pN]+b|c)(?:[^\pL\pN]|$)"],
        ),
    ],
)
def test_build_where(conditions, sql, params):
    assert build_where(conditions) == (sql, params)


def test_unknown_columns_are_refused():
    with pytest.raises(ValueError, match="unknown column"):
        build_where([Condition('caption" OR 1=1 --', "eq", "x")])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, []),
        ({"lang": ["EN", "de", "en"]}, [Condition("language", "in", ["en", "de"])]),
        ({"similarity_min": 0.3}, [Condition("similarity", "gte", 0.3)]),
        (
            {"min_width": 512, "min_height": 256},
            [Condition("width", "gte", 512), Condition("height", "gte", 256)],
        ),
        ({"domain": "WWW.Photos.Example"}, [Condition("domain", "eq", "photos.example")]),
        ({"q": "  cat  ", "contains": " "}, []),
    ],
)
def test_record_filter_conditions(query, expected):
    assert RecordFilter(**query).conditions() == expected


def test_facet_conditions_leave_out_their_own_column():
    record_filter = RecordFilter(lang=["en"], aesthetic_min=5)
    assert record_filter.conditions(without="language") == [Condition("aesthetic", "gte", 5)]


@pytest.mark.parametrize(
    "query",
    [
        {"punsafe_min": 1.5},
        {"aesthetic_min": 7, "aesthetic_max": 3},
        {"lang": ["x" * 17]},
        {"q": "x" * 201},
        {"min_width": -5},
    ],
)
def test_out_of_range_filters_are_rejected(query):
    with pytest.raises(ValidationError):
        RecordFilter(**query)


def test_phrases_pattern_escapes_regex_syntax():
    # Tokens hold only letters and digits, but a pattern is data, never syntax, whatever comes.
    assert phrases_pattern((("a+",),)) == r"(?i)(?:^|[^\pL\pN])(?:a\+)(?:[^\pL\pN]|$)"


def test_query_items_round_trip():
    record_filter = RecordFilter(q="cat", lang=["en", "de"], aesthetic_min=5.5, nodup=True)
    items = record_filter.query_items()
    assert items == [
        ("q", "cat"),
        ("lang", "en"),
        ("lang", "de"),
        ("aesthetic_min", "5.5"),
        ("nodup", "true"),
    ]
    again: dict = {}
    for name, value in items:
        again.setdefault(name, []).append(value)
    rebuilt = RecordFilter(**{k: v if k == "lang" else v[0] for k, v in again.items()})
    assert rebuilt == record_filter
