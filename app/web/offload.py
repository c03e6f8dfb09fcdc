"""Where a route's blocking call runs: on the event loop when it has been measured to be
short, otherwise in a worker thread.

A hop to anyio's worker threads and back costs ~0.5 ms on this 2-core machine (two
cross-thread wake-ups), as much as a whole unfiltered search of a 50k-vector index with its
rows. And a call that holds the GIL (most of such a search is Python: rows, dicts) blocks the
other requests in a thread too, for up to the interpreter's switch interval (5 ms) at a time:
below that, a thread buys the loop nothing. So a kind of call measured to finish within the
switch interval (nine times in ten, and never four times over it) runs inline; anything that
may wait on a disk or a database runs in a thread (the caller says so: ``eligible``). A kind
that turns slow moves back to threads until a window of its calls there is short again; one
stray slow call (a garbage collection, a busy neighbour) does not, unless it was long.

The caller names the kind of work (``key``: a route, a dataset, an embedding kind); keys are
few and bounded by the caller.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import TypeVar

from anyio import to_thread

T = TypeVar("T")

# Longest call allowed on the event loop: what a thread holding the GIL may hold it for.
INLINE_BUDGET_S = sys.getswitchinterval()
# Calls of a kind timed before it may run inline, and how many recent ones are judged.
WINDOW = 32
MIN_SAMPLES = 8
TYPICAL_QUANTILE = 0.9  # this share of the window within the budget ...
LONGEST_FACTOR = 4  # ... and none of it longer than this many budgets
MAX_KEYS = 256


class Offload:
    """Recent durations per kind of work, and the choice they imply."""

    def __init__(self, budget_s: float = INLINE_BUDGET_S) -> None:
        self.budget_s = budget_s
        self._recent: dict[Hashable, deque[float]] = {}

    def runs_inline(self, key: Hashable) -> bool:
        recent = self._recent.get(key)
        if recent is None or len(recent) < MIN_SAMPLES:
            return False
        ordered = sorted(recent)
        typical = ordered[int(TYPICAL_QUANTILE * (len(ordered) - 1))]
        return typical <= self.budget_s and ordered[-1] <= LONGEST_FACTOR * self.budget_s

    async def run(self, key: Hashable, call: Callable[[], T], *, eligible: bool = True) -> T:
        """``call()``'s result, run inline or in a worker thread (see the module). Durations
        are recorded on the event loop's thread only, so no lock is needed."""
        if not eligible:
            return await to_thread.run_sync(call)
        taken: list[float] = []

        def timed() -> T:
            started = time.perf_counter()
            try:
                return call()
            finally:
                taken.append(time.perf_counter() - started)

        try:
            if self.runs_inline(key):
                return timed()
            return await to_thread.run_sync(timed)
        finally:
            if taken:
                self._record(key, taken[0])

    def _record(self, key: Hashable, seconds: float) -> None:
        recent = self._recent.get(key)
        if recent is None:
            if len(self._recent) >= MAX_KEYS:
                self._recent.clear()  # keys are bounded by the callers; this is a backstop
            recent = self._recent[key] = deque(maxlen=WINDOW)
        recent.append(seconds)
