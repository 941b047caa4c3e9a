"""How an OME-Zarr pyramid level is made from the level below: a downsampling strategy per kind of volume.

Each strategy halves the axes its `factors` name (z, y, x order) and keeps the others; `reduce` writes the
reduced block into `out` and may spoil `block`. A block cut by the array edge counts missing voxels as 0, as
the portal's `skimage.measure.block_reduce(..., np.mean)` does (it pads with zeros; facts §2.4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pyramid:
    """A downsampling strategy: `factors` (z, y, x), each 1 or 2, and `reduce(block, out)`."""

    name: str
    factors: tuple[int, int, int]
    reduce: Callable[[np.ndarray, np.ndarray], None]

    def level_shapes(self, shape: tuple[int, int, int], levels: int) -> list[tuple[int, int, int]]:
        """Shapes (z, y, x) of `levels` levels: ceil(n / factor^level) on each axis."""
        return [tuple(-(-n // f**level) for n, f in zip(shape, self.factors)) for level in range(levels)]

    def scale(self, spacing: float, level: int) -> list[float]:
        """The NGFF scale (z, y, x) in Å of `level` for a level-0 voxel spacing `spacing` Å."""
        return [spacing * f**level for f in self.factors]


def _pair_sum(block: np.ndarray, axis: int) -> np.ndarray:
    """Sums each pair of planes along `axis` in place onto the pair's first plane; returns those planes.

    An unpaired last plane is its own sum (its partner outside the array counts as 0).
    """
    n = block.shape[axis]
    half = n // 2
    first = [slice(None)] * 3
    second = [slice(None)] * 3
    first[axis], second[axis] = slice(0, 2 * half, 2), slice(1, 2 * half, 2)
    np.add(block[tuple(first)], block[tuple(second)], out=block[tuple(first)])
    every = [slice(None)] * 3
    every[axis] = slice(0, None, 2)
    return block[tuple(every)]


def _mean_2x2x2(block: np.ndarray, out: np.ndarray) -> None:
    nz, ny, nx = block.shape
    hz, hy, hx = nz // 2, ny // 2, nx // 2
    # Pair sums land on the even index of each pair; an unpaired last plane/row is its own sum.
    np.add(block[0 : 2 * hz : 2], block[1 : 2 * hz : 2], out=block[0 : 2 * hz : 2])
    planes = block[0::2]
    np.add(planes[:, 0 : 2 * hy : 2], planes[:, 1 : 2 * hy : 2], out=planes[:, 0 : 2 * hy : 2])
    rows = planes[:, 0::2]
    np.add(rows[:, :, 0 : 2 * hx : 2], rows[:, :, 1 : 2 * hx : 2], out=out[:, :, :hx])
    if nx % 2:
        out[:, :, hx] = rows[:, :, nx - 1]
    out *= 0.125


def _mean_yx(block: np.ndarray, out: np.ndarray) -> None:
    rows = _pair_sum(block, 1)
    out[...] = _pair_sum(rows, 2)
    out *= 0.25


def _nearest(block: np.ndarray, out: np.ndarray) -> None:
    out[...] = block[::2, ::2, ::2]


# Tomograms: every axis halved by the 2×2×2 block mean (facts §2.4).
MEAN_2X2X2 = Pyramid("mean 2x2x2", (2, 2, 2), _mean_2x2x2)
# Tilt series: z is the tilt axis, so only y and x are averaged.
MEAN_YX = Pyramid("mean y,x", (1, 2, 2), _mean_yx)
# Label volumes (segmentation masks): a label is never averaged with its neighbours; the first voxel of
# each 2×2×2 block is kept.
NEAREST_LABELS = Pyramid("nearest labels", (2, 2, 2), _nearest)
