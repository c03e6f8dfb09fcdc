"""Pixels for the demo: the base images that installed packages ship, and the variants made of them.

Every base image is a file inside an installed wheel (scikit-image's ``skimage/data`` folder or
matplotlib's ``mpl-data/sample_data``), so nothing is downloaded. Only scikit-image loaders whose
file is bundled are listed; the ones that need ``pooch`` and the network (``eagle``, ``lily``,
``cells3d``...) are deliberately left out. ``docs/demo.md`` carries the same table with credits.

A :class:`Variant` is a small, fully explicit recipe (crop, flip, rotation, colour, size, JPEG
quality), so every derived image can be rebuilt from its recipe and described in words.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

# The demo keeps images small: fast to build, light to serve, still big enough for a record page.
MAX_SIDE = 512


@dataclass(frozen=True)
class BaseImage:
    key: str
    package: str
    origin: str  # loader function or file inside the package
    credit: str
    licence: str
    weight: float  # how often the sampler picks it: photos more than test patterns


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data  # imported late: skimage's lazy loader is slow-ish to start

        return getattr(skimage.data, name)()

    return load


def _matplotlib(filename: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / filename
        with Image.open(path) as image:
            image.load()
            return image

    return load


_SK = "scikit-image 0.26"
_MPL = "matplotlib 3.10"

BASE_IMAGES: tuple[BaseImage, ...] = (
    BaseImage(
        "astronaut",
        _SK,
        "skimage.data.astronaut()",
        "NASA (Great Images database); astronaut Eileen Collins",
        "Public domain (no known copyright restrictions)",
        3.0,
    ),
    BaseImage("camera", _SK, "skimage.data.camera()", "Lav Varshney", "CC0 1.0", 2.0),
    BaseImage(
        "coffee",
        _SK,
        "skimage.data.coffee()",
        "Rachel Michetti, courtesy of Pikolo Espresso Bar",
        "CC0 1.0",
        3.0,
    ),
    BaseImage("chelsea", _SK, "skimage.data.chelsea()", "Stefan van der Walt", "CC0 1.0", 3.0),
    BaseImage(
        "coins",
        _SK,
        "skimage.data.coins()",
        "Brooklyn Museum Collection (Greek coins from Pompeii)",
        "No known copyright restrictions",
        2.0,
    ),
    BaseImage(
        "horse",
        _SK,
        "skimage.data.horse()",
        "Andreas Preuss (marauder), openclipart.org",
        "CC0 1.0",
        1.5,
    ),
    BaseImage(
        "rocket",
        _SK,
        "skimage.data.rocket()",
        "SpaceX (DSCOVR launch on Falcon 9)",
        "Public domain (released by SpaceX)",
        2.5,
    ),
    BaseImage(
        "hubble",
        _SK,
        "skimage.data.hubble_deep_field()",
        "NASA / HubbleSite (Hubble eXtreme Deep Field)",
        "Public domain (NASA)",
        2.0,
    ),
    BaseImage(
        "brick",
        _SK,
        "skimage.data.brick()",
        "CC0Textures (Bricks25), processed by the scikit-image team",
        "CC0 1.0",
        1.0,
    ),
    BaseImage(
        "grass", _SK, "skimage.data.grass()", "linolafett on DeviantArt (Grass 01)", "CC0 1.0", 1.0
    ),
    BaseImage("gravel", _SK, "skimage.data.gravel()", "CC0Textures (Gravel04)", "CC0 1.0", 1.0),
    BaseImage(
        "text", _SK, "skimage.data.text()", "Wikipedia (File:Corner.png)", "Public domain", 1.0
    ),
    BaseImage(
        "retina",
        _SK,
        "skimage.data.retina()",
        "Mikael Häggström, Wikimedia Commons",
        "CC0 1.0",
        1.5,
    ),
    BaseImage(
        "ihc",
        _SK,
        "skimage.data.immunohistochemistry()",
        "Center for Microscopy And Molecular Imaging (CMMI)",
        "No known copyright restrictions",
        1.5,
    ),
    BaseImage(
        "cell",
        _SK,
        "skimage.data.cell()",
        "quantitative phase image (qpformat), scikit-image data",
        "CC0 1.0",
        1.0,
    ),
    BaseImage(
        "clock",
        _SK,
        "skimage.data.clock()",
        "Stefan van der Walt",
        "Public domain (released by the photographer)",
        1.5,
    ),
    BaseImage(
        "colorwheel",
        _SK,
        "skimage.data.colorwheel()",
        "the scikit-image team",
        "BSD-3-Clause (scikit-image package licence)",
        1.0,
    ),
    BaseImage(
        "checkerboard",
        _SK,
        "skimage.data.checkerboard()",
        "the scikit-image team",
        "BSD-3-Clause (scikit-image package licence)",
        0.7,
    ),
    BaseImage(
        "grace_hopper",
        _MPL,
        "mpl-data/sample_data/grace_hopper.jpg",
        "U.S. Navy official portrait of Commodore Grace M. Hopper",
        "Public domain (work of the U.S. federal government)",
        2.5,
    ),
    BaseImage(
        "gift",
        _MPL,
        "mpl-data/sample_data/Minduka_Present_Blue_Pack.png",
        "Minduka, openclipart.org (as named by the file)",
        "Public domain (openclipart dedication)",
        1.5,
    ),
)

BY_KEY: dict[str, BaseImage] = {base.key: base for base in BASE_IMAGES}

_LOADERS: dict[str, Callable[[], np.ndarray | Image.Image]] = {
    "astronaut": _skimage("astronaut"),
    "camera": _skimage("camera"),
    "coffee": _skimage("coffee"),
    "chelsea": _skimage("chelsea"),
    "coins": _skimage("coins"),
    "horse": _skimage("horse"),
    "rocket": _skimage("rocket"),
    "hubble": _skimage("hubble_deep_field"),
    "brick": _skimage("brick"),
    "grass": _skimage("grass"),
    "gravel": _skimage("gravel"),
    "text": _skimage("text"),
    "retina": _skimage("retina"),
    "ihc": _skimage("immunohistochemistry"),
    "cell": _skimage("cell"),
    "clock": _skimage("clock"),
    "colorwheel": _skimage("colorwheel"),
    "checkerboard": _skimage("checkerboard"),
    "grace_hopper": _matplotlib("grace_hopper.jpg"),
    "gift": _matplotlib("Minduka_Present_Blue_Pack.png"),
}


@cache
def load_base(key: str) -> Image.Image:
    """The base image as RGB, longest side at most MAX_SIDE (cached: variants reuse it)."""
    raw = _LOADERS[key]()
    if isinstance(raw, np.ndarray):
        if raw.dtype == bool:  # horse is a boolean mask: True is the background
            raw = raw.astype(np.uint8) * 255
        image = Image.fromarray(raw)
    else:
        image = raw
    if image.mode in ("RGBA", "LA", "P"):
        # Transparent clip art goes on white, as a web page would show it.
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(canvas, rgba)
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image = ImageOps.contain(image, (MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return image


@dataclass(frozen=True)
class Variant:
    """How one demo image is made from its base image, step by step in this order."""

    base: str
    crop: tuple[float, float, float, float] | None = None  # left, top, right, bottom fractions
    flip: str | None = None  # "h" or "v"
    rotate: int = 0  # degrees counter-clockwise: 0, 90, 180, 270 or a small tilt
    colour: str = "none"  # none, grey, sepia, hue, warm
    hue_shift: float = 0.0  # fraction of the colour circle, for colour == "hue"
    side: int = MAX_SIDE  # longest side of the result
    quality: int = 90  # JPEG quality
    watermark: str | None = None  # text stamped over the image (stock-photo style)

    def label(self) -> str:
        """Short readable recipe, e.g. ``crop(0.10,0.00,0.90,0.85)+flip_h+grey+384px+q85``."""
        parts: list[str] = []
        if self.crop:
            parts.append("crop({:.2f},{:.2f},{:.2f},{:.2f})".format(*self.crop))
        if self.flip:
            parts.append(f"flip_{self.flip}")
        if self.rotate:
            parts.append(f"rot{self.rotate}")
        if self.colour == "hue":
            parts.append(f"hue({self.hue_shift:+.2f})")
        elif self.colour != "none":
            parts.append(self.colour)
        if self.watermark:
            parts.append("watermark")
        parts.append(f"{self.side}px")
        parts.append(f"q{self.quality}")
        return "+".join(parts)

    def derive(self, **changes: object) -> Variant:
        return replace(self, **changes)  # type: ignore[arg-type]


def _hue_shift(image: Image.Image, shift: float) -> Image.Image:
    hsv = np.asarray(image.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + round(shift * 256)) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _sepia(image: Image.Image) -> Image.Image:
    grey = ImageOps.grayscale(image)
    return ImageOps.colorize(grey, black=(38, 22, 8), white=(255, 240, 200), mid=(160, 120, 80))


def _warm(image: Image.Image) -> Image.Image:
    # A gentle "filter app" look: lift reds, drop blues.
    r, g, b = image.split()
    r = r.point(lambda v: min(255, int(v * 1.12 + 8)))
    b = b.point(lambda v: int(v * 0.85))
    return Image.merge("RGB", (r, g, b))


def _stamp(image: Image.Image, text: str) -> Image.Image:
    """A semi-transparent diagonal-ish text band, like a stock site's preview watermark."""
    width, height = image.size
    size = max(10, width // 12)
    font = ImageFont.load_default(size=size)
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for row in range(3):
        y = int(height * (0.2 + 0.3 * row))
        draw.text(
            (width * 0.08, y),
            text,
            font=font,
            fill=(255, 255, 255, 110),
            stroke_width=1,
            stroke_fill=(0, 0, 0, 60),
        )
    return Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")


def _inner_size(width: int, height: int, angle: float) -> tuple[float, float]:
    """Largest axis-aligned rectangle inside a width x height image rotated by ``angle``."""
    long_side, short_side = max(width, height), min(width, height)
    sin_a, cos_a = abs(math.sin(angle)), abs(math.cos(angle))
    if short_side <= 2 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-10:
        half = short_side / 2
        return (half / sin_a, half / cos_a) if width >= height else (half / cos_a, half / sin_a)
    cos_2a = cos_a * cos_a - sin_a * sin_a
    return (width * cos_a - height * sin_a) / cos_2a, (height * cos_a - width * sin_a) / cos_2a


def render(variant: Variant) -> Image.Image:
    image = load_base(variant.base)
    if variant.crop:
        left, top, right, bottom = variant.crop
        width, height = image.size
        box = (
            round(left * width),
            round(top * height),
            round(right * width),
            round(bottom * height),
        )
        image = image.crop(box)
    if variant.flip == "h":
        image = ImageOps.mirror(image)
    elif variant.flip == "v":
        image = ImageOps.flip(image)
    if variant.rotate in (90, 180, 270):
        image = image.transpose(
            {
                90: Image.Transpose.ROTATE_90,
                180: Image.Transpose.ROTATE_180,
                270: Image.Transpose.ROTATE_270,
            }[variant.rotate]
        )
    elif variant.rotate:
        # A small tilt, then the largest upright rectangle inside it: no black corners.
        width, height = image.size
        inner_w, inner_h = _inner_size(width, height, math.radians(variant.rotate))
        image = image.rotate(variant.rotate, resample=Image.Resampling.BICUBIC)
        left, top = math.ceil((width - inner_w) / 2) + 1, math.ceil((height - inner_h) / 2) + 1
        image = image.crop((left, top, width - left, height - top))
    if variant.colour == "grey":
        image = ImageOps.grayscale(image).convert("RGB")
    elif variant.colour == "sepia":
        image = _sepia(image)
    elif variant.colour == "hue":
        image = _hue_shift(image, variant.hue_shift)
    elif variant.colour == "warm":
        image = _warm(image)
    scale = variant.side / max(image.size)
    if scale != 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    if variant.watermark:
        image = _stamp(image, variant.watermark)
    return image


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    # No EXIF, no timestamp, fixed subsampling: the same recipe always gives the same bytes.
    image.save(buffer, format="JPEG", quality=quality, subsampling=2, optimize=False)
    return buffer.getvalue()
