"""What a published MRC or OME-Zarr holds, read from a bucket into plain dicts for the checks (facts §4.1).

`mrc_facts` reads an MRC's header and streams its data for statistics; `zarr_facts` reads a zarr group's
metadata. The header checks are in `cryoet_assets.lib.validation.volume_headers`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import posixpath
import warnings
from dataclasses import dataclass
from typing import IO, Any

from cryoet_assets.lib.documents import type_name
from cryoet_assets.lib.storage import CHUNK_SIZE, Bucket, UnsafePathError, safe_key

AXES = ("x", "y", "z")
CELL_ANGLES = {"x": "alpha", "y": "beta", "z": "gamma"}
LEVELS = ("0", "1", "2")
# mrcfile's relative tolerance for the header's dmean and rms against the data (MrcObject.validate).
STATISTICS_RTOL = 0.01


def mrc_facts(bucket: Bucket, key: str) -> dict[str, Any]:
    """What the MRC rules need, read from the stored file `key` of `bucket`, as plain Python values.

    Keys: `key`, `size` (bytes), `error` (None, or why the file could not be read as MRC, in which case
    no header fields follow), the header fields `nx ny nz mx my mz mode ispg nlabl nversion nsymbt mapc
    mapr maps nxstart nystart nzstart`, `dtype` and `itemsize` (None for an unknown mode), `map`,
    `machst` (hex), `labels` (all ten), `exttyp`, `extended_header_bytes` (0 when it could not be read),
    `cella`/`origin`/`voxel_size` ({x,y,z}, Å), `cellb` ({alpha,beta,gamma}, degrees), and mrcfile's
    validation: `validate_passed`, `validate_text` (its report and the warnings it gave on reading).

    The object is read once, front to back, in bounded memory: mrcfile reads the header and extended
    header, then the data block streams through `stream_statistics` in pieces of `CHUNK_SIZE` bytes. A
    remote object is neither downloaded twice nor stored on disk. The validation is `mrcfile.validate`'s:
    its header rules run on that header, its statistics and file size rules on the streamed statistics
    and the stored size (`_validate_like_mrcfile`), so the outcome is the one mrcfile gives for the file.
    Errors reading the bucket are raised; a file that is not an MRC is reported in `error`.
    """
    info = bucket.info(key)
    if info is None:
        return {"key": key, "size": None, "error": "the MRC file does not exist"}
    facts: dict[str, Any] = {"key": key, "size": info.size, "error": None}
    with contextlib.closing(bucket.open_read(key)) as stream:
        try:
            facts.update(_read_mrc(_CheckedStream(stream), size=info.size))
        except _StorageError as exc:
            raise exc.__cause__ from None
        except Exception as exc:  # mrcfile and numpy raise ValueError, ZeroDivisionError... on garbage
            facts["error"] = f"{type(exc).__name__}: {exc}"
    return facts


class _StorageError(Exception):
    """A read from the bucket failed: not a fact about the file, so it is raised, not reported."""


class _CheckedStream:
    """`stream`, read with `readinto` until a buffer is full or the stream ends."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def read_into(self, buffer: memoryview) -> int:
        filled = 0
        while filled < len(buffer):
            try:
                got = self._stream.readinto(buffer[filled:])
            except Exception as exc:
                raise _StorageError() from exc
            if not got:
                break
            filled += got
        return filled


def _read_mrc(stream: _CheckedStream, *, size: int) -> dict[str, Any]:
    import mrcfile.utils
    import numpy as np

    report = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mrc = _header_reader()(stream, size=size)
        header = mrc.header
        try:
            dtype = mrcfile.utils.dtype_from_mode(header.mode)
        except ValueError:
            dtype = None
        with np.errstate(divide="ignore", invalid="ignore"):
            voxel_size = mrc.voxel_size
        extended = mrc.extended_header
        facts: dict[str, Any] = {
            name: int(header[name])
            for name in (
                "nx", "ny", "nz", "mx", "my", "mz", "mode", "ispg", "nlabl", "nversion", "nsymbt",
                "mapc", "mapr", "maps", "nxstart", "nystart", "nzstart",
            )
        }  # fmt: skip
        facts.update(
            dtype=dtype.name if dtype is not None else None,
            itemsize=dtype.itemsize if dtype is not None else None,
            map=bytes(header.map).decode("latin-1"),
            machst=mrcfile.utils.pretty_machine_stamp(header.machst),
            labels=[bytes(label).decode("latin-1") for label in header.label],
            exttyp=bytes(header.exttyp).decode("latin-1"),
            extended_header_bytes=int(extended.nbytes) if extended is not None else 0,
            cella={axis: float(header.cella[axis]) for axis in AXES},
            cellb={angle: float(header.cellb[angle]) for angle in CELL_ANGLES.values()},
            origin={axis: float(header.origin[axis]) for axis in AXES},
            voxel_size={axis: float(voxel_size[axis]) for axis in AXES},
        )
        block = _data_block(header, size=size)
        statistics = None
        if block is not None and block.shape[0] > 0 and _header_states_statistics(header):
            statistics = stream_statistics(stream, block.dtype, block.count)
        passed = _validate_like_mrcfile(mrc, block, statistics, size=size, print_file=report)
    notes = [line for line in report.getvalue().splitlines() if line.strip()]
    notes += [f"warning: {w.message}" for w in caught if str(w.message) not in notes]
    facts.update(validate_passed=passed, validate_text="\n".join(notes))
    return facts


@functools.cache
def _header_reader() -> type:
    """An mrcfile reader of the header and extended header from a stream, permissive and read-only.

    mrcfile allocates the extended header's size (nsymbt) before reading it, so a garbage header would
    have it allocate up to 2 GiB; reads are capped at what the file holds, and mrcfile then warns that
    the file is short, as it does for a memory-mapped file.
    """
    from mrcfile.mrcinterpreter import MrcInterpreter

    class StreamHeaderReader(MrcInterpreter):
        def __init__(self, stream: _CheckedStream, *, size: int) -> None:
            super().__init__(permissive=True)
            self._iostream = stream
            self._unread = size
            self._read_only = True
            self._read(header_only=True)

        def _read_bytearray_from_stream(self, number_of_bytes: int) -> tuple[bytearray, int]:
            result = bytearray(max(0, min(int(number_of_bytes), self._unread)))
            got = self._iostream.read_into(memoryview(result))
            self._unread -= got
            return result, got

    return StreamHeaderReader


@dataclass(frozen=True)
class _DataBlock:
    dtype: Any
    shape: tuple[int, ...]
    count: int

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize


def _data_block(header: Any, *, size: int) -> _DataBlock | None:
    """The data block the header describes, or None (with mrcfile's warning) where mrcfile's mmap fails.

    Follows `mrcfile.mmap` (1.5): the mode must give a dtype, and the block must fit in the file after
    the header and extended header; a larger file is a warning.
    """
    import mrcfile.utils

    try:
        dtype = mrcfile.utils.data_dtype_from_header(header)
    except ValueError as err:
        warnings.warn(f"{err} - data block not read", RuntimeWarning, stacklevel=2)
        return None
    shape = mrcfile.utils.data_shape_from_header(header)
    offset = header.nbytes + int(header.nsymbt)
    block = _DataBlock(dtype=dtype, shape=shape, count=math.prod(shape))
    if min(shape) < 0 or int(header.nsymbt) < 0 or offset + block.nbytes > size:
        warnings.warn("Error opening memmap", RuntimeWarning, stacklevel=2)
        return None
    if block.nbytes < size - offset:
        extra = size - offset - block.nbytes
        warnings.warn(f"MRC file is {extra} bytes larger than expected", RuntimeWarning, stacklevel=2)
    return block


def _header_states_statistics(header: Any) -> bool:
    """Whether mrcfile's validation compares any header statistic with the data (not all undetermined)."""
    return bool(
        header.rms >= 0 or header.dmin < header.dmax or header.dmean > min(header.dmin, header.dmax)
    )


@dataclass(frozen=True)
class DataStatistics:
    """Statistics of an MRC data block, as MRC2014's header fields dmin, dmax, dmean and rms mean them.

    `minimum`/`maximum` are numpy scalars of the data's dtype (None when there are no voxels); `mean` and
    `rms` (the standard deviation from the mean, ddof 0) are float64 (`mean` complex128 for complex data);
    NaN in the data makes all four NaN, as numpy's reductions do.
    """

    count: int
    minimum: Any
    maximum: Any
    mean: Any
    rms: float


def stream_statistics(
    stream: Any, dtype: Any, count: int, *, chunk_bytes: int = CHUNK_SIZE
) -> DataStatistics:
    """Min, max, mean and rms of the next `count` voxels of `dtype` read from `stream`, in bounded memory.

    `stream` is a binary file object (or `_CheckedStream`); the voxels are read in pieces of about
    `chunk_bytes` (axis order does not matter to these statistics). Sums are taken in float64 and the
    pieces' means and squared deviations merged with Chan et al.'s pairwise formula, so the result
    matches numpy's `min`, `max`, `mean(dtype=float64)` and `std` over the whole array. Memory: one
    piece of the data and one float64 copy of it. Raises ValueError when the stream ends early.
    """
    import numpy as np

    dtype = np.dtype(dtype)
    reader = stream if isinstance(stream, _CheckedStream) else _CheckedStream(stream)
    per_piece = max(1, chunk_bytes // dtype.itemsize)
    raw = bytearray(min(count, per_piece) * dtype.itemsize)
    work_dtype = np.dtype(np.complex128 if dtype.kind == "c" else np.float64)
    centred = np.empty(min(count, per_piece), dtype=work_dtype)
    seen, total, mean, m2 = 0, work_dtype.type(0), work_dtype.type(0), 0.0
    minimum = maximum = None
    with np.errstate(all="ignore"):
        while seen < count:
            n = min(count - seen, per_piece)
            got = reader.read_into(memoryview(raw)[: n * dtype.itemsize])
            if got < n * dtype.itemsize:
                read = seen * dtype.itemsize + got
                raise ValueError(f"the data block ended after {read} of {count * dtype.itemsize} bytes")
            values = np.frombuffer(raw, dtype=dtype, count=n)
            low, high = values.min(), values.max()
            minimum = low if minimum is None else np.minimum(minimum, low)
            maximum = high if maximum is None else np.maximum(maximum, high)
            piece_sum = np.add.reduce(values, dtype=work_dtype)
            piece_mean = piece_sum / n
            np.subtract(values, piece_mean, out=centred[:n], dtype=work_dtype)
            piece_m2 = float(np.vdot(centred[:n], centred[:n]).real)
            delta = piece_mean - mean
            mean += delta * (n / (seen + n))
            m2 += piece_m2 + float((delta * np.conj(delta)).real) * (seen * n / (seen + n))
            total += piece_sum
            seen += n
        return DataStatistics(
            count=count,
            minimum=minimum,
            maximum=maximum,
            mean=total / count if count else work_dtype.type(np.nan),
            rms=float(np.sqrt(m2 / count)) if count else math.nan,
        )


def _validate_like_mrcfile(
    mrc: Any,
    block: _DataBlock | None,
    statistics: DataStatistics | None,
    *,
    size: int,
    print_file: io.StringIO,
) -> bool:
    """`mrcfile.validate` (1.5) for a header read by `_header_reader` and the data's streamed statistics.

    mrcfile's header rules run on a header-only copy whose statistics are marked undetermined; its
    statistics rules (dmin, dmax exact; dmean and rms within 1 %) and file size rule follow here, in
    its order and words. `statistics` is None when mrcfile would not read the data or not need it.
    """
    import numpy as np

    valid = bool(_header_view()(mrc.header, mrc.extended_header).validate(print_file=print_file))
    header = mrc.header
    have_data = block is not None and block.shape[0] > 0

    def log(message: str) -> None:
        print(message, file=print_file)

    def inaccurate(name: str, real: Any, stated: Any) -> None:
        log(f"Data statistics appear to be inaccurate: {name} is {real} but the value in the header is "
            f"{stated}")

    real_rms = real_min = real_max = real_mean = 0
    if header.rms >= 0:
        if have_data:
            real_rms = statistics.rms
        if not np.isclose(real_rms, header.rms, rtol=STATISTICS_RTOL):
            inaccurate("RMS deviation", real_rms, header.rms)
            valid = False
    if header.dmin < header.dmax:
        if have_data:
            if statistics.minimum is None:
                raise ValueError("zero-size array to reduction operation minimum which has no identity")
            real_min, real_max = statistics.minimum, statistics.maximum
        if header.dmin != real_min:
            inaccurate("minimum", real_min, header.dmin)
            valid = False
        if header.dmax != real_max:
            inaccurate("maximum", real_max, header.dmax)
            valid = False
    if header.dmean > min(header.dmin, header.dmax):
        if have_data:
            real_mean = statistics.mean
        if not np.isclose(real_mean, header.dmean, rtol=STATISTICS_RTOL):
            inaccurate("mean", real_mean, header.dmean)
            valid = False
    if block is None:
        log("Data block could not be read - file size not checked")
        return False
    expected = header.nbytes + mrc.extended_header.nbytes + block.nbytes
    if size != expected:
        log(
            f"File is larger than expected. Actual size: {size} bytes; "
            f"expected size: {expected} bytes (calculated from header)"
        )
        valid = False
    return valid


@functools.cache
def _header_view() -> type:
    """An mrcfile object holding a copy of a header with its statistics marked undetermined, and no data.

    Its `validate` applies mrcfile's header rules only: the statistics rules are skipped for undetermined
    values, and the data block is checked separately from the stream.
    """
    from mrcfile.mrcobject import MrcObject

    class HeaderView(MrcObject):
        def __init__(self, header: Any, extended_header: Any) -> None:
            super().__init__()
            self._header = header.copy()
            self._extended_header = extended_header
            self.reset_header_stats()

    return HeaderView


def zarr_facts(bucket: Bucket, key: str) -> dict[str, Any]:
    """What the OME-Zarr rules need, read as JSON through `bucket` from the zarr folder `key`.

    Keys: `key`, `children` (names directly inside the folder), `zattrs`/`zgroup` (dict or None) with
    `zattrs_error`/`zgroup_error` (None, or why not), `zarrays` and `zarray_errors` (by array path: the
    levels 0, 1, 2 and any path the multiscales name), and `ngff_error`: None when `.zgroup`, `.zattrs`
    and those arrays validate as an OME-NGFF 0.4 image, else the validation errors.
    """
    folders, files = bucket.listdir(key)
    zattrs, zattrs_error = _read_json(bucket, f"{key}/.zattrs")
    zgroup, zgroup_error = _read_json(bucket, f"{key}/.zgroup")
    zarrays: dict[str, dict[str, Any] | None] = {}
    zarray_errors: dict[str, str | None] = {}
    for path in dict.fromkeys([*LEVELS, *_dataset_paths(zattrs)]):
        try:
            array_key = safe_key(f"{key}/{path}/.zarray", field="zarray")
        except UnsafePathError as exc:
            zarrays[path], zarray_errors[path] = None, str(exc)
            continue
        zarrays[path], zarray_errors[path] = _read_json(bucket, array_key)
    return {
        "key": key,
        "children": sorted([*folders, *files]),
        "zattrs": zattrs,
        "zattrs_error": zattrs_error,
        "zgroup": zgroup,
        "zgroup_error": zgroup_error,
        "zarrays": zarrays,
        "zarray_errors": zarray_errors,
        "ngff_error": _ngff_error(zgroup, zattrs, zarrays),
    }


def _read_json(bucket: Bucket, key: str) -> tuple[dict[str, Any] | None, str | None]:
    name = posixpath.basename(key)
    try:
        value = json.loads(bucket.read_bytes(key))
    except FileNotFoundError:
        return None, f"{name} is missing"
    except ValueError as exc:
        return None, f"{name} is not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"{name} holds a JSON {type_name(value)}, not an object"
    return value, None


def _dataset_paths(zattrs: dict[str, Any] | None) -> list[str]:
    multiscale = first_multiscale(zattrs)
    datasets = multiscale.get("datasets") if multiscale else None
    if not isinstance(datasets, list):
        return []
    return [d["path"] for d in datasets if isinstance(d, dict) and isinstance(d.get("path"), str)]


def first_multiscale(zattrs: dict[str, Any] | None) -> dict[str, Any] | None:
    multiscales = zattrs.get("multiscales") if zattrs else None
    if isinstance(multiscales, list) and multiscales and isinstance(multiscales[0], dict):
        return multiscales[0]
    return None


def _ngff_error(
    zgroup: dict[str, Any] | None, zattrs: dict[str, Any] | None, zarrays: dict[str, dict[str, Any] | None]
) -> str | None:
    """Validate the group as an OME-NGFF 0.4 image with ome-zarr-models; the errors as text, or None."""
    import pydantic
    from ome_zarr_models.v04.image import Image

    document = {
        "zarr_format": (zgroup or {}).get("zarr_format"),
        "attributes": zattrs if zattrs is not None else {},
        "members": {path: {**zarray, "attributes": {}} for path, zarray in zarrays.items() if zarray},
    }
    try:
        Image.model_validate(document)
    except pydantic.ValidationError as exc:
        return "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'group'}: {error['msg']}"
            for error in exc.errors()
        )
    return None
