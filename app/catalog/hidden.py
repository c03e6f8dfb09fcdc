"""The positions of each dataset that no read may return: held here and nowhere else.

Which records are hidden is decided above the catalog (suspected-CSAM flags, blocklists,
quarantine: ``app.workspace.hiding``); this object holds the answer as positions and is what
every read consults — catalog queries and row lookups, the text index's exclusion, the image
service, embedding runs, exports, the map's points.

Failing closed: a dataset is *unknown* until its hidden set has been applied once, and every
read of an unknown dataset raises :class:`HiddenSetUnknown` instead of answering as if
nothing were hidden. A catalog opened bare, without the workspace that applies the set, can
therefore not show a blocked record by accident: it can show nothing at all.

SQL reads the same positions from the in-memory DuckDB table ``hidden``, kept in step by the
catalog's ``sync`` callback that only :meth:`HiddenPositions.replace` calls (one transaction,
so a query sees the old set or the new one, never none).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

# sync(dataset, positions): make SQL's copy of a hidden set match (the catalog's table).
Sync = Callable[[str, np.ndarray], None]


class HiddenSetUnknown(RuntimeError):
    """A dataset was read before its hidden set was applied (the read is refused)."""


@dataclass(frozen=True)
class HiddenSet:
    """One dataset's hidden positions as a set (membership) and sorted (text index, numpy)."""

    positions: frozenset[int]
    ordered: np.ndarray  # int64, ascending

    def __len__(self) -> int:
        return len(self.positions)

    def __contains__(self, position: object) -> bool:
        return position in self.positions

    def holds(self, positions: np.ndarray) -> np.ndarray:
        """True where a position of ``positions`` is hidden (a binary search in ``ordered``)."""
        positions = np.asarray(positions, dtype=np.int64)
        if not len(self.ordered):
            return np.zeros(positions.shape, dtype=bool)
        at = np.searchsorted(self.ordered, positions).clip(max=len(self.ordered) - 1)
        return self.ordered[at] == positions


EMPTY = HiddenSet(frozenset(), np.zeros(0, dtype=np.int64))


class HiddenPositions:
    def __init__(self, sync: Sync | None = None) -> None:
        self._sync = sync
        self._sets: dict[str, HiddenSet] = {}
        self._lock = threading.Lock()
        # Bumped on every change: callers cache what they derive from a hidden set by it.
        self.version = 0

    def replace(self, dataset: str, positions: Iterable[int]) -> HiddenSet:
        """Make ``positions`` the hidden set of ``dataset`` (an empty one marks it known)."""
        ordered = np.unique(np.fromiter((int(p) for p in positions), dtype=np.int64))
        hidden = HiddenSet(frozenset(ordered.tolist()), ordered) if len(ordered) else EMPTY
        with self._lock:
            previous = self._sets.get(dataset)
            if previous is not None and previous.positions == hidden.positions:
                return previous
            if previous is not None and previous.positions <= hidden.positions:
                # Widened before SQL's copy: row lookups never lag behind the queries. (A
                # first set is only published once SQL has it: until then reads refuse.)
                self._sets[dataset] = hidden
            if self._sync is not None:
                self._sync(dataset, ordered)
            self._sets[dataset] = hidden
            self.version += 1
        return hidden

    def of(self, dataset: str) -> HiddenSet:
        """The hidden set of ``dataset``; raises HiddenSetUnknown if it was never applied."""
        hidden = self._sets.get(dataset)
        if hidden is None:
            raise HiddenSetUnknown(
                f"dataset {dataset!r}: its hidden records are not known yet, so nothing of it "
                "is shown (open datasets through app.workspace.open_workspace)"
            )
        return hidden

    def is_known(self, dataset: str) -> bool:
        return dataset in self._sets

    def is_hidden(self, dataset: str, position: int) -> bool:
        return int(position) in self.of(dataset)

    def count(self, dataset: str) -> int:
        return len(self.of(dataset))

    def forget(self, dataset: str) -> None:
        """Back to unknown (a dataset detached or being rebuilt)."""
        with self._lock:
            self._sets.pop(dataset, None)
            if self._sync is not None:
                self._sync(dataset, np.zeros(0, dtype=np.int64))
            self.version += 1
