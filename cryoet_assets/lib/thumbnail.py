"""Small PNG previews of key images and key photos, for embedding in Markdown."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryoet_assets.lib.storage import Bucket

THUMBNAIL_MAX_PIXELS = 128
THUMBNAIL_COLOURS = 16


def png_thumbnail(image: bytes, *, max_pixels: int = THUMBNAIL_MAX_PIXELS) -> bytes:
    """A PNG preview of `image` (any format Pillow reads: PNG, JPEG, GIF, ...), at most `max_pixels` a side.

    The aspect ratio is kept and a smaller image is not enlarged. The preview has a palette of at most
    16 grey levels or colours, so PNG stores it with 4 bits a pixel: a 128 × 128 preview is at most about
    8 KB whatever the picture. Animated images give their first frame.

    Raises ValueError when the bytes are not an image Pillow can decode, or when `max_pixels` < 1.
    """
    from PIL import Image, UnidentifiedImageError

    if max_pixels < 1:
        raise ValueError(f"max_pixels must be at least 1, not {max_pixels}")
    try:
        with Image.open(io.BytesIO(image)) as opened:
            opened.seek(0)
            picture = _display_mode(opened)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not an image that can be previewed: {exc}") from exc
    picture.thumbnail((max_pixels, max_pixels), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.quantize(colors=THUMBNAIL_COLOURS).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _display_mode(picture):
    """Grey pictures as 8-bit grey ("L"), others as RGB with any transparency composited on white."""
    from PIL import Image

    if picture.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return _stretch_to_grey(picture)
    if picture.mode in ("1", "L"):
        return picture.convert("L")
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return picture.convert("RGB")


def _stretch_to_grey(picture):
    """16-bit or float pictures scaled from their own minimum and maximum to 8-bit grey."""
    import numpy as np
    from PIL import Image

    values = np.asarray(picture, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    scale = 255.0 / (high - low) if high > low else 0.0
    return Image.fromarray(((values - low) * scale).astype(np.uint8), mode="L")


def markdown_image(png: bytes, *, alt: str) -> str:
    """`![alt](data:image/png;base64,...)`: a PNG inline in Markdown (keep it small: it is stored as text)."""
    text = alt.replace("[", "(").replace("]", ")")
    return f"![{text}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def stored_image_markdown(bucket: Bucket, key: str, *, alt: str) -> str:
    """A preview of the image at `key` of `bucket` as inline Markdown, or a line saying why there is none.

    A missing or undecodable image is not an error here: the key photo checks report it.
    """
    try:
        return markdown_image(png_thumbnail(bucket.read_bytes(key)), alt=alt)
    except FileNotFoundError:
        return f"{alt}: {bucket.uri(key)} does not exist"
    except ValueError as exc:
        return f"{alt}: {bucket.uri(key)} is {exc}"
