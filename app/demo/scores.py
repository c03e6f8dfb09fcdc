"""Fake model scores for the demo, drawn to look like LAION-5B's distributions.

No model runs here: the demo has to build offline in seconds. The numbers are drawn from simple
distributions that match what LAION-5B's columns look like (CLIP similarity just above the
filtering threshold, punsafe mostly near zero with a thin high tail, and so on), so every filter,
histogram and warning in Loupe has something to show. The images themselves are all harmless;
records with a high punsafe are *scored* as unsafe, nothing more. ``docs/demo.md`` says so too.

Scores that describe the image (punsafe, pwatermark, aesthetic) are drawn once per distinct
image and jittered slightly for its near-duplicates, as a real detector would score two
re-encodings of one photo almost alike. Similarity describes the image-caption pair, so each
record draws its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.demo.images import Variant

UNSAFE_SHARE = 0.065  # distinct images scored above 0.5 (LAION-5B: a few percent)
WATERMARK_SHARE = 0.04  # non-stock images with a high watermark score
STOCK_WATERMARK_SHARE = 0.4  # stock-site images with a high watermark score

# Aesthetic taste of the predictor, per base image: photos of things people like score higher
# than test patterns and textures. The means average near LAION's 5.3.
BASE_AESTHETIC: dict[str, float] = {
    "astronaut": 5.7,
    "camera": 5.2,
    "coffee": 6.0,
    "chelsea": 6.1,
    "coins": 4.9,
    "horse": 4.6,
    "rocket": 5.8,
    "hubble": 6.2,
    "brick": 4.6,
    "grass": 4.8,
    "gravel": 4.4,
    "text": 4.0,
    "retina": 4.9,
    "ihc": 5.1,
    "cell": 4.3,
    "clock": 4.5,
    "colorwheel": 5.2,
    "checkerboard": 3.9,
    "grace_hopper": 5.6,
    "gift": 4.9,
}

LICENSES: tuple[str, ...] = (
    "https://creativecommons.org/licenses/by/2.0/",
    "https://creativecommons.org/licenses/by-sa/3.0/",
    "https://creativecommons.org/licenses/by-nc/2.0/",
    "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "https://creativecommons.org/licenses/by-nd/4.0/",
    "https://creativecommons.org/publicdomain/zero/1.0/",
)
LICENSE_SHARE = 0.08  # LAION: most pages state no licence, written "?"


@dataclass(frozen=True)
class ImageScores:
    punsafe: float
    pwatermark: float
    aesthetic: float


def _clip(value: float, low: float, high: float) -> float:
    return float(min(high, max(low, value)))


def image_scores(rng: np.random.Generator, variant: Variant) -> ImageScores:
    """Scores for one distinct image."""
    if rng.random() < UNSAFE_SHARE:
        punsafe = float(rng.uniform(0.5, 0.995))
    else:
        # Beta(0.6, 40): mostly below 0.02, with a long thin tail up to ~0.3.
        punsafe = float(rng.beta(0.6, 40.0))
    if rng.random() < WATERMARK_SHARE:
        pwatermark = float(rng.uniform(0.5, 0.97))
    else:
        pwatermark = float(rng.beta(1.3, 9.0))
    aesthetic = BASE_AESTHETIC[variant.base] + float(rng.normal(0.0, 0.55))
    if variant.colour == "grey":
        aesthetic -= 0.15
    elif variant.colour == "sepia":
        aesthetic += 0.1
    if variant.side < 200:
        aesthetic -= 0.4
    return ImageScores(punsafe, pwatermark, _clip(aesthetic, 1.0, 10.0))


def near_duplicate_scores(
    rng: np.random.Generator, original: ImageScores, *, watermarked: bool
) -> ImageScores:
    """A near-duplicate scores almost like its original; a stamped watermark shows."""
    punsafe = _clip(original.punsafe * float(rng.normal(1.0, 0.04)), 0.0, 1.0)
    if watermarked:
        pwatermark = float(rng.uniform(0.8, 0.99))
        aesthetic = original.aesthetic - 0.4
    else:
        pwatermark = _clip(original.pwatermark + float(rng.normal(0.0, 0.015)), 0.0, 1.0)
        aesthetic = original.aesthetic + float(rng.normal(0.0, 0.08))
    return ImageScores(punsafe, pwatermark, _clip(aesthetic, 1.0, 10.0))


def stock_watermark(rng: np.random.Generator, scores: ImageScores) -> ImageScores:
    """Stock-site previews are usually watermarked: raise the score for most of them."""
    if scores.pwatermark >= 0.5 or rng.random() >= STOCK_WATERMARK_SHARE:
        return scores
    return ImageScores(scores.punsafe, float(rng.uniform(0.55, 0.98)), scores.aesthetic)


def similarity(rng: np.random.Generator, language: str | None, noisy_caption: bool) -> float:
    """CLIP image-text similarity: LAION kept English pairs at >= 0.28 (ViT-B/32) and the
    multilingual and no-language ones at >= 0.26, so the distribution starts at the cut."""
    if language == "en":
        mean, floor = 0.32, 0.28
    else:
        mean, floor = 0.30, 0.26
    if noisy_caption:
        mean -= 0.015
    while True:  # truncated normal by rejection: a few draws at most
        value = float(rng.normal(mean, 0.03))
        if floor <= value <= 0.46:
            return value


def nsfw_tag(punsafe: float) -> str:
    """LAION's three-way tag, here derived from punsafe so the two always agree."""
    if punsafe < 0.5:
        return "UNLIKELY"
    if punsafe < 0.8:
        return "UNSURE"
    return "NSFW"


def pick_license(rng: np.random.Generator) -> str:
    if rng.random() < LICENSE_SHARE:
        return LICENSES[int(rng.integers(len(LICENSES)))]
    return "?"
