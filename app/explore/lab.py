"""The threshold lab: what a set of model thresholds keeps and drops, and what it takes away.

A lab state is the thresholds of LAION's models — the grid's own filter parameters
(``similarity_min``, ``punsafe_max``, ``pwatermark_max``, ``aesthetic_min``, ``min_width``,
``min_height``, ``lang``) — over every visible record of a dataset (hidden records never;
classroom mode's rules too). It answers:

- how many records are kept and dropped, exactly;
- how the kept set's composition (languages, top domains, licences) shifts against the whole;
- the kept and dropped distributions of every score;
- the records right at the boundary of the threshold being moved, on each side;
- compare mode: which records would leave going from thresholds A to thresholds B, a seeded
  sample of them, and which languages and domains lose most, relatively;
- the caption words most over-represented among the dropped records (the filter's taste).

Counts are exact; composition, distributions, samples and words of a large dataset come from
its 1 % sample and are marked approximate (app.catalog.splits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from app.catalog import splits
from app.catalog.filters import ALL_COLUMNS, Condition, RecordFilter
from app.catalog.schema import FACET_COLUMNS, SCORE_BY_NAME, SCORES
from app.explore.datasets import DatasetHandle
from app.explore.service import Explorer

# The thresholds a lab sets, in the order of LAION's pipeline.
LAB_THRESHOLDS: tuple[str, ...] = (
    "min_width",
    "min_height",
    "similarity_min",
    "punsafe_max",
    "pwatermark_max",
    "aesthetic_min",
)
ThresholdName = Literal[
    "min_width", "min_height", "similarity_min", "punsafe_max", "pwatermark_max", "aesthetic_min"
]
STRIP = 8  # records in each boundary strip
SAMPLE = 12  # records in compare mode's sample of those leaving
DISTRIBUTION_BINS = 40
TOP_WORDS = 24
# The informative prior's strength for the log-odds of caption words (Monroe, Colaresi &
# Quinn 2008, "Fightin' Words"): the pooled word frequencies, scaled to this many tokens.
PRIOR_STRENGTH = 1_000.0


@dataclass(frozen=True)
class Slider:
    """One threshold's control: its range and step, and whether the dataset has the score."""

    name: str
    column: str
    label: str
    low: float
    high: float
    step: float
    side: Literal["min", "max"]
    available: bool
    why_not: str | None = None


@dataclass
class Side:
    """The kept or dropped records."""

    count: int
    share: float


@dataclass
class Shift:
    value: str | None
    whole: int
    kept: int
    whole_share: float
    kept_share: float

    @property
    def points(self) -> float:
        """Percentage points the value gains (+) or loses (-) in the kept set."""
        return 100.0 * (self.kept_share - self.whole_share)


@dataclass
class Distribution:
    score: str
    edges: list[float]
    kept: list[int]
    dropped: list[int]
    approximate: bool


@dataclass
class Loss:
    value: str | None
    before: int
    leaving: int

    @property
    def share(self) -> float:
        return self.leaving / self.before if self.before else 0.0


@dataclass
class Comparison:
    leaving: int
    entering: int
    sample: list[dict[str, Any]]
    sample_approximate: bool
    losses: dict[str, list[Loss]]
    losses_approximate: bool


@dataclass
class Word:
    word: str
    dropped: int
    kept: int
    z: float  # log-odds ratio over its standard deviation: > 0 means over-represented when dropped


@dataclass
class LabResult:
    total: int
    kept: Side
    dropped: Side
    composition: dict[str, list[Shift]]
    composition_approximate: bool
    distributions: list[Distribution]
    focus: str | None
    just_kept: list[dict[str, Any]] = field(default_factory=list)
    just_dropped: list[dict[str, Any]] = field(default_factory=list)


def sliders(dataset: DatasetHandle) -> list[Slider]:
    """One slider per threshold; a score the dataset lacks is disabled with the reason."""
    stats = dataset.manifest.score_stats
    found = []
    for name in LAB_THRESHOLDS:
        column = name.removeprefix("min_").removesuffix("_min").removesuffix("_max")
        if column in ("width", "height"):
            found.append(
                Slider(name, column, f"Minimum {column}", 0, 2048, 32, "min", available=True)
            )
            continue
        score = SCORE_BY_NAME[column]
        present = column in stats and stats[column].non_null > 0
        low, high = score.chart if column == "similarity" else (score.low, score.high)
        found.append(
            Slider(
                name,
                column,
                score.name,
                low,
                high,
                score.step / (10 if column != "aesthetic" else 1),
                "min" if name.endswith("_min") else "max",
                available=present,
                why_not=None
                if present
                else f"This dataset has no {column} scores (its source files had no such "
                "column), so this threshold cannot be applied.",
            )
        )
    return found


def thresholds_filter(record_filter: RecordFilter) -> RecordFilter:
    """Only the lab's thresholds (and languages) of a filter."""
    return record_filter.thresholds()


class Lab:
    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        self.catalog = explorer.catalog

    def _base(self, dataset: DatasetHandle) -> list[Condition]:
        """What every lab query applies: the server's rules (classroom mode); hidden records
        are excluded by the catalog itself."""
        return self.explorer.plan(dataset, RecordFilter()).conditions

    def counts(self, dataset: DatasetHandle, thresholds: RecordFilter) -> tuple[int, int]:
        """(total visible, kept) — exact."""
        return splits.count_split(
            self.catalog, dataset.name, self._base(dataset), thresholds.conditions()
        )

    def run(
        self,
        dataset: DatasetHandle,
        thresholds: RecordFilter,
        *,
        focus: str | None = None,
        strips: bool = True,
    ) -> LabResult:
        name = dataset.name
        base = self._base(dataset)
        kept_conditions = thresholds.conditions()
        total, kept = splits.count_split(self.catalog, name, base, kept_conditions)
        dropped = total - kept
        composition: dict[str, list[Shift]] = {}
        approximate = False
        for column in FACET_COLUMNS:
            counts, source = splits.split_counts(
                self.catalog, name, column, base, kept_conditions, limit=8
            )
            approximate = approximate or source.approximate
            composition[column] = [
                Shift(c.value, c.total, c.inside, c.total / (total or 1), c.inside / (kept or 1))
                for c in counts
            ]
        distributions = []
        for score in SCORES:
            inside, outside, source = splits.split_histogram(
                self.catalog,
                name,
                score.name,
                score.chart,
                DISTRIBUTION_BINS,
                base,
                kept_conditions,
            )
            step = (score.chart[1] - score.chart[0]) / DISTRIBUTION_BINS
            edges = [round(score.chart[0] + i * step, 6) for i in range(DISTRIBUTION_BINS + 1)]
            distributions.append(
                Distribution(score.name, edges, inside, outside, source.approximate)
            )
        focus = focus if focus in LAB_THRESHOLDS else _first_set(thresholds)
        result = LabResult(
            total=total,
            kept=Side(kept, kept / total if total else 0.0),
            dropped=Side(dropped, dropped / total if total else 0.0),
            composition=composition,
            composition_approximate=approximate,
            distributions=distributions,
            focus=focus,
        )
        if strips and focus is not None and getattr(thresholds, focus) is not None:
            result.just_kept, result.just_dropped = self.boundary(dataset, thresholds, focus)
        return result

    def boundary(
        self, dataset: DatasetHandle, thresholds: RecordFilter, focus: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The records just kept and just dropped by the ``focus`` threshold: nearest it on
        each side, passing every other threshold."""
        column = focus.removeprefix("min_").removesuffix("_min").removesuffix("_max")
        value = getattr(thresholds, focus)
        is_min = focus.startswith("min_") or focus.endswith("_min")
        others = thresholds.model_copy(update={focus: None}).conditions()
        base = self._base(dataset)
        kept_side = Condition(column, "gte" if is_min else "lte", value)
        # Just outside is the other side of the threshold; equality belongs to the kept side.
        kept, dropped = splits.nearest_each_side(
            self.catalog, dataset.name, column, [*base, *others], kept_side, STRIP
        )
        return self.explorer.rows_at(dataset, kept), self.explorer.rows_at(dataset, dropped)

    def compare(
        self, dataset: DatasetHandle, a: RecordFilter, b: RecordFilter, *, seed: int = 1
    ) -> Comparison:
        """Going from thresholds A to thresholds B: who leaves (kept by A, dropped by B), who
        enters, a seeded sample of those leaving, and which languages and domains lose the
        largest share of their records."""
        name = dataset.name
        base = self._base(dataset)
        a_conditions, b_conditions = a.conditions(), b.conditions()
        leaves = Condition(ALL_COLUMNS, "not_all", tuple(b_conditions))
        enters = Condition(ALL_COLUMNS, "not_all", tuple(a_conditions))
        kept_by_a, leaving = splits.count_split(
            self.catalog, name, [*base, *a_conditions], [leaves]
        )
        _, entering = splits.count_split(self.catalog, name, [*base, *b_conditions], [enters])
        positions, source = splits.random_positions(
            self.catalog, name, [*base, *a_conditions, leaves], SAMPLE, seed
        )
        losses: dict[str, list[Loss]] = {}
        approximate = source.approximate
        for column in ("language", "domain"):
            counts, counted = splits.split_counts(
                self.catalog, name, column, [*base, *a_conditions], [leaves], limit=40
            )
            approximate = approximate or counted.approximate
            support = max(20 * counted.scale, kept_by_a // 200)
            found = [Loss(c.value, c.total, c.inside) for c in counts if c.total >= support]
            losses[column] = sorted(found, key=lambda x: (-x.share, -x.before))[:8]
        return Comparison(
            leaving=leaving,
            entering=entering,
            sample=self.explorer.rows_at(dataset, positions),
            sample_approximate=source.approximate,
            losses=losses,
            losses_approximate=approximate,
        )

    def words(
        self, dataset: DatasetHandle, thresholds: RecordFilter, *, top: int = TOP_WORDS
    ) -> tuple[list[Word], bool]:
        """The caption words most over-represented among the dropped records compared with the
        kept ones, by the log-odds ratio with an informative Dirichlet prior (Monroe et al.
        2008): each word's z-score. Returns the words and whether they come from a sample."""
        counts, kept_n, dropped_n, source = splits.split_words(
            self.catalog, dataset.name, self._base(dataset), thresholds.conditions()
        )
        return log_odds(counts, kept_n, dropped_n, top=top), source.approximate


def log_odds(
    counts: list[splits.WordCount], kept_n: int, dropped_n: int, *, top: int = TOP_WORDS
) -> list[Word]:
    """Words by z-score of the log-odds ratio (dropped vs kept) with an informative Dirichlet
    prior from the pooled counts; the most over-represented among the dropped first."""
    if not counts or kept_n == 0 or dropped_n == 0:
        return []
    kept = np.array([c.inside for c in counts], dtype=np.float64)
    dropped = np.array([c.outside for c in counts], dtype=np.float64)
    pooled = kept + dropped
    alpha = PRIOR_STRENGTH * pooled / pooled.sum()
    alpha0 = alpha.sum()
    n_kept, n_dropped = kept.sum(), dropped.sum()
    delta = np.log((dropped + alpha) / (n_dropped + alpha0 - dropped - alpha)) - np.log(
        (kept + alpha) / (n_kept + alpha0 - kept - alpha)
    )
    variance = 1.0 / (dropped + alpha) + 1.0 / (kept + alpha)
    z = delta / np.sqrt(variance)
    order = np.argsort(-z)[:top]
    return [
        Word(counts[i].word, counts[i].outside, counts[i].inside, float(z[i]))
        for i in order
        if z[i] > 0 and math.isfinite(z[i])
    ]


def _first_set(thresholds: RecordFilter) -> str | None:
    for name in LAB_THRESHOLDS:
        if getattr(thresholds, name) is not None:
            return name
    return None
