"""The reference lines the score charts draw: LAION's thresholds, and this server's blur
threshold.

The values and their sources are not written here: the named subsets' thresholds are the
lab's built-in presets (``presets.toml``: LAION-2B-en, LAION-2B-multi, LAION-400M,
LAION-Aesthetics V2 4.5+/5+/6+/6.5+), and the recommended NSFW and watermark cuts are
``app.explore.pipeline``'s constants, with the pipeline's sources — one definition of each
fact, read by the lab, the record page's verdicts and the charts alike. This module only
chooses which of them a chart shows and gives each a short label to draw beside its line.

The blur threshold is not LAION's: it is this server's ``punsafe_threshold`` setting, made by
:func:`blur_line` and added by :func:`reference_lines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from app.explore.pipeline import (
    LAION_5B,
    NSFW_DETECTOR,
    PUNSAFE_RECOMMENDED,
    PWATERMARK_RECOMMENDED,
    WATERMARK_DETECTOR,
    PresetError,
    Source,
    load_presets,
)

# What passing a line means for a record's score: gte: score >= value (LAION's "kept if");
# lte: score <= value (a cut that drops what is above it; the lab's maximum is <= as well).
Passing = Literal["gte", "lte"]

# The built-in presets drawn on the charts, each with the few characters drawn by its line.
CHART_PRESETS: dict[str, str] = {
    "laion-2b-multi": "2B-multi",
    "laion-2b-en": "2B-en",
    "laion-400m": "400M",
    "aesthetics-4.5": "4.5+",
    "aesthetics-5": "5+",
    "aesthetics-6": "6+",
    "aesthetics-6.5": "6.5+",
}
SETTING = Source("this server's LOUPE_PUNSAFE_THRESHOLD setting")
SCORE_KEYS: dict[str, tuple[str, Passing]] = {
    "similarity_min": ("similarity", "gte"),
    "aesthetic_min": ("aesthetic", "gte"),
    "punsafe_max": ("punsafe", "lte"),
    "pwatermark_max": ("pwatermark", "lte"),
}


@dataclass(frozen=True)
class ReferenceLine:
    score: str  # a name in app.catalog.schema.SCORES
    value: float
    passing: Passing
    short: str  # a few characters drawn beside the line on a chart
    label: str  # one sentence: who used this value, and for what
    sources: tuple[Source, ...]

    def passes(self, score: float | None) -> bool | None:
        """Whether a record with this score passes the line (None: the record has no score)."""
        if score is None:
            return None
        return score >= self.value if self.passing == "gte" else score <= self.value


RECOMMENDED: tuple[ReferenceLine, ...] = (
    ReferenceLine(
        "punsafe",
        PUNSAFE_RECOMMENDED,
        "lte",
        f"{PUNSAFE_RECOMMENDED:g} rec.",
        f"Not a filter in LAION-5B; LAION recommends dropping punsafe above "
        f"{PUNSAFE_RECOMMENDED:g} (2.9 % of the English rows).",
        (LAION_5B, NSFW_DETECTOR),
    ),
    ReferenceLine(
        "pwatermark",
        PWATERMARK_RECOMMENDED,
        "lte",
        f"{PWATERMARK_RECOMMENDED:g} rec.",
        f"Not a filter in LAION-5B; LAION recommends dropping pwatermark above "
        f"{PWATERMARK_RECOMMENDED:g} (6.1 % of the English rows).",
        (LAION_5B, WATERMARK_DETECTOR),
    ),
)


@lru_cache(maxsize=1)
def laion_lines() -> tuple[ReferenceLine, ...]:
    """LAION's lines for every chart: the charted presets' thresholds and the recommended
    cuts, by score and value (read once from the built-in presets)."""
    presets = load_presets()
    lines = list(RECOMMENDED)
    for preset_id, short in CHART_PRESETS.items():
        preset = presets.by_id.get(preset_id)
        if preset is None:
            raise PresetError(f"the built-in presets lack {preset_id!r}, which a chart draws")
        for key, value in preset.filters.items():
            if key in SCORE_KEYS:
                score, passing = SCORE_KEYS[key]
                label = f"{preset.name}: {preset.rule}."
                lines.append(
                    ReferenceLine(score, float(value), passing, short, label, (preset.source,))
                )
    return tuple(sorted(lines, key=lambda line: (line.score, line.value)))


def blur_line(threshold: float) -> ReferenceLine:
    """This server's blur threshold (``settings.punsafe_threshold``) as a line on punsafe."""
    return ReferenceLine(
        "punsafe",
        threshold,
        "lte",
        "blur",
        f"Loupe blurs images with punsafe above {threshold:g} until a person reveals them "
        "(classroom mode hides them).",
        (SETTING,),
    )


def reference_lines(score: str, blur_threshold: float | None = None) -> list[ReferenceLine]:
    """The lines drawn on ``score``'s chart, by value; the blur threshold joins punsafe's."""
    lines = [line for line in laion_lines() if line.score == score]
    if score == "punsafe" and blur_threshold is not None:
        lines.append(blur_line(blur_threshold))
    return sorted(lines, key=lambda line: line.value)
