"""Structured filters -> SQL text with bound parameters.

A request never contributes SQL text: it contributes values, which become ``?`` parameters,
and column names, which must be in :mod:`app.catalog.schema`. The operator table below is
the only place where SQL fragments for filters are written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode

from pydantic import BaseModel, Field, field_validator, model_validator

from app.catalog.schema import SCORE_RANGES, LinkStatus, quote_identifier

OperatorName = Literal[
    "gte", "lte", "eq", "in", "contains", "without_words", "not_duplicate", "not_all"
]

# How the caption text index answers an operator (``app.textsearch.search`` builds the
# tantivy query for each), or None where it cannot: the explorer then lets DuckDB apply it.
TextTranslation = Literal["at_least", "at_most", "term", "any_term", "without_phrases", "not_all"]


@dataclass(frozen=True)
class Operator:
    sql: str
    text: TextTranslation | None
    many: bool = False  # the value is a list: one placeholder per item


# The one table of filter operators, with both translations side by side: a new operator is
# one row here and, if the text index can answer it, one builder in app.textsearch.search.
OPERATORS: dict[str, Operator] = {
    "gte": Operator("{col} >= ?", "at_least"),
    "lte": Operator("{col} <= ?", "at_most"),
    "eq": Operator("{col} = ?", "term"),
    "in": Operator("{col} IN ({placeholders})", "any_term", many=True),
    "contains": Operator("contains(lower({col}), lower(?))", None),
    # Classroom mode: hide captions holding any of the listed words or phrases. The value is
    # the phrases as the text index tokenises them (``Phrases``); SQL matches the same token
    # sequences with one bound regular expression (``phrases_pattern``), the text index
    # with term and phrase queries, so the two engines hide the same captions.
    "without_words": Operator("NOT coalesce(regexp_matches({col}, ?), false)", "without_phrases"),
    # "Hide duplicates": the value is the dataset name; the in-memory duplicates table holds
    # the members of each near-duplicate cluster that are not its representative.
    "not_duplicate": Operator("{col} NOT IN (SELECT pos FROM duplicates WHERE dataset = ?)", None),
    # The records a set of thresholds drops (the lab's "dropped" and "leaving" sets): the value
    # is the thresholds' conditions; a record missing a score fails that threshold, as the
    # text index's range queries also say (NULL is not kept, so it is dropped).
    "not_all": Operator("NOT coalesce(({nested}), false)", "not_all"),
}

# The column of a "not_all" condition: it spans several.
ALL_COLUMNS = "*"

# Phrases, each the tokens of one listed word or phrase ("x-rated" -> ("x", "rated")).
Phrases = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Condition:
    column: str
    op: OperatorName
    value: Any


def build_where(conditions: Iterable[Condition]) -> tuple[str, list[Any]]:
    """AND together the conditions; returns ``("", [])`` when there are none."""
    clauses: list[str] = []
    params: list[Any] = []
    for condition in conditions:
        operator = OPERATORS[condition.op]
        if condition.op == "not_all":
            nested, nested_params = build_where(condition.value)
            if not nested:
                clauses.append("false")  # no threshold drops nothing
                continue
            clauses.append(operator.sql.format(nested=nested[len("WHERE ") :]))
            params.extend(nested_params)
            continue
        col = quote_identifier(condition.column)
        if operator.many:
            values = list(condition.value)
            if not values:
                clauses.append("false")
                continue
            placeholders = ", ".join("?" for _ in values)
            clauses.append(operator.sql.format(col=col, placeholders=placeholders))
            params.extend(values)
        elif condition.op == "without_words":
            if not any(condition.value):
                continue
            clauses.append(operator.sql.format(col=col))
            params.append(phrases_pattern(condition.value))
        else:
            clauses.append(operator.sql.format(col=col))
            params.append(condition.value)
    if not clauses:
        return "", []
    return "WHERE " + " AND ".join(clauses), params


# What separates two tokens: the text index's tokenizer splits on every character that is
# not a letter or a digit, so a phrase's tokens may be joined by any run of those.
_NOT_WORD = r"[^\pL\pN]"


def phrases_pattern(phrases: Phrases) -> str:
    """A case-insensitive RE2 expression matching a caption that holds any of ``phrases`` as
    whole tokens in sequence, exactly where the text index's tokens would match them."""
    alternatives = [
        (_NOT_WORD + "+").join(re.escape(token) for token in phrase) for phrase in phrases if phrase
    ]
    return "(?i)(?:^|" + _NOT_WORD + ")(?:" + "|".join(alternatives) + ")(?:" + _NOT_WORD + "|$)"


# ``region``: a box on the map, ``<kind>:<x0>,<y0>,<x1>,<y1>``. Plain decimals only (no
# exponent, so no value overflows to infinity), which the pattern states for the OpenAPI
# document; the ends may come in either order (they are put in order, textually).
MapKind = Literal["image", "caption"]
MAP_KINDS: tuple[str, ...] = get_args(MapKind)
_DECIMAL = r"-?[0-9]{1,12}(?:\.[0-9]{1,12})?"
REGION_PATTERN = rf"^(?:{'|'.join(MAP_KINDS)}):{_DECIMAL}(?:,{_DECIMAL}){{3}}$"
REGION_MAX_CHARS = 120
_REGION = re.compile(REGION_PATTERN)


@dataclass(frozen=True)
class Region:
    """A box on one kind's map, edges included."""

    kind: str
    x0: float
    y0: float
    x1: float
    y1: float

    def contains(self, xy: Any) -> Any:
        """For an (n, 2) array of map coordinates: which rows lie inside (a numpy mask)."""
        x, y = xy[:, 0], xy[:, 1]
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)


def normalise_region(text: str) -> str:
    """``text`` with each axis's two ends in ascending order; ValueError when it is not a
    region (the message names the parameter)."""
    if not _REGION.match(text):
        raise ValueError(
            "region must be <kind>:<x0>,<y0>,<x1>,<y1> with kind "
            f"{' or '.join(MAP_KINDS)} and four decimal numbers"
        )
    kind, _, numbers = text.partition(":")
    x0, y0, x1, y1 = numbers.split(",")
    if float(x0) > float(x1):
        x0, x1 = x1, x0
    if float(y0) > float(y1):
        y0, y1 = y1, y0
    return f"{kind}:{x0},{y0},{x1},{y1}"


def parse_region(text: str) -> Region:
    """The box a (normalised) ``region`` value names."""
    kind, _, numbers = normalise_region(text).partition(":")
    x0, y0, x1, y1 = (float(v) for v in numbers.split(","))
    return Region(kind, x0, y0, x1, y1)


class RecordFilter(BaseModel):
    """What a person can ask of the grid; every field is optional and bounded."""

    model_config = {"extra": "ignore"}

    q: str | None = Field(None, max_length=200, description="Caption words (BM25 ranked).")
    contains: str | None = Field(None, max_length=200, description="Caption substring.")
    lang: list[str] = Field(default_factory=list, max_length=50, description="Languages.")
    similarity_min: float | None = Field(None, ge=-1.0, le=1.0)
    similarity_max: float | None = Field(None, ge=-1.0, le=1.0)
    punsafe_min: float | None = Field(None, ge=0.0, le=1.0)
    punsafe_max: float | None = Field(None, ge=0.0, le=1.0)
    pwatermark_min: float | None = Field(None, ge=0.0, le=1.0)
    pwatermark_max: float | None = Field(None, ge=0.0, le=1.0)
    aesthetic_min: float | None = Field(None, ge=0.0, le=10.0)
    aesthetic_max: float | None = Field(None, ge=0.0, le=10.0)
    min_width: int | None = Field(None, ge=0, le=1_000_000)
    min_height: int | None = Field(None, ge=0, le=1_000_000)
    domain: str | None = Field(None, max_length=253)
    license: str | None = Field(None, max_length=300)
    nodup: bool = Field(False, description="Hide near-duplicates: show one record of each cluster.")
    dropped_by: str | None = Field(
        None,
        max_length=500,
        description="Only the records these thresholds drop, written as a query string of "
        "threshold filters (e.g. `similarity_min=0.3&lang=en`): the lab's dropped and leaving "
        "sets as a grid.",
    )
    link: list[LinkStatus] = Field(
        default_factory=list,
        description="Link status of the last check (see `loupe check-links`); not a catalog "
        "column, so the explorer applies it as a restriction to the checked records.",
    )
    region: str | None = Field(
        None,
        max_length=REGION_MAX_CHARS,
        pattern=REGION_PATTERN,
        description="A box on the embedding map (`/map`), as `<kind>:<x0>,<y0>,<x1>,<y1>` in "
        "map coordinates (kind `image` or `caption`): only the records whose map point lies "
        "inside, edges included. Not a catalog column: the explorer turns it into a "
        "restriction to those records' positions (from the dataset's map layout).",
    )

    @field_validator("q", "contains", "domain", "license", "region", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("lang", mode="before")
    @classmethod
    def _clean_languages(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            cleaned = []
            for item in value:
                item = str(item).strip().lower()
                if not item:
                    continue
                if len(item) > 16:
                    raise ValueError("a language code is at most 16 characters")
                if item not in cleaned:
                    cleaned.append(item)
            return cleaned
        return value

    @field_validator("domain", mode="after")
    @classmethod
    def _normalise_domain(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.lower()
        return value[4:] if value.startswith("www.") else value

    @field_validator("region", mode="after")
    @classmethod
    def _region_parses(cls, value: str | None) -> str | None:
        return None if value is None else normalise_region(value)

    @field_validator("dropped_by", mode="after")
    @classmethod
    def _thresholds_parse(cls, value: str | None) -> str | None:
        if value is not None:
            thresholds_of(value)  # refuses what is not a query string of thresholds
        return value

    @model_validator(mode="after")
    def _ranges_are_ordered(self) -> RecordFilter:
        for score in SCORE_RANGES:
            low, high = getattr(self, f"{score}_min"), getattr(self, f"{score}_max")
            if low is not None and high is not None and low > high:
                raise ValueError(f"{score}_min ({low}) is greater than {score}_max ({high})")
        return self

    def conditions(self, *, without: str | None = None) -> list[Condition]:
        """The structured conditions, except caption words ``q`` (answered by the text index).

        ``without`` leaves out the conditions on one column: a facet's counts are computed
        under every filter but its own, so picking one language still shows the others.
        """
        result: list[Condition] = []
        if self.contains:
            result.append(Condition("caption", "contains", self.contains))
        if self.lang:
            result.append(Condition("language", "in", list(self.lang)))
        for score in SCORE_RANGES:
            low, high = getattr(self, f"{score}_min"), getattr(self, f"{score}_max")
            if low is not None:
                result.append(Condition(score, "gte", low))
            if high is not None:
                result.append(Condition(score, "lte", high))
        if self.min_width is not None:
            result.append(Condition("width", "gte", self.min_width))
        if self.min_height is not None:
            result.append(Condition("height", "gte", self.min_height))
        if self.domain:
            result.append(Condition("domain", "eq", self.domain))
        if self.license:
            result.append(Condition("license", "eq", self.license))
        if self.dropped_by:
            dropped = thresholds_of(self.dropped_by).conditions()
            result.append(Condition(ALL_COLUMNS, "not_all", tuple(dropped)))
        if without is not None:
            result = [c for c in result if c.column != without]
        return result

    def thresholds(self) -> RecordFilter:
        """Only this filter's thresholds (what ``dropped_by`` may name)."""
        return RecordFilter(**self.model_dump(include=set(THRESHOLD_FIELDS), exclude_defaults=True))

    def thresholds_query(self) -> str:
        """This filter's thresholds as the query string ``dropped_by`` takes."""
        return urlencode(self.thresholds().query_items())

    def query_items(self) -> list[tuple[str, str]]:
        """The filter as URL query items (what a client sends to reproduce it)."""
        items: list[tuple[str, str]] = []
        for name, value in self.model_dump(exclude_defaults=True).items():
            if isinstance(value, list):
                items.extend((name, str(v)) for v in value)
            elif isinstance(value, bool):
                items.append((name, "true" if value else "false"))
            elif isinstance(value, float):
                items.append((name, f"{value:g}"))
            else:
                items.append((name, str(value)))
        return items


# What ``dropped_by`` may name: the thresholds of LAION's models (and sizes, and languages).
THRESHOLD_FIELDS: tuple[str, ...] = (
    *(f"{score}_{side}" for score in SCORE_RANGES for side in ("min", "max")),
    "min_width",
    "min_height",
    "lang",
)


def thresholds_of(query: str) -> RecordFilter:
    """The thresholds a ``dropped_by`` query string names; ValueError for anything else."""
    try:
        items = parse_qsl(query, keep_blank_values=False, strict_parsing=True, max_num_fields=60)
    except ValueError:
        raise ValueError("dropped_by must be a query string such as similarity_min=0.3") from None
    values: dict[str, Any] = {}
    for key, value in items:
        if key not in THRESHOLD_FIELDS:
            raise ValueError(
                f"dropped_by names {key!r}; it may name only {', '.join(THRESHOLD_FIELDS)}"
            )
        if key == "lang":
            values.setdefault("lang", []).append(value)
        elif key in values:
            raise ValueError(f"dropped_by names {key!r} twice")
        else:
            values[key] = value
    if not values:
        raise ValueError("dropped_by names no threshold")
    return RecordFilter(**values)
