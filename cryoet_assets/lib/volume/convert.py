"""Streaming tomogram standardization: one float32 MRC and a 3-level OME-Zarr pyramid (facts §2.4).

Two passes run side by side over the memory-mapped input. The MRC pass walks the planes in order,
writing them out while it computes the header statistics and the key-image projection. The pyramid
pass walks the zarr chunks depth-first through the levels (each level-2 chunk is made of its 8 level-1
chunks, each of those of its 8 level-0 chunks), so one chunk buffer per level is all it holds, whatever
the volume size. Chunks are compressed with the array's own codec and stored at the array's own chunk
keys; zarr itself creates the arrays and is used to read them back.
"""

from __future__ import annotations

import json
import math
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np

from cryoet_assets.lib.mrc_header import EXTENDED_HEADER_TYPES, HEADER_BYTES
from cryoet_assets.lib.volume.key_images import ProjectionAccumulator
from cryoet_assets.lib.volume.memory import reuse_freed_memory
from cryoet_assets.lib.volume.pyramid import MEAN_2X2X2, Pyramid
from cryoet_assets.lib.volume.sources import VolumeError, VolumeSource

CHUNK = 256
LEVELS = 3
MRC_SLAB_VOXELS = 2 * 1024 * 1024
STATS_PIECE = 128 * 1024
LABEL_TEXT = "Validated by cryoET data portal."


@dataclass
class VolumeStats:
    """Running min, max, mean and rms (standard deviation, as MRC2014 means it) over float32 slabs.

    Slabs are taken in cache-sized pieces; each piece's squares are summed around a shift (the first
    piece's mean) so float32 dot products stay accurate for data far from zero, and pieces are merged
    in float64 with Chan's formula.
    """

    count: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    mean: float = 0.0
    m2: float = 0.0
    shift: float | None = None
    _scratch: np.ndarray | None = field(default=None, repr=False)

    def add(self, slab: np.ndarray, *, where: str) -> None:
        flat = slab.reshape(-1)
        for start in range(0, flat.size, STATS_PIECE):
            self._add_piece(flat[start : start + STATS_PIECE], where=where)

    def _add_piece(self, piece: np.ndarray, *, where: str) -> None:
        low, high = float(piece.min()), float(piece.max())
        if not (math.isfinite(low) and math.isfinite(high)):
            bad = int(np.count_nonzero(~np.isfinite(piece)))
            raise VolumeError(f"{where}: {bad} of {piece.size} voxels are NaN or infinite")
        n = piece.size
        if self.shift is None:
            self.shift = float(np.float32(piece.mean(dtype=np.float64)))
        if self._scratch is None:
            self._scratch = np.empty(STATS_PIECE, dtype=np.float32)
        centred = self._scratch[:n]
        np.subtract(piece, np.float32(self.shift), out=centred)
        total = float(centred.sum(dtype=np.float64))
        squares = float(np.dot(centred, centred))
        mean = total / n
        m2 = max(squares - total * mean, 0.0)
        mean += self.shift
        count = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / count
        self.m2 += m2 + delta * delta * self.count * n / count
        self.count = count
        self.minimum = min(self.minimum, low)
        self.maximum = max(self.maximum, high)

    @property
    def rms(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count else 0.0


@dataclass
class Conversion:
    """What one conversion wrote, for the metadata document and the asset's materialization."""

    mrc_path: Path
    zarr_path: Path
    voxel_spacing: float
    scales: list[dict[str, int]]
    stats: VolumeStats
    projection: np.ndarray
    seconds: float
    warnings: list[str] = field(default_factory=list)  # the source's, then what the conversion dropped


def level_shapes(
    shape: tuple[int, int, int], levels: int = LEVELS, *, pyramid: Pyramid = MEAN_2X2X2
) -> list[tuple[int, int, int]]:
    """Shapes of the pyramid levels: ceil(n / 2^i) on every axis `pyramid` halves (facts §2.4)."""
    return pyramid.level_shapes(shape, levels)


def convert_tomogram(
    source: VolumeSource,
    *,
    voxel_spacing: float,
    mrc_path: Path,
    zarr_path: Path,
    chunk: int = CHUNK,
    chunks_in_flight: int = 1,
    progress: Callable[[int, int], None] | None = None,
    pyramid: Pyramid = MEAN_2X2X2,
) -> Conversion:
    """Write `mrc_path` and `zarr_path` from `source` (z, y, x) at `voxel_spacing` Å (isotropic).

    The MRC has the portal's header (facts §2.4) with axes 1, 2, 3; an extended header is carried over
    only when its exttyp is one MRC2014 names, as the gate accepts no other (facts §4.1). Raises
    VolumeError naming the source for bad data (NaN or infinite voxels, non-positive spacing).

    `progress(planes_written, planes)` is called from the MRC pass's thread after each slab of z planes.
    `pyramid` is the downsampling strategy of the OME-Zarr levels (a tomogram's 2×2×2 mean by default).
    """
    started = time.perf_counter()
    spacing = round(float(voxel_spacing), 3)
    if not spacing > 0:
        raise VolumeError(f"{source.display_name}: voxel spacing {voxel_spacing!r} must be positive")
    name = source.display_name
    notes = list(source.warnings)
    extended = _carried_extended_header(source, notes)
    abort = threading.Event()
    projection = ProjectionAccumulator(source.shape)
    stats = VolumeStats()
    failures: list[BaseException] = []

    def mrc_pass() -> None:
        try:
            _write_mrc_data(
                source, mrc_path, offset=HEADER_BYTES + len(extended), stats=stats, projection=projection,
                abort=abort, where=name, progress=progress,
            )
        except BaseException as exc:  # handed to the calling thread
            failures.append(exc)
            abort.set()

    _create_mrc(source, mrc_path, spacing=spacing, extended_header=extended)
    worker = threading.Thread(target=mrc_pass, name="mrc-pass", daemon=True)
    worker.start()
    try:
        _write_pyramid(
            source, zarr_path, chunk=chunk, abort=abort, chunks_in_flight=chunks_in_flight, strategy=pyramid
        )
    except _Aborted:
        pass
    except BaseException:
        abort.set()
        raise
    finally:
        worker.join()
    if failures:
        raise failures[0]
    _finish_mrc(mrc_path, stats=stats)
    shapes = level_shapes(source.shape, pyramid=pyramid)
    _write_ngff_metadata(zarr_path, spacing=spacing, levels=len(shapes), pyramid=pyramid)
    return Conversion(
        mrc_path=mrc_path,
        zarr_path=zarr_path,
        voxel_spacing=spacing,
        scales=[{"z": z, "y": y, "x": x} for z, y, x in shapes],
        stats=stats,
        projection=projection.projection(),
        seconds=time.perf_counter() - started,
        warnings=notes,
    )


def _carried_extended_header(source: VolumeSource, notes: list[str]) -> bytes:
    """The source's extended header when its exttyp is a recognised one, else nothing (and a note why)."""
    carried = source.carried
    if not carried.extended_header or carried.exttyp in EXTENDED_HEADER_TYPES:
        return carried.extended_header
    notes.append(
        f"{source.display_name}: the {len(carried.extended_header)}-byte extended header has exttyp "
        f"{carried.exttyp!r}, not one of {', '.join(t.decode() for t in EXTENDED_HEADER_TYPES)}; "
        "it is not carried over (nsymbt 0, exttyp MRCO)"
    )
    return b""


def _create_mrc(source: VolumeSource, path: Path, *, spacing: float, extended_header: bytes) -> None:
    """The output MRC's header (portal rules) over a not-yet-written data block of the right size."""
    import mrcfile

    carried = source.carried
    extended = np.frombuffer(extended_header, dtype="V1") if extended_header else None
    with mrcfile.new_mmap(
        str(path),
        shape=source.shape,
        mrc_mode=2,
        overwrite=True,
        extended_header=extended,
        exttyp=carried.exttyp if extended is not None else None,
    ) as mrc:
        header = mrc.header
        mrc.voxel_size = spacing  # cella = spacing × m, and new_mmap made m equal to n
        if extended is None:
            header.exttyp = b"MRCO"
        if carried.extra1:
            header.extra1 = np.frombuffer(carried.extra1, dtype=header.extra1.dtype)[0]
        if carried.extra2:
            header.extra2 = np.frombuffer(carried.extra2, dtype=header.extra2.dtype)[0]


def _write_mrc_data(
    source: VolumeSource,
    path: Path,
    *,
    offset: int,
    stats: VolumeStats,
    projection: ProjectionAccumulator,
    abort: threading.Event,
    where: str,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Planes in file order, a few at a time, or a band of rows at a time when one plane is already large."""
    nz, ny, nx = source.shape
    row_bytes = nx * 4
    planes = max(1, MRC_SLAB_VOXELS // (ny * nx))
    rows = ny if planes > 1 else max(1, min(ny, MRC_SLAB_VOXELS // nx))
    buffer: np.ndarray | None = None
    fd = os.open(path, os.O_WRONLY)
    try:
        for z0 in range(0, nz, planes):
            z1 = min(nz, z0 + planes)
            for y0 in range(0, ny, rows):
                if abort.is_set():
                    return
                y1 = min(ny, y0 + rows)
                z, y = slice(z0, z1), slice(y0, y1)
                block = source.view(z, y)
                if block is None:
                    if buffer is None:
                        buffer = np.empty((planes, rows, nx), dtype=np.float32)
                    block = buffer[: z1 - z0, : y1 - y0]
                    source.read_block(block, z, y, slice(None))
                stats.add(block, where=f"{where} planes {z0}-{z1 - 1}")
                projection.add(z0, block, y0=y0)
                # Whole planes, or one plane's band of rows: either way one contiguous range of the file.
                _pwrite_all(fd, memoryview(np.ascontiguousarray(block)).cast("B"), offset + (z0 * ny + y0) * row_bytes)
                source.release(z0, z1, y0, y1)
            if progress:
                progress(z1, nz)
    finally:
        os.close(fd)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written


def _finish_mrc(path: Path, *, stats: VolumeStats) -> None:
    """Statistics and the portal's label into the header, rewriting only the header's bytes.

    (Opening the file with mrcfile again would map the data and flush it to disk on close.)
    """
    import mrcfile.dtypes

    stamp = time.strftime("%a %b %d %H:%M:%S %Y")
    with open(path, "r+b") as handle:
        header = np.frombuffer(handle.read(HEADER_BYTES), dtype=mrcfile.dtypes.HEADER_DTYPE).copy()[0]
        header["dmin"] = stats.minimum
        header["dmax"] = stats.maximum
        header["dmean"] = stats.mean
        header["rms"] = stats.rms
        header["label"][0] = f"{LABEL_TEXT:<40}{stamp:>39}".encode("ascii")
        header["nlabl"] = 1
        handle.seek(0)
        handle.write(header.tobytes())


def _write_pyramid(
    source: VolumeSource,
    zarr_path: Path,
    *,
    chunk: int,
    abort: threading.Event,
    chunks_in_flight: int,
    strategy: Pyramid,
) -> None:
    import numcodecs
    import zarr

    shapes = level_shapes(source.shape, pyramid=strategy)
    codec = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    group = zarr.open_group(str(zarr_path), mode="w", zarr_format=2)
    for level, shape in enumerate(shapes):
        group.create_array(
            str(level),
            shape=shape,
            chunks=(chunk,) * 3,
            dtype="<f4",
            compressors=codec,
            fill_value=0,
            order="C",
            chunk_key_encoding={"name": "v2", "separator": "/"},
        )
        # zarr-python 3 writes an empty `.zattrs` beside every v2 array; the portal's arrays have none.
        attributes = zarr_path / str(level) / ".zattrs"
        if attributes.is_file() and json.loads(attributes.read_text()) == {}:
            attributes.unlink()
    writer = _ChunkWriter(zarr_path, depth=chunks_in_flight)
    pyramid = _Pyramid(source, shapes, chunk=chunk, codec=codec, writer=writer, abort=abort, strategy=strategy)
    previous = (numcodecs.blosc.use_threads, numcodecs.blosc.get_nthreads())
    # Blosc's own threads compress each chunk on both cores; the MRC pass and the file writes
    # release the GIL and overlap with it.
    numcodecs.blosc.use_threads = True
    numcodecs.blosc.set_nthreads(2)
    try:
        # The chunk buffers above were mapped before this block, so their untouched pages cost nothing; from
        # here, what an encoded chunk frees is kept for the next one.
        with reuse_freed_memory():
            top = len(shapes) - 1
            for index in product(*(range(-(-n // chunk)) for n in shapes[top])):
                pyramid.chunk(top, index)
    finally:
        numcodecs.blosc.use_threads = previous[0]
        numcodecs.blosc.set_nthreads(previous[1])
        writer.close()


class _ChunkWriter:
    """Stores encoded chunks from a thread of its own; at most `depth` encoded chunks exist at once.

    `reserve()` is called before encoding a chunk and blocks while `depth` chunks are still waiting
    to be written, so encoding the next chunk overlaps with writing the previous one and memory stays
    bounded.
    """

    def __init__(self, root: Path, *, depth: int) -> None:
        self.root = root
        self._slots = threading.Semaphore(max(1, depth))
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="zarr-writer", daemon=True)
        self._thread.start()

    def reserve(self) -> None:
        self._slots.acquire()
        if self._error is not None:
            self._slots.release()
            raise self._error

    def put(self, key: str, data: bytes) -> None:
        self._queue.put((key, data))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            key, data = item
            del item
            try:
                if self._error is None:
                    path = self.root / key
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with open(path, "wb") as handle:
                        handle.write(data)
            except BaseException as exc:  # surfaced by reserve() or close()
                self._error = exc
            finally:
                del data
                self._slots.release()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class _Pyramid:
    """Depth-first chunk walk: a chunk of level L is `strategy`'s reduction of its children of level L-1."""

    def __init__(
        self,
        source: VolumeSource,
        shapes: list[tuple[int, int, int]],
        *,
        chunk: int,
        codec,
        writer: _ChunkWriter,
        abort: threading.Event,
        strategy: Pyramid,
    ) -> None:
        self.source = source
        self.strategy = strategy
        self.shapes = shapes
        self.size = chunk
        self.codec = codec
        self.writer = writer
        self.abort = abort
        # np.zeros maps untouched pages lazily: a volume smaller than one chunk never touches most of them.
        self.buffers = [np.zeros((chunk,) * 3, dtype=np.float32) for _ in shapes]
        self.filled = [(0, 0, 0) for _ in shapes]

    def chunk(self, level: int, index: tuple[int, int, int]) -> tuple[np.ndarray, tuple[int, int, int]]:
        """Fill, store and return the buffer of chunk `index` of `level` and its extent inside the array."""
        if self.abort.is_set():
            raise _Aborted()
        size = self.size
        start = tuple(i * size for i in index)
        extent = tuple(min(size, n - s) for n, s in zip(self.shapes[level], start))
        buffer = self.buffers[level]
        _zero_outside(buffer, extent, self.filled[level])
        self.filled[level] = extent
        if level == 0:
            z, y, x = (slice(s, s + e) for s, e in zip(start, extent))
            self.source.read_block(buffer[: extent[0], : extent[1], : extent[2]], z, y, x)
        else:
            factors = self.strategy.factors
            below = self.shapes[level - 1]
            for offset in product(*((0, 1) if f == 2 else (0,) for f in factors)):
                child = tuple(f * i + o for i, o, f in zip(index, offset, factors))
                if any(c * size >= n for c, n in zip(child, below)):
                    continue
                child_buffer, child_extent = self.chunk(level - 1, child)
                out = tuple(
                    slice(o * (size // f), o * (size // f) + -(-e // f))
                    for o, e, f in zip(offset, child_extent, factors)
                )
                self.strategy.reduce(
                    child_buffer[: child_extent[0], : child_extent[1], : child_extent[2]], buffer[out]
                )
        key = f"{level}/{index[0]}/{index[1]}/{index[2]}"
        self.writer.reserve()
        self.writer.put(key, self.codec.encode(buffer))
        return buffer, extent


class _Aborted(Exception):
    """The MRC pass failed; the pyramid pass stops and the MRC pass's error is raised instead."""


def _zero_outside(buffer: np.ndarray, extent: tuple[int, int, int], filled: tuple[int, int, int]) -> None:
    """Zero what the previous chunk `filled` (a corner box) left outside this chunk's `extent`."""
    ez, ey, ex = extent
    fz, fy, fx = filled
    buffer[ez:fz, :fy, :fx] = 0
    buffer[:ez, ey:fy, :fx] = 0
    buffer[:ez, :ey, ex:fx] = 0


def _write_ngff_metadata(zarr_path: Path, *, spacing: float, levels: int, pyramid: Pyramid) -> None:
    """The group's OME-NGFF 0.4 `multiscales`, made and validated by ome-zarr-models: axes z, y, x in Å, one
    scale transform per level."""
    import zarr
    from ome_zarr_models.v04.axes import Axis
    from ome_zarr_models.v04.image import ImageAttrs
    from ome_zarr_models.v04.multiscales import Dataset, Multiscale

    multiscale = Multiscale(
        axes=tuple(Axis(name=axis, type="space", unit="angstrom") for axis in ("z", "y", "x")),
        datasets=tuple(
            Dataset.build(path=str(level), scale=pyramid.scale(spacing, level), translation=None)
            for level in range(levels)
        ),
        name="/",
        version="0.4",
    )
    attributes = ImageAttrs(multiscales=[multiscale]).model_dump(mode="json", exclude_none=True)
    zarr.open_group(str(zarr_path), mode="r+", zarr_format=2).attrs.update(attributes)
