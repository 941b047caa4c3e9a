"""Key image previews: small PNGs of the right size, inline in Markdown."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from cryoet_assets.lib.thumbnail import markdown_image, png_thumbnail

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode(pixels: np.ndarray, *, mode: str, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(buffer, format=format)
    return buffer.getvalue()


def decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_worst_case_noise_becomes_a_4_bit_png_of_a_few_kb():
    noise = (np.random.default_rng(0).random((384, 512)) * 255).astype(np.uint8)
    source = encode(noise, mode="L")
    png = png_thumbnail(source)
    assert png.startswith(PNG_SIGNATURE)
    assert decoded(png).size == (128, 96)
    assert png[24] == 4  # IHDR bit depth: 16 grey levels at 4 bits a pixel
    assert len(png) < 128 * 96 // 2 + 1024 < len(source) // 20
    assert len(png) > 1000  # noise does not compress: the bound above is the one that matters


def test_aspect_is_kept_and_small_pictures_are_not_enlarged():
    tall = encode(np.zeros((300, 100, 3), dtype=np.uint8), mode="RGB", format="JPEG")
    assert decoded(png_thumbnail(tall)).size == (43, 128)
    small = encode(np.full((40, 50), 200, dtype=np.uint8), mode="L")
    assert decoded(png_thumbnail(small)).size == (50, 40)
    assert decoded(png_thumbnail(small, max_pixels=10)).size == (10, 8)


def test_grey_levels_are_kept_and_16_bit_pictures_are_stretched():
    ramp = np.tile(np.arange(0, 256, 17, dtype=np.uint8), (8, 1))  # 16 levels, 0..255
    grey = decoded(png_thumbnail(encode(ramp, mode="L"))).convert("L")
    assert np.array_equal(np.asarray(grey)[0], ramp[0])
    deep = np.tile(np.array([1000, 3000], dtype=np.uint16), (4, 2))
    buffer = io.BytesIO()
    Image.fromarray(deep).save(buffer, format="PNG")
    stretched = np.asarray(decoded(png_thumbnail(buffer.getvalue())).convert("L"))
    assert stretched.min() == 0 and stretched.max() == 255


def test_transparent_colour_pictures_are_shown_on_white():
    pixels = np.zeros((10, 10, 4), dtype=np.uint8)
    pixels[:, :5] = (255, 0, 0, 255)
    rgb = np.asarray(decoded(png_thumbnail(encode(pixels, mode="RGBA"))).convert("RGB"))
    assert tuple(rgb[0, 0]) == (255, 0, 0) and tuple(rgb[0, 9]) == (255, 255, 255)


@pytest.mark.parametrize("data", [b"", b"%PDF-1.4 not a picture", PNG_SIGNATURE + b"\x00" * 10])
def test_bytes_that_are_not_a_picture_are_a_value_error(data):
    with pytest.raises(ValueError, match="not an image that can be previewed"):
        png_thumbnail(data)


def test_markdown_image_embeds_the_png_as_a_data_uri():
    png = png_thumbnail(encode(np.full((8, 8), 7, dtype=np.uint8), mode="L"))
    text = markdown_image(png, alt="key image [100]")
    match = re.fullmatch(r"!\[key image \(100\)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", text)
    assert match and base64.b64decode(match.group(1)) == png
