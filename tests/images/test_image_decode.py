"""Decoding untrusted bytes: formats, pixel limit, orientation, metadata stripped."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.images.decode import ImageRefused, decode_image, encode_jpeg, resize_to
from tests.images.conftest import image_bytes, png_bomb


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_common_formats(fmt):
    image = decode_image(image_bytes(40, 30, fmt=fmt), max_pixels=10_000)
    assert image.size == (40, 30) and image.mode == "RGB"


def test_transparency_becomes_white():
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    out = io.BytesIO()
    rgba.save(out, format="PNG")
    assert decode_image(out.getvalue(), 1000).getpixel((5, 5)) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    grey = Image.new("I;16", (4, 4), 32768)
    out = io.BytesIO()
    grey.save(out, format="PNG")
    r, g, b = decode_image(out.getvalue(), 1000).getpixel((0, 0))
    assert 100 < r < 160 and r == g == b


def test_exif_orientation_applied_and_exif_stripped():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "editor 1.0"  # Software
    source = image_bytes(40, 20, exif=exif)
    assert Image.open(io.BytesIO(source)).getexif().get(0x010F) == "SecretCam"
    image = decode_image(source, 10_000)
    assert image.size == (20, 40)
    # The white quarter was top-left; after a clockwise turn it is top-right.
    assert image.getpixel((17, 3)) == pytest.approx((255, 255, 255), abs=8)
    out = Image.open(io.BytesIO(encode_jpeg(image)))
    assert len(out.getexif()) == 0 and "exif" not in out.info and "icc_profile" not in out.info


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<html><body>404</body></html>",
        b"GIF89a garbage",
        image_bytes()[:200],
        b"%PDF-1.4 not an image",
    ],
)
def test_not_images(data):
    with pytest.raises(ImageRefused) as refused:
        decode_image(data, 10_000)
    assert refused.value.kind == "not_image"


def test_pixel_limit_and_bombs():
    with pytest.raises(ImageRefused) as over_limit:
        decode_image(png_bomb(2_000, 2_000), max_pixels=1_000_000)
    assert over_limit.value.kind == "too_large"
    with pytest.raises(ImageRefused) as bomb:
        decode_image(png_bomb(100_000, 100_000), max_pixels=10**12)  # Pillow's own guard
    assert bomb.value.kind == "too_large"


def test_unlisted_formats_refused():
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PCX")
    with pytest.raises(ImageRefused):
        decode_image(out.getvalue(), 1000)


def test_reduced_decode_and_resize():
    image = decode_image(image_bytes(2000, 1000), 10_000_000, target=256)
    assert max(image.size) >= 256 and image.size[0] < 2000  # JPEG draft mode used
    small = resize_to(image, 256)
    assert small.size == (256, 128)
    assert resize_to(Image.new("RGB", (10, 5)), 256).size == (10, 5)  # never enlarged
