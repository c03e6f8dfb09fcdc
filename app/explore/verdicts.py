"""What LAION's models decided about one record: a verdict per stage of the pipeline, the
subsets and training filters it would be in, and a one-line summary.

Each verdict is computed with the catalog's own SQL for the same conditions the lab and the
grid apply (app.catalog.splits.hold), so a record page can never say "kept at ≥ 0.28" of a
record the lab's 0.28 drops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.catalog import splits
from app.catalog.filters import Condition, RecordFilter
from app.explore.datasets import DatasetHandle
from app.explore.pipeline import (
    AESTHETIC_SUBSETS,
    PUNSAFE_RECOMMENDED,
    PWATERMARK_RECOMMENDED,
    SIMILARITY_EN,
    SIMILARITY_OTHER,
    STAGES,
    Preset,
    Presets,
    Stage,
)
from app.explore.service import Explorer

MIN_ALT_TEXT = 5
HIGH_RESOLUTION = 1024


@dataclass
class Verdict:
    stage: Stage
    value: str  # this record's value, as shown
    passes: bool | None  # None: informational (no pass/fail)
    outcome: str  # the verdict in words

    @property
    def mark(self) -> str:
        return {True: "✓", False: "✗", None: "•"}[self.passes]

    def public(self) -> dict[str, Any]:
        return {
            "stage": self.stage.id,
            "title": self.stage.title,
            "model": self.stage.model,
            "score": self.stage.column,
            "value": self.value,
            "thresholds": self.stage.thresholds,
            "passes": self.passes,
            "verdict": self.outcome,
            "note": self.stage.note,
            "sources": [{"label": s.label, "url": s.url} for s in self.stage.sources],
        }


@dataclass
class RecordVerdicts:
    verdicts: list[Verdict]
    would_be_in: list[Preset]
    summary: str

    def public(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "stages": [v.public() for v in self.verdicts],
            "would_be_in": [{"id": p.id, "name": p.name, "rule": p.rule} for p in self.would_be_in],
        }


def _number(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{float(value):.{digits}f}".rstrip("0").rstrip(".")


def record_verdicts(
    explorer: Explorer,
    dataset: DatasetHandle,
    row: dict[str, Any],
    presets: Presets,
    blur_threshold: float,
) -> RecordVerdicts:
    """The verdicts of every stage for ``row`` (a visible record of ``dataset``)."""
    languages = dataset_languages(explorer, dataset)
    english = row.get("language") == "en"
    similarity_threshold = SIMILARITY_EN if english else SIMILARITY_OTHER
    checks: list[list[Condition]] = [
        [Condition("similarity", "gte", similarity_threshold)],
        [Condition("punsafe", "lte", PUNSAFE_RECOMMENDED)],
        [Condition("pwatermark", "lte", PWATERMARK_RECOMMENDED)],
        *([Condition("aesthetic", "gte", level)] for level in AESTHETIC_SUBSETS),
        *(preset.record_filter(languages).conditions() for preset in presets.items),
    ]
    # One query of a dozen conditions costs ~6 ms at 10M rows (binding, not reading); a record
    # opened by a whole class is answered once while the hidden set stays the same.
    key = (explorer.plan(dataset, RecordFilter()).key, "held", row["pos"], id(presets))
    held = explorer.answers.get_or_make(
        key, lambda: splits.hold(explorer.catalog, dataset.name, row["pos"], checks)
    )
    similarity_ok, punsafe_ok, pwatermark_ok = held[0], held[1], held[2]
    aesthetic_levels = [
        level
        for level, ok in zip(AESTHETIC_SUBSETS, held[3 : 3 + len(AESTHETIC_SUBSETS)], strict=True)
        if ok
    ]
    presets_held = held[3 + len(AESTHETIC_SUBSETS) :]
    would_be_in = [p for p, ok in zip(presets.items, presets_held, strict=True) if ok]

    caption = row.get("caption") or ""
    width, height = row.get("width"), row.get("height")
    stages = {stage.id: stage for stage in STAGES}
    verdicts = []
    alt_ok = len(caption.strip()) >= MIN_ALT_TEXT
    high_res = bool(width and height and width >= HIGH_RESOLUTION and height >= HIGH_RESOLUTION)
    verdicts.append(
        Verdict(
            stages["rules"],
            f"{len(caption):,} characters; {width or '?'} × {height or '?'} px",
            alt_ok,
            ("alt text long enough" if alt_ok else f"alt text under {MIN_ALT_TEXT} characters")
            + ("; in the high-resolution subset" if high_res else "; not high-resolution"),
        )
    )
    language = row.get("language")
    subset = "LAION-2B-en" if english else ("LAION-1B-nolang" if not language else "LAION-2B-multi")
    verdicts.append(Verdict(stages["language"], language or "none detected", None, f"→ {subset}"))
    similarity = row.get("similarity")
    verdicts.append(
        Verdict(
            stages["similarity"],
            _number(similarity),
            similarity_ok if similarity is not None else None,
            "no score"
            if similarity is None
            else (
                f"kept: {_number(similarity)} ≥ {similarity_threshold}"
                if similarity_ok
                else f"would have been dropped: {_number(similarity)} < {similarity_threshold}"
            ),
        )
    )
    punsafe = row.get("punsafe")
    blurred = punsafe is not None and punsafe > blur_threshold
    verdicts.append(
        Verdict(
            stages["punsafe"],
            _number(punsafe),
            punsafe_ok if punsafe is not None else None,
            "no score"
            if punsafe is None
            else (
                f"below the recommended {PUNSAFE_RECOMMENDED}"
                if punsafe_ok
                else f"above the recommended {PUNSAFE_RECOMMENDED}"
            )
            + (f"; blurred here (> {blur_threshold})" if blurred else ""),
        )
    )
    pwatermark = row.get("pwatermark")
    verdicts.append(
        Verdict(
            stages["pwatermark"],
            _number(pwatermark),
            pwatermark_ok if pwatermark is not None else None,
            "no score"
            if pwatermark is None
            else (
                f"below the recommended {PWATERMARK_RECOMMENDED}"
                if pwatermark_ok
                else f"likely watermarked (above {PWATERMARK_RECOMMENDED})"
            ),
        )
    )
    aesthetic = row.get("aesthetic")
    verdicts.append(
        Verdict(
            stages["aesthetic"],
            _number(aesthetic, 2),
            bool(aesthetic_levels) if aesthetic is not None else None,
            "no score"
            if aesthetic is None
            else (
                f"in LAION-Aesthetics V2 {aesthetic_levels[-1]:g}+"
                if aesthetic_levels
                else f"below every LAION-Aesthetics subset ({AESTHETIC_SUBSETS[0]:g})"
            ),
        )
    )
    return RecordVerdicts(
        verdicts,
        would_be_in,
        _summary(
            row,
            would_be_in,
            blurred,
            blur_threshold,
            similarity_threshold,
            subset,
            similarity_ok,
        ),
    )


def _summary(
    row: dict[str, Any],
    would_be_in: list[Preset],
    blurred: bool,
    blur_threshold: float,
    similarity_threshold: float,
    subset: str,
    similarity_ok: bool,
) -> str:
    parts = []
    similarity = row.get("similarity")
    if similarity is not None:
        verb = "kept by" if similarity_ok else "below the threshold of"
        sign = "≥" if similarity_ok else "<"
        parts.append(f"{verb} {subset} at {_number(similarity)} {sign} {similarity_threshold}")
    aesthetic_sets = [p.name for p in would_be_in if p.id.startswith("aesthetics-")]
    if aesthetic_sets:
        parts.append(f"would be in {aesthetic_sets[-1]}")
    if blurred:
        parts.append(
            f"blurred here because punsafe {_number(row.get('punsafe'), 2)} > {blur_threshold:g}"
        )
    return "; ".join(parts) if parts else "no model scores for this record"


def dataset_languages(explorer: Explorer, dataset: DatasetHandle) -> list[str]:
    """The languages a dataset's visible records hold, most common first (presets that name
    "every language but English" list them; the lab offers them)."""
    plan = explorer.plan(dataset, RecordFilter())

    def languages() -> list[str]:
        values = explorer.catalog.facet(dataset.name, "language", plan.conditions, limit=200)
        return [str(v.value) for v in values if v.value]

    # Every record page asks; the answer changes only with the hidden set (the plan's key).
    return explorer.answers.get_or_make((plan.key, "languages"), languages)
