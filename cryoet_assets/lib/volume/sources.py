"""Tomogram inputs (an MRC/REC file or an OME-Zarr group) read in blocks, never whole.

Both kinds give the same view: shape (z, y, x), the voxel size the file declares, and `read_block`,
which copies a block into a float32 buffer the caller owns, with z, y, x the volume's physical axes
whatever order the file stores them in. MRC data is read through a read-only memory map of the file;
`release` drops the mapped pages from this process again (they stay in the page cache), so resident
memory stays at the size of the blocks in hand whatever the volume size. What was odd about a file but
could be read is in the source's `warnings`, for the curator.
"""

from __future__ import annotations

import json
import mmap
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from cryoet_assets.lib.mrc_header import HEADER_BYTES, IDENTITY_AXES, parse_header

# Modes a tomogram may come in (MRC2014): int8, int16, float32, uint16, float16. Complex modes 3/4 and
# packed 4-bit (101) are not volumes the portal standardizes.
SUPPORTED_MODES = {0: "i1", 1: "i2", 2: "f4", 6: "u2", 12: "f2"}
PAGE = mmap.PAGESIZE
RELEASE_PLANES = 8
# Memory the copy of a source whose axes are not in 1, 2, 3 order holds: one slab of sections read, and
# the pages of the scratch file written before they are dropped again.
TRANSPOSE_SLAB_BYTES = 64 * 1024 * 1024
TRANSPOSE_TOUCH_BYTES = 32 * 1024 * 1024


class VolumeError(ValueError):
    """An input volume that cannot be standardized; the message names the file."""


@dataclass
class MrcHeaderFacts:
    """What the standardized MRC carries over from an MRC source (facts §2.4)."""

    extended_header: bytes = b""
    exttyp: bytes = b""
    extra1: bytes = b""
    extra2: bytes = b""
    dmax: float = 0.0


@dataclass
class VolumeSource:
    """Common surface of the two input kinds."""

    path: Path
    shape: tuple[int, int, int]
    dtype: np.dtype
    voxel_size: float
    display_name: str = ""  # what errors call the source (its deposit URI); the local path by default
    carried: MrcHeaderFacts = field(default_factory=MrcHeaderFacts)
    warnings: list[str] = field(default_factory=list)  # what was odd about the file but could be read

    def __post_init__(self) -> None:
        self.display_name = self.display_name or str(self.path)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    def read_block(self, out: np.ndarray, z: slice, y: slice, x: slice) -> None:
        raise NotImplementedError

    def view(self, z: slice, y: slice) -> np.ndarray | None:
        """Rows y of planes z as a zero-copy native float32 view, or None when a conversion is needed."""
        return None

    def release(self, z0: int, z1: int, y0: int = 0, y1: int | None = None) -> None:
        """Hint that rows y0:y1 of planes z0:z1 are no longer needed."""

    def close(self) -> None:
        pass


class MrcSource(VolumeSource):
    """An MRC/REC file on local disk, checked against its header before any data is read.

    Files are read as `mrcfile.open(..., permissive=True)` reads them (see `mrc_header`); what it
    would warn about is kept in `warnings`. Bytes after the declared data block are ignored, with a
    warning. A file whose data block or declared extended header is cut short is refused.

    A file whose axis map (mapc, mapr, maps) is not 1, 2, 3 is first copied, a slab of sections at a
    time, into an unnamed scratch file in `scratch_dir` (default: the system's temporary folder) in
    (z, y, x) order of its physical axes; it is then read like any other. That costs one more write of
    the volume (in its own mode) and memory for one slab.
    """

    def __init__(self, path: Path, *, display_name: str | None = None, scratch_dir: Path | None = None) -> None:
        name = display_name or str(path)
        size = path.stat().st_size
        with open(path, "rb") as handle:
            raw = handle.read(HEADER_BYTES)
        try:
            parsed = parse_header(raw, name=name)
        except ValueError as exc:
            raise VolumeError(str(exc)) from None
        header = parsed.fields
        notes = list(parsed.warnings)
        mode = int(header["mode"])
        if mode not in SUPPORTED_MODES:
            raise VolumeError(
                f"{name}: MRC mode {mode} is not supported for tomograms "
                f"(supported: {', '.join(str(m) for m in SUPPORTED_MODES)})"
            )
        nz, ny, nx = parsed.file_shape
        if min(nx, ny, nz) <= 0:
            raise VolumeError(f"{name}: header dimensions nx={nx} ny={ny} nz={nz} must all be positive")
        nsymbt = int(header["nsymbt"])
        if nsymbt < 0:
            raise VolumeError(f"{name}: header nsymbt={nsymbt} (extended header size) is negative")
        dtype = np.dtype(SUPPORTED_MODES[mode]).newbyteorder(header.dtype["nx"].byteorder)
        offset = HEADER_BYTES + nsymbt
        expected = offset + nx * ny * nz * dtype.itemsize
        if size < expected and not parsed.has_map_id:
            raise VolumeError(
                f"{name}: not an MRC file (no map ID, and the header's nx={nx} ny={ny} nz={nz}, mode {mode} and "
                f"nsymbt={nsymbt} need {expected} bytes but the file has {size})"
            )
        if size < offset:
            raise VolumeError(
                f"{name}: truncated: the header declares a {nsymbt}-byte extended header (nsymbt) but the file "
                f"has only {size - HEADER_BYTES} bytes after the 1024-byte header"
            )
        if size < expected:
            raise VolumeError(
                f"{name}: truncated: the header (nx={nx} ny={ny} nz={nz}, mode {mode}, {nsymbt}-byte extended "
                f"header) needs {expected} bytes but the file has {size}"
            )
        if size > expected:
            notes.append(
                f"{name}: {size - expected} bytes after the data block that the header declares (nx={nx} ny={ny} "
                f"nz={nz}, mode {mode}, {nsymbt}-byte extended header); they are ignored"
            )
        with open(path, "rb") as handle:
            handle.seek(HEADER_BYTES)
            extended = handle.read(nsymbt)
        super().__init__(
            path=path,
            shape=parsed.shape,
            dtype=dtype,
            voxel_size=parsed.voxel_size,
            display_name=name,
            carried=MrcHeaderFacts(
                extended_header=extended,
                exttyp=bytes(header["exttyp"]),
                extra1=bytes(header["extra1"]),
                extra2=bytes(header["extra2"]),
                dmax=float(header["dmax"]),
            ),
            warnings=notes,
        )
        self.axis_order = parsed.axis_order
        count = nx * ny * nz
        if self.axis_order == IDENTITY_AXES:
            self._file = open(path, "rb")
            self._offset = offset
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        else:
            self._file, self._map = _physical_copy(
                path, offset=offset, file_shape=parsed.file_shape, dtype=dtype,
                order=parsed.physical_from_file, scratch_dir=scratch_dir, name=name,
            )
            self._offset = 0
        self._data = np.frombuffer(self._map, dtype=dtype, count=count, offset=self._offset).reshape(self.shape)
        # Legacy uint8 data written as int8 (facts §2.4): dmax above int8's range betrays it.
        self._legacy_int8 = mode == 0 and self.carried.dmax > 127

    def read_block(self, out: np.ndarray, z: slice, y: slice, x: slice) -> None:
        # A few planes at a time, unmapping each group once copied: a block's rows are scattered over
        # the file, and the kernel maps whole neighbourhoods of pages around every fault.
        for start in range(z.start, z.stop, RELEASE_PLANES):
            stop = min(z.stop, start + RELEASE_PLANES)
            target = out[start - z.start : stop - z.start]
            block = self._data[start:stop, y, x]
            if self._legacy_int8:
                np.copyto(target, block.view(np.uint8), casting="unsafe")
                target -= 128
            else:
                np.copyto(target, block, casting="unsafe")
            self.release(start, stop)

    def view(self, z: slice, y: slice) -> np.ndarray | None:
        if self.dtype != np.dtype("=f4") or self._legacy_int8:
            return None
        return self._data[z, y]

    def release(self, z0: int, z1: int, y0: int = 0, y1: int | None = None) -> None:
        _, ny, nx = self.shape
        row = nx * self.dtype.itemsize
        plane = ny * row
        y1 = ny if y1 is None else y1
        # Whole planes are one contiguous range; a band of rows is one range per plane.
        ranges = [(z0 * plane, z1 * plane)] if (y0, y1) == (0, ny) else [
            (z * plane + y0 * row, z * plane + y1 * row) for z in range(z0, z1)
        ]
        for begin, end in ranges:
            start = self._offset + begin
            start -= start % PAGE
            self._map.madvise(mmap.MADV_DONTNEED, start, min(self._offset + end, len(self._map)) - start)

    def close(self) -> None:
        self._data = None  # type: ignore[assignment]
        try:
            self._map.close()
        except BufferError:
            pass  # a caller still holds a view; the map closes when that view goes away
        self._file.close()


def _physical_copy(
    path: Path,
    *,
    offset: int,
    file_shape: tuple[int, int, int],
    dtype: np.dtype,
    order: tuple[int, int, int],
    scratch_dir: Path | None,
    name: str,
) -> tuple[IO[bytes], mmap.mmap]:
    """The data block of `path` (stored as `file_shape`, from byte `offset`) in an unnamed scratch file.

    The scratch file holds the array `stored.transpose(order)`: (z, y, x) along the physical axes, in
    the source's own dtype. Sections are read a slab at a time into one buffer; each slab is a slab of
    the physical volume along one axis, copied into a shared map of the scratch file a few planes at a
    time, and those pages are dropped from this process right after (they stay in the page cache).
    Returns the open scratch file and its map.
    """
    sections, rows, columns = file_shape
    shape = tuple(file_shape[axis] for axis in order)
    section_bytes = rows * columns * dtype.itemsize
    plane_bytes = shape[1] * shape[2] * dtype.itemsize
    step = max(1, TRANSPOSE_SLAB_BYTES // section_bytes)
    planes = max(1, TRANSPOSE_TOUCH_BYTES // plane_bytes)
    along = order.index(0)  # the physical axis (0 = z, 1 = y, 2 = x) the sections run along
    scratch = tempfile.TemporaryFile(prefix="cryoet-volume-", dir=scratch_dir)
    target_map: mmap.mmap | None = None
    try:
        scratch.truncate(sections * section_bytes)
        target_map = mmap.mmap(scratch.fileno(), sections * section_bytes)
        target = np.frombuffer(target_map, dtype=dtype).reshape(shape)
        raw = np.empty(min(step, sections) * section_bytes, dtype=np.uint8)
        with open(path, "rb") as handle:
            for s0 in range(0, sections, step):
                s1 = min(sections, s0 + step)
                slab = raw[: (s1 - s0) * section_bytes]
                _read_into(handle, offset + s0 * section_bytes, memoryview(slab), name=name)
                physical = slab.view(dtype).reshape(s1 - s0, rows, columns).transpose(order)
                region = [slice(None)] * 3
                region[along] = slice(s0, s1)
                destination = target[tuple(region)]
                first = s0 if along == 0 else 0
                for z0 in range(0, physical.shape[0], planes):
                    z1 = min(physical.shape[0], z0 + planes)
                    destination[z0:z1] = physical[z0:z1]
                    start = (first + z0) * plane_bytes
                    start -= start % PAGE
                    target_map.madvise(mmap.MADV_DONTNEED, start, (first + z1) * plane_bytes - start)
    except BaseException:
        if target_map is not None:
            target_map.close()
        scratch.close()
        raise
    return scratch, target_map


def _read_into(handle: IO[bytes], position: int, buffer: memoryview, *, name: str) -> None:
    handle.seek(position)
    while buffer:
        count = handle.readinto(buffer)  # type: ignore[attr-defined]
        if not count:
            raise VolumeError(f"{name}: the file got shorter while it was read")
        buffer = buffer[count:]


class ZarrSource(VolumeSource):
    """Level 0 of a local OME-Zarr group (NGFF 0.4 multiscales), read chunk-aligned through zarr."""

    def __init__(self, path: Path, *, display_name: str | None = None) -> None:
        import zarr

        name = display_name or str(path)
        attrs = _zarr_attributes(path, name=name)
        multiscales = attrs.get("multiscales")
        if not isinstance(multiscales, list) or not multiscales or not isinstance(multiscales[0], dict):
            raise VolumeError(f"{name}: not an OME-Zarr image: no 'multiscales' metadata in its attributes")
        datasets = multiscales[0].get("datasets") or []
        try:
            level0 = datasets[0]["path"]
            scale = next(t["scale"] for t in datasets[0]["coordinateTransformations"] if t.get("type") == "scale")
            voxel = float(scale[1])
        except (KeyError, IndexError, TypeError, ValueError, StopIteration):
            raise VolumeError(
                f"{name}: multiscales[0].datasets[0] needs a 'path' and a scale transform with 3 values"
            ) from None
        try:
            array = zarr.open_array(store=str(path), path=str(level0), mode="r")
        except Exception as exc:  # zarr raises several kinds for a missing or broken array
            raise VolumeError(f"{name}: cannot open level {level0!r}: {exc}") from exc
        if array.ndim != 3:
            raise VolumeError(f"{name}: level {level0!r} has {array.ndim} dimensions; a tomogram needs 3 (z, y, x)")
        if array.dtype.kind not in "iuf":
            raise VolumeError(f"{name}: level {level0!r} has dtype {array.dtype}; a tomogram needs real numbers")
        super().__init__(
            path=path, shape=tuple(int(n) for n in array.shape), dtype=array.dtype, voxel_size=voxel, display_name=name
        )
        self._array = array

    def read_block(self, out: np.ndarray, z: slice, y: slice, x: slice) -> None:
        np.copyto(out, self._array[z, y, x], casting="unsafe")


def _zarr_attributes(path: Path, *, name: str) -> dict[str, Any]:
    for candidate in (".zattrs", "zarr.json"):
        file = path / candidate
        if file.is_file():
            try:
                document = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise VolumeError(f"{name}: {candidate} is not readable JSON: {exc}") from exc
            if candidate == "zarr.json":
                document = document.get("attributes", {}).get("ome", document.get("attributes", {}))
            return document if isinstance(document, dict) else {}
    raise VolumeError(f"{name}: not a zarr group (no .zattrs or zarr.json)")


def open_volume(path: Path, *, display_name: str | None = None, scratch_dir: Path | None = None) -> VolumeSource:
    """Open a local MRC/REC file or OME-Zarr folder as a tomogram source of shape (z, y, x).

    An MRC whose axis map is not 1, 2, 3 is copied into (z, y, x) order in `scratch_dir` first (see
    `MrcSource`). Raises VolumeError naming `display_name` (default: the path) for what cannot be read.
    """
    name = display_name or str(path)
    if path.is_dir():
        return ZarrSource(path, display_name=name)
    if not path.is_file():
        raise VolumeError(f"{name}: no such file")
    return MrcSource(path, display_name=name, scratch_dir=scratch_dir)
