"""Tomogram key images: the projection of the central z-slices and the portal's four PNG previews (facts §3).

The projection is the mean of the `PROJECTION_DEPTH` central planes, accumulated while the converter streams
the volume. It is normalized to ±3σ around its mean. `original` is that image as is; the other three are
turned to landscape if portrait, cropped in the centre to 4:3 and resized to their width, with height
`width * 3 // 4` (134x100, 512x384, 1024x768: the portal's minimum heights are 100 and 384).
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

PROJECTION_DEPTH = 40
KEY_IMAGE_WIDTHS = {"thumbnail": 134, "snapshot": 512, "expanded": 1024}
KEY_IMAGE_NAMES = ("original", "thumbnail", "snapshot", "expanded")
ASPECT_WIDTH, ASPECT_HEIGHT = 4, 3
SIGMAS = 3.0


def central_slab(nz: int, *, depth: int = PROJECTION_DEPTH) -> tuple[int, int]:
    """[start, stop) of the `depth` planes around plane nz // 2 (start = nz // 2 - depth // 2); all if fewer.

    This is the portal's own slicing. For an even depth and an odd nz - depth, the spare plane is left out
    at the high-z end (nz=41: planes 0-39).
    """
    if nz < 0 or depth < 1:
        raise ValueError(f"central slab needs nz >= 0 and depth >= 1, not nz={nz}, depth={depth}")
    if nz <= depth:
        return 0, nz
    start = nz // 2 - depth // 2
    return start, start + depth


def _plane_ranges(planes: list[int]) -> str:
    runs: list[str] = []
    first = previous = planes[0]
    for z in [*planes[1:], None]:
        if z is not None and z == previous + 1:
            previous = z
            continue
        runs.append(str(first) if first == previous else f"{first}-{previous}")
        if z is not None:
            first = previous = z
    return ", ".join(runs)


class ProjectionAccumulator:
    """Sum of the central planes of a (nz, ny, nx) volume, fed slab by slab in any order."""

    def __init__(self, shape: tuple[int, int, int], *, depth: int = PROJECTION_DEPTH) -> None:
        nz, ny, nx = (int(n) for n in shape)
        self.shape = (nz, ny, nx)
        self.start, self.stop = central_slab(nz, depth=depth)
        # float32 is plenty for a mean of 40 planes and halves the one plane-sized buffer held.
        self._sum = np.zeros((ny, nx), dtype=np.float32)
        self._rows_seen = np.zeros((self.stop - self.start, ny), dtype=bool)

    def add(self, z0: int, planes: np.ndarray, *, y0: int = 0) -> None:
        """Add the planes z0, z0+1, ... of `planes` (k, rows, nx) that fall inside the central slab.

        `planes` may hold a band of rows of each plane, starting at row `y0` (whole planes by default).
        """
        ny, nx = self._sum.shape
        if planes.ndim != 3 or planes.shape[2] != nx or y0 < 0 or y0 + planes.shape[1] > ny:
            raise ValueError(
                f"a slab of planes must have shape (k, rows, {nx}) within {ny} rows, not {planes.shape} at row {y0}"
            )
        if not (np.issubdtype(planes.dtype, np.integer) or np.issubdtype(planes.dtype, np.floating)):
            raise ValueError(f"key-image planes must be real numbers, not {planes.dtype}")
        y1 = y0 + planes.shape[1]
        lo = max(z0, self.start)
        hi = min(z0 + planes.shape[0], self.stop)
        for z in range(lo, hi):
            seen = self._rows_seen[z - self.start, y0:y1]
            if seen.any():
                raise ValueError(f"plane {z} was added to the key-image projection twice")
            # In place, so no second plane-sized buffer is made.
            np.add(self._sum[y0:y1], planes[z - z0], out=self._sum[y0:y1])
            seen[:] = True

    def projection(self) -> np.ndarray:
        """The float32 (ny, nx) mean of the central planes; ValueError if any of them was not added."""
        if self.stop == self.start:
            raise ValueError(f"a volume of shape {self.shape} has no planes to project")
        missing = [self.start + int(i) for i in np.flatnonzero(~self._rows_seen.all(axis=1))]
        if missing:
            raise ValueError(
                f"key-image projection is missing planes {_plane_ranges(missing)} "
                f"of the central slab {self.start}-{self.stop - 1}"
            )
        mean = np.empty(self._sum.shape, dtype=np.float32)
        return np.divide(self._sum, self.stop - self.start, out=mean, casting="same_kind")


def normalize(projection: np.ndarray) -> np.ndarray:
    """uint8 image of `projection`: mean ± 3σ to 0..255, clipped; a constant image is mid-grey (128)."""
    values = np.asarray(projection)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a key-image projection must be a non-empty 2-D array, not shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("key-image projection has NaN or infinite values")
    # One float32 copy is the only plane-sized temporary (a 4096² plane is 64 MB).
    scaled = values.astype(np.float32)
    scaled -= np.float32(values.mean(dtype=np.float64))
    flat = scaled.reshape(-1)
    sigma = math.sqrt(float(np.dot(flat, flat)) / flat.size)
    if sigma == 0:
        return np.full(values.shape, 128, dtype=np.uint8)
    # (x - (mean - 3σ)) · 255 / 6σ, i.e. the mean lands on 127.5.
    scaled *= np.float32(255.0 / (2 * SIGMAS * sigma))
    scaled += np.float32(127.5)
    return np.rint(np.clip(scaled, 0, 255, out=scaled), out=scaled).astype(np.uint8)


def landscape_crop(image: np.ndarray) -> np.ndarray:
    """`image` turned a quarter counter-clockwise if portrait, then its largest centred 4:3 part."""
    if image.shape[0] > image.shape[1]:
        image = np.rot90(image)
    height, width = image.shape
    if width * ASPECT_HEIGHT > height * ASPECT_WIDTH:
        crop_height, crop_width = height, max(1, height * ASPECT_WIDTH // ASPECT_HEIGHT)
    else:
        crop_height, crop_width = max(1, width * ASPECT_HEIGHT // ASPECT_WIDTH), width
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    return image[top : top + crop_height, left : left + crop_width]


def key_image_size(name: str, projection_shape: tuple[int, int]) -> tuple[int, int]:
    """(width, height) in pixels of the key image `name` made from a (ny, nx) projection."""
    if name == "original":
        return projection_shape[1], projection_shape[0]
    width = KEY_IMAGE_WIDTHS[name]
    return width, width * ASPECT_HEIGHT // ASPECT_WIDTH


def _png(image: Image.Image) -> bytes:
    # Pillow writes no time or text chunks unless asked, so equal pixels give equal bytes. zlib's fastest level:
    # on a smooth 1024×768 projection it encodes in a quarter of level 6's time (36 ms against 165 ms) for a
    # file 20 % larger; on a noisy one both take the same time for the same size.
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def render_key_images(projection: np.ndarray) -> dict[str, bytes]:
    """Greyscale 8-bit PNG bytes of the four key images (KEY_IMAGE_NAMES) of a (ny, nx) projection."""
    from PIL import Image

    grey = normalize(projection)
    images = {"original": _png(Image.fromarray(grey))}
    cropped = Image.fromarray(np.ascontiguousarray(landscape_crop(grey)))
    for name in KEY_IMAGE_NAMES[1:]:
        size = key_image_size(name, grey.shape)
        resized = cropped if cropped.size == size else cropped.resize(size, resample=Image.Resampling.LANCZOS)
        images[name] = _png(resized)
    return images
