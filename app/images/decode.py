"""Turn untrusted image bytes into a clean RGB picture, and a picture into JPEG bytes.

Everything that reaches a browser passes through here: the pixel count is checked from the
header before any pixel is decoded (decompression bombs), EXIF orientation is applied and the
EXIF block itself is dropped by re-encoding, and only a handful of common formats are parsed
at all (Pillow knows dozens of rarer ones whose parsers see far less use).
"""

from __future__ import annotations

import io
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

# Formats img2dataset and LAION crawls actually hold (the JPEG opener also yields MPO, the
# multi-picture JPEG some cameras write).
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
JPEG_QUALITY = 85
MEDIA_TYPE = "image/jpeg"

RefusalKind = Literal["not_image", "too_large"]


class ImageRefused(Exception):
    """The bytes are not an image we will decode; ``kind`` is the link status it maps to."""

    def __init__(self, kind: RefusalKind, detail: str) -> None:
        super().__init__(detail)
        self.kind: RefusalKind = kind
        self.detail = detail


def decode_image(data: bytes, max_pixels: int, target: int | None = None) -> Image.Image:
    """Decode ``data`` into an upright RGB image.

    ``target`` (longest side wanted) lets JPEG decode at a reduced scale, which is several
    times faster than decoding full size and shrinking afterwards; the result is still at
    least ``target`` on its longest side when the source is.
    """
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageRefused("too_large", f"decompression bomb refused: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageRefused("not_image", f"not a readable image ({_short(exc)})") from None

    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRefused("not_image", "image has no pixels")
    if width * height > max_pixels:
        raise ImageRefused(
            "too_large", f"{width}x{height} is more than the {max_pixels:,}-pixel limit"
        )
    try:
        if target is not None and image.format in ("JPEG", "MPO"):
            image.draft("RGB", (target, target))
        image.load()
        image = ImageOps.exif_transpose(image) or image
        return _to_rgb(image)
    except Image.DecompressionBombError as exc:
        raise ImageRefused("too_large", f"decompression bomb refused: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Truncated files, bad chunks, unsupported modes: not something we can show.
        raise ImageRefused("not_image", f"image data is damaged ({_short(exc)})") from None


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB on a white background: transparency would otherwise turn black in a JPEG."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        # 16-bit and float greyscale: scale into 8 bits instead of clipping to white.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return image if image.mode == "RGB" else image.convert("RGB")


def resize_to(image: Image.Image, longest_side: int) -> Image.Image:
    """A new image no larger than ``longest_side`` on either side; never enlarged.

    Pillow's thumbnail defaults (bicubic after a box reduction down to twice the target) are
    what a 256-px grid needs and cost a third less than Lanczos here.
    """
    width, height = image.size
    scale = min(longest_side / width, longest_side / height, 1.0)
    if scale == 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)


def encode_jpeg(image: Image.Image) -> bytes:
    """Fresh JPEG bytes with no metadata at all (no EXIF, no ICC, no comments)."""
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
