"""Synthetic tomograms for the demo deposit, tests and benchmarks, written slab by slab."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SLAB_VOXELS = 4 * 1024 * 1024


def write_synthetic_mrc(
    path: Path,
    *,
    shape: tuple[int, int, int],
    voxel_size: float,
    seed: int = 0,
    spheres: int = 12,
    dtype: str = "float32",
    label: str = "cryoet-assets synthetic tomogram",
) -> Path:
    """A float32 (or `dtype`) MRC of smoothed noise, membrane-like spherical shells and a dark lamella slab.

    Memory stays at one slab of planes whatever `shape` is; the header carries `voxel_size` and its
    statistics are computed over the whole volume, as mrcfile would. The one label has no timestamp,
    so the same arguments give the same bytes.
    """
    import mrcfile

    nz, ny, nx = shape
    rng = np.random.default_rng(seed)
    radius = max(2.0, min(shape) / 6)
    centres = rng.uniform([0, 0, 0], [nz, ny, nx], size=(spheres, 3))
    radii = rng.uniform(0.4 * radius, radius, size=spheres)
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    step = max(1, SLAB_VOXELS // (ny * nx))
    minimum, maximum, total, squares = np.inf, -np.inf, 0.0, 0.0
    with mrcfile.new_mmap(str(path), shape=shape, mrc_mode=_MODES[dtype], overwrite=True) as mrc:
        mrc.voxel_size = voxel_size
        for z0 in range(0, nz, step):
            z1 = min(nz, z0 + step)
            slab = rng.standard_normal((z1 - z0, ny, nx), dtype=np.float32)
            slab[:, 1:-1, :] = 0.25 * slab[:, :-2, :] + 0.5 * slab[:, 1:-1, :] + 0.25 * slab[:, 2:, :]
            slab[:, :, 1:-1] = 0.25 * slab[:, :, :-2] + 0.5 * slab[:, :, 1:-1] + 0.25 * slab[:, :, 2:]
            for i, z in enumerate(range(z0, z1)):
                plane = slab[i]
                for (cz, cy, cx), r in zip(centres, radii):
                    if abs(z - cz) >= r + 2:
                        continue
                    ring = np.sqrt(max(r * r - (z - cz) ** 2, 0.0))
                    y0, y1 = max(0, int(cy - ring) - 4), min(ny, int(cy + ring) + 5)
                    x0, x1 = max(0, int(cx - ring) - 4), min(nx, int(cx + ring) + 5)
                    if y0 >= y1 or x0 >= x1:
                        continue
                    box = np.sqrt((yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2)
                    plane[y0:y1, x0:x1] -= 2.0 * np.exp(-((box - ring) ** 2) / 2.0)
                # A lamella edge: the top and bottom tenth of z are empty ice.
                if z < nz // 10 or z >= nz - nz // 10:
                    plane *= 0.3
            values = slab.astype(mrc.data.dtype) if dtype != "float32" else slab
            mrc.data[z0:z1] = values
            minimum = min(minimum, float(values.min()))
            maximum = max(maximum, float(values.max()))
            wide = values.astype(np.float64)
            total += float(wide.sum())
            squares += float(np.dot(wide.ravel(), wide.ravel()))
        count = nz * ny * nx
        mean = total / count
        mrc.header.dmin, mrc.header.dmax, mrc.header.dmean = minimum, maximum, mean
        mrc.header.rms = float(np.sqrt(max(squares / count - mean * mean, 0.0)))
        mrc.header.label[0] = label.encode("ascii")
        mrc.header.nlabl = 1
    return path


_MODES = {"int8": 0, "int16": 1, "float32": 2, "uint16": 6, "float16": 12}
