"""LAION's filtering pipeline as data: the models in order, their thresholds, and the presets
built on them (the named subsets and training filters).

LAION-5B was assembled by models filtering models: rules on the alt text and image size, a
language detector, CLIP similarity, an NSFW detector, a watermark detector and an aesthetic
predictor. This module says what each did — in one plain sentence, with the threshold that
was used and its source (facts from the leads' REFERENCE.md; nothing second-hand is stated
as fact) — so the record page can give a verdict per stage and the lab can apply the same
thresholds. The presets are data (``presets.toml``, plus a user's own file named by
``LOUPE_LAB_PRESETS``), each expressed in the grid's own filter parameters.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from app.catalog.filters import RecordFilter

PRESETS_FILE = Path(__file__).with_name("presets.toml")
PRESET_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")
# The filter parameters a preset may set: the lab's thresholds.
PRESET_FILTERS: tuple[str, ...] = (
    "similarity_min",
    "punsafe_max",
    "pwatermark_max",
    "aesthetic_min",
    "min_width",
    "min_height",
    "lang",
    "lang_except",
)


class PresetError(ValueError):
    """A preset file that cannot be used; the message names the file and the preset."""


@dataclass(frozen=True)
class Source:
    label: str
    url: str | None = None


@dataclass(frozen=True)
class Stage:
    id: str
    title: str
    column: str | None  # the score it judges, if any
    model: str  # the model (or rule) in one plain sentence
    thresholds: str  # the thresholds as used, in words
    sources: tuple[Source, ...]
    note: str | None = None


LAION_5B = Source("LAION, “LAION-5B” (blog, 2022)", "https://laion.ai/blog/laion-5b/")
LAION_400M = Source(
    "LAION, “LAION-400M” (blog, 2021)", "https://laion.ai/blog/laion-400-open-dataset/"
)
AESTHETICS = Source(
    "LAION, “LAION-Aesthetics” (blog, 2022)", "https://laion.ai/blog/laion-aesthetics/"
)
NSFW_DETECTOR = Source(
    "LAION-AI/CLIP-based-NSFW-Detector", "https://github.com/LAION-AI/CLIP-based-NSFW-Detector"
)
WATERMARK_DETECTOR = Source(
    "LAION-AI/LAION-5B-WatermarkDetection",
    "https://github.com/LAION-AI/LAION-5B-WatermarkDetection",
)
PREPRO = Source("LAION-AI/laion-prepro", "https://github.com/LAION-AI/laion-prepro")

# The pipeline, in the order LAION applied it.
STAGES: tuple[Stage, ...] = (
    Stage(
        "rules",
        "Alt text and size rules",
        None,
        "Rules, not a model: LAION dropped alt texts under 5 characters, images under 5 KB "
        "and decompression bombs, and kept one pair per URL.",
        "alt text ≥ 5 characters; the high-resolution subset kept width and height ≥ 1024",
        (LAION_5B, PREPRO),
    ),
    Stage(
        "language",
        "Language",
        "language",
        "Google's CLD3 language detector guessed the language of the caption.",
        "English → LAION-2B-en; another detected language → LAION-2B-multi; "
        "no confident detection → LAION-1B-nolang",
        (LAION_5B,),
    ),
    Stage(
        "similarity",
        "CLIP similarity",
        "similarity",
        "OpenAI's CLIP ViT-B/32 (multilingual CLIP for other languages) turned the image and "
        "the caption into vectors; their cosine similarity says how well the two match.",
        "kept if ≥ 0.28 (English) or ≥ 0.26 (other languages, no language); LAION-400M used ≥ 0.30",
        (LAION_5B, LAION_400M),
    ),
    Stage(
        "punsafe",
        "NSFW detector (punsafe)",
        "punsafe",
        "A small neural network on CLIP image embeddings (LAION's CLIP-based NSFW detector) "
        "estimates the probability that the image is unsafe.",
        "not a filter in LAION-5B; 0.5 recommended; Re-LAION-5B research removed > 0.95, "
        "research-safe > 0.45",
        (NSFW_DETECTOR, LAION_5B),
        note="The NSFW tag (UNLIKELY / UNSURE / NSFW) came from zero-shot CLIP keyword "
        "matching, not from this detector.",
    ),
    Stage(
        "pwatermark",
        "Watermark detector (pwatermark)",
        "pwatermark",
        "An EfficientNet-B3a image classifier that looks at the pixels (not CLIP-based) "
        "estimates the probability that the image carries a watermark.",
        "not a filter in LAION-5B; 0.8 recommended; LAION-Aesthetics V1 kept < 0.8, "
        "Stable Diffusion v1 kept < 0.5",
        (WATERMARK_DETECTOR, LAION_5B),
    ),
    Stage(
        "aesthetic",
        "Aesthetic predictor",
        "aesthetic",
        "A linear model on CLIP ViT-L/14 image embeddings, trained on people's ratings (SAC, "
        "LAION-Logos, AVA photo contests), predicts a rating from 1 to 10.",
        "LAION-Aesthetics V2 subsets: ≥ 4.5, ≥ 4.75, ≥ 5, ≥ 6, ≥ 6.25, ≥ 6.5",
        (AESTHETICS,),
        note="Its raters were mostly English-speaking photographers and AI enthusiasts.",
    ),
)

SIMILARITY_EN = 0.28
SIMILARITY_OTHER = 0.26
PUNSAFE_RECOMMENDED = 0.5
PWATERMARK_RECOMMENDED = 0.8
AESTHETIC_SUBSETS: tuple[float, ...] = (4.5, 4.75, 5.0, 6.0, 6.25, 6.5)


@dataclass(frozen=True)
class Preset:
    id: str
    name: str
    rule: str
    source: Source
    filters: dict[str, Any]
    note: str | None = None
    builtin: bool = True

    def record_filter(self, languages: list[str]) -> RecordFilter:
        """The preset as grid filters; ``lang_except`` becomes the dataset's other languages."""
        values = {k: v for k, v in self.filters.items() if k != "lang_except"}
        if "lang_except" in self.filters:
            excluded = set(self.filters["lang_except"])
            values["lang"] = [lang for lang in languages if lang not in excluded]
        return RecordFilter(**values)

    def query_items(self, languages: list[str]) -> list[tuple[str, str]]:
        return self.record_filter(languages).query_items()


@dataclass(frozen=True)
class Presets:
    items: tuple[Preset, ...]
    by_id: dict[str, Preset] = field(default_factory=dict)

    @classmethod
    def of(cls, items: list[Preset]) -> Presets:
        return cls(tuple(items), {p.id: p for p in items})


def load_presets(user_file: Path | None = None) -> Presets:
    """The built-in presets, then the user's (a user preset with a built-in id replaces it)."""
    items = {p.id: p for p in _read(PRESETS_FILE, builtin=True)}
    if user_file is not None:
        for preset in _read(user_file, builtin=False):
            items[preset.id] = preset
    return Presets.of(list(items.values()))


@lru_cache(maxsize=8)
def _read_cached(path: str, mtime_ns: int, builtin: bool) -> tuple[Preset, ...]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PresetError(f"{path}: cannot read the presets ({error})") from None
    presets = []
    for number, entry in enumerate(data.get("preset", []), start=1):
        presets.append(_preset(path, number, entry, builtin))
    return tuple(presets)


def _read(path: Path, *, builtin: bool) -> tuple[Preset, ...]:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as error:
        raise PresetError(f"{path}: cannot read the presets ({error.strerror})") from None
    return _read_cached(str(path), mtime, builtin)


def _preset(path: str, number: int, entry: Any, builtin: bool) -> Preset:
    where = f"{path}: preset {number}"
    if not isinstance(entry, dict):
        raise PresetError(f"{where}: not a table")
    preset_id = str(entry.get("id", ""))
    if not PRESET_ID.match(preset_id):
        raise PresetError(f"{where}: id {preset_id!r} must be lower-case letters, digits, '.', '-'")
    filters = entry.get("filters") or {}
    unknown = sorted(set(filters) - set(PRESET_FILTERS))
    if unknown:
        raise PresetError(
            f"{where} ({preset_id}): unknown filter {unknown[0]!r}; use {', '.join(PRESET_FILTERS)}"
        )
    try:
        RecordFilter(**{k: v for k, v in filters.items() if k != "lang_except"})
    except ValueError as error:
        raise PresetError(f"{where} ({preset_id}): {error}") from None
    for key in ("name", "rule", "source"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise PresetError(f"{where} ({preset_id}): `{key}` is required")
    return Preset(
        id=preset_id,
        name=entry["name"].strip(),
        rule=entry["rule"].strip(),
        source=Source(entry["source"].strip(), entry.get("url")),
        filters=dict(filters),
        note=entry.get("note"),
        builtin=builtin,
    )
