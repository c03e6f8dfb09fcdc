"""One plan per request: which conditions apply, which engine answers, within which records.

A browse request becomes a :class:`QueryPlan` once; the page, its count, its facets and its
histograms all read that plan, so they can never disagree about what the selection is, and a
caption search whose text hits DuckDB must filter further is searched once, not once per
facet. Plans are kept for a short while (:class:`TtlCache`): the grid's lazily loaded
histograms and exact count arrive as separate requests with the same filters, and reuse the
plan the page made.

Engines:
    catalog     no caption words: DuckDB answers everything
    text        caption words, and every condition has a text-index translation
                (``app.catalog.filters.OPERATORS``): the text index answers alone
    text_hits   caption words with a condition the text index cannot answer (a substring,
                hiding duplicates) or a restriction (link status, map region): DuckDB
                filters the best text hits (at most ``TEXT_FALLBACK_HITS``)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from app.catalog.filters import Condition, RecordFilter
from app.catalog.hidden import HiddenSet
from app.explore.datasets import DatasetHandle

Engine = Literal["catalog", "text", "text_hits"]
T = TypeVar("T")

# When a caption search needs something the text index cannot do, DuckDB filters the best
# text hits; this bounds how many.
TEXT_FALLBACK_HITS = 10_000


@dataclass
class QueryPlan:
    dataset: DatasetHandle
    filter: RecordFilter
    # Conditions the server adds to the request's own (classroom mode, hiding duplicates).
    server_conditions: list[Condition]
    engine: Engine
    # Positions a non-catalog filter (link status, a map region) restricts to; None when none.
    restriction: list[int] | None
    hidden: HiddenSet
    # What the plan is cached by: the dataset, the filter and the hidden-set version.
    key: Hashable = None
    _best_hits: list[int] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # How many times the text index was searched for this plan's best hits (bench/tests).
    searches: int = 0

    @property
    def words(self) -> str:
        return self.filter.q or ""

    @property
    def conditions(self) -> list[Condition]:
        """Every condition (caption words, ``filter.q``, are not one: the text index's)."""
        return self.filter.conditions() + self.server_conditions

    def conditions_without(self, column: str) -> list[Condition]:
        """Every condition but the request's own on ``column`` (a facet counts under the
        other filters, so picking one language still shows the others); those the server
        adds are never dropped."""
        return self.filter.conditions(without=column) + self.server_conditions

    def best_hits(self, search: Callable[[], list[int]]) -> list[int]:
        """The best caption matches DuckDB filters (engine text_hits), searched once."""
        with self._lock:
            if self._best_hits is None:
                self._best_hits = search()
                self.searches += 1
            return self._best_hits


class TtlCache(Generic[T]):
    """The most recent values by key, each kept at most ``ttl_s``: plans (by dataset, filter and
    hidden-set version; a link-status restriction may change under a plan as checks are saved),
    and the answers computed from them (``Explorer.answers``)."""

    def __init__(self, size: int = 64, ttl_s: float = 60.0) -> None:
        self._plans: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._size = size
        self._ttl_s = ttl_s
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            found = self._plans.get(key)
            if found is not None and now - found[0] < self._ttl_s:
                self._plans.move_to_end(key)
                return found[1]
        plan = make()
        with self._lock:
            self._plans[key] = (now, plan)
            self._plans.move_to_end(key)
            while len(self._plans) > self._size:
                self._plans.popitem(last=False)
        return plan

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
