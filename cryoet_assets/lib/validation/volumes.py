"""Validation suite for a standardized tomogram: MRC, OME-Zarr, metadata, key photos (facts §2.4, §4.1, §4.2).

`mrc_facts` and `zarr_facts` read what the rules need from the bucket into plain dicts;
`validate_tomogram` turns those and the metadata document into one frame and runs the rules over it.
Rows name themselves in `where`: the metadata file (and its authors, scales and key photos), the MRC
file and each of its axes, the zarr folder and each of its levels.
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

from cryoet_assets.lib.mrc_header import HEADER_BYTES
from cryoet_assets.lib.storage import CHUNK_SIZE, Bucket, UnsafePathError, safe_key
from cryoet_assets.lib.validation.gx import rows_frame, run_suite
from cryoet_assets.lib.validation.metadata import (
    AUTHOR_COLUMNS,
    BASIC_DOCUMENT_COLUMNS,
    author_rows,
    basic_document_columns,
    basic_expectations,
    expect_deposition_exists,
    expect_document_object,
    type_name,
)
from cryoet_assets.lib.validation.outcome import ValidationOutcome
from cryoet_assets.lib.validation.photos import PHOTO_COLUMNS, photo_expectations, photo_rows

AXES = ("x", "y", "z")
CELL_ANGLES = {"x": "alpha", "y": "beta", "z": "gamma"}
LEVELS = ("0", "1", "2")
ZARR_CHILDREN = (".zattrs", ".zgroup", *LEVELS)
MRC_DTYPES = ("int8", "uint16", "int16", "float32", "float64")
ZARR_DTYPES = ("int8", "int16", "float32", "float64")
MRC_VERSIONS = (20140, 20141)
EXTENDED_HEADER_TYPES = ("CCP4", "MRCO", "SERI", "AGAR", "FEI1", "FEI2", "HDF5")
MACHINE_STAMP = r"^0x44 0x4[14] |^0x11 0x11 "
SPACING_TOLERANCE = 0.001
DISK_SIZE_TOLERANCE = 2**20
# mrcfile's relative tolerance for the header's dmean and rms against the data (MrcObject.validate).
STATISTICS_RTOL = 0.01
THUMBNAIL_MIN_HEIGHT = 100
SNAPSHOT_MIN_HEIGHT = 384
KEY_PHOTO_ASPECT_RATIO = 4 / 3
KEY_PHOTO_KINDS = ("snapshot", "thumbnail")
ZARR_CHUNKS = [256, 256, 256]
ZARR_COMPRESSOR = {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}
ZARR_SEPARATOR = "/"
ZARR_FORMAT = 2
# bytes.strip()'s whitespace, which the portal's label check uses; str.strip() would also strip \x85 and \xa0.
LABEL_WHITESPACE = " \t\n\r\x0b\x0c"

DOCUMENT_COLUMNS = (
    "document_type",
    "key_photo_missing",
    "metadata_size",
    "metadata_scale_0",
    "metadata_voxel_spacing",
    "voxel_spacing_dir",
    "deposition_exists",
    "zarr_files",
    "omezarr_dir_name",
    "mrc_files",
    "mrc_file_name",
)
SCALE_COLUMNS = ("metadata_scale", "metadata_scale_expected")
MRC_FILE_COLUMNS = (
    "mrc_error",
    "mrc_ispg",
    "mrc_map",
    "mrc_machine_stamp",
    "mrc_dtype",
    "mrc_nlabl",
    "mrc_label_count",
    "mrc_blank_labels",
    "mrc_nversion",
    "mrc_exttyp",
    "mrc_nsymbt",
    "mrc_extended_header_bytes",
    "mrc_axis_map",
    "mrc_size_difference",
    "mrc_validate",
)
MRC_AXIS_COLUMNS = (
    "mrc_n",
    "mrc_m",
    "mrc_cella",
    "mrc_cella_expected",
    "mrc_cell_angle",
    "mrc_origin",
    "mrc_start",
    "mrc_voxel_size",
    "metadata_size_axis",
)
ZARR_FILE_COLUMNS = (
    "zarr_children",
    "zarr_metadata_error",
    "multiscales_count",
    "zattrs_paths",
    "zattrs_axes",
    "ngff_error",
)
ZARR_LEVEL_COLUMNS = (
    "zarray_error",
    "zarr_dtype",
    "zarr_shape",
    "zarr_shape_expected",
    "zarr_layout",
    "zarr_scale",
    "zarr_scale_expected",
)


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
    multiscale = _first_multiscale(zattrs)
    datasets = multiscale.get("datasets") if multiscale else None
    if not isinstance(datasets, list):
        return []
    return [d["path"] for d in datasets if isinstance(d, dict) and isinstance(d.get("path"), str)]


def _first_multiscale(zattrs: dict[str, Any] | None) -> dict[str, Any] | None:
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


def tomogram_key_photo_paths(doc: Any) -> dict[str, str]:
    """The key photos a tomogram document sets in `key_photo`, kind -> bucket-relative path."""
    key_photo = doc.get("key_photo") if isinstance(doc, dict) else None
    if not isinstance(key_photo, dict):
        return {}
    return {kind: str(key_photo[kind]) for kind in KEY_PHOTO_KINDS if key_photo.get(kind)}


def validate_tomogram(
    *,
    metadata: dict[str, Any] | Any,
    metadata_path: str,
    mrc: dict[str, Any],
    zarr: dict[str, Any],
    mrc_key: str,
    zarr_key: str,
    voxel_spacing_dir_value: float,
    photos: dict[str, bytes | None],
    deposition_exists: bool,
    tomogram_files: list[str],
) -> ValidationOutcome:
    """One tomogram: `tomogram_metadata.json`, its MRC and zarr (from `mrc_facts`/`zarr_facts`), key photos.

    `voxel_spacing_dir_value` is the spacing its `VoxelSpacing` folder names; `photos` maps each path of
    `tomogram_key_photo_paths(metadata)` to its bytes, or None when missing; `tomogram_files` are the
    names inside the tomogram's folder; `deposition_exists` says whether the deposition of its
    `deposition_id` has its metadata file.
    """
    body = metadata if isinstance(metadata, dict) else {}
    spacing = float(voxel_spacing_dir_value)
    rows = [
        *_document_rows(
            metadata,
            body,
            path=metadata_path,
            spacing=spacing,
            deposition_exists=deposition_exists,
            tomogram_files=tomogram_files,
        ),
        *author_rows(body, path=metadata_path),
        *_photo_rows(body, path=metadata_path, photos=photos),
        *_mrc_rows(mrc, key=mrc_key, spacing=spacing, size=body.get("size")),
        *_zarr_rows(zarr, key=zarr_key, spacing=spacing, mrc=mrc),
    ]
    columns = [
        "where",
        *DOCUMENT_COLUMNS,
        *BASIC_DOCUMENT_COLUMNS,
        *SCALE_COLUMNS,
        *AUTHOR_COLUMNS,
        *PHOTO_COLUMNS,
        *MRC_FILE_COLUMNS,
        *MRC_AXIS_COLUMNS,
        *ZARR_FILE_COLUMNS,
        *ZARR_LEVEL_COLUMNS,
    ]
    expectations = [
        *_document_expectations(spacing),
        *basic_expectations(),
        *photo_expectations(),
        *_mrc_expectations(spacing),
        *_zarr_expectations(),
    ]
    return run_suite("tomogram", rows_frame(rows, columns=columns), expectations, where_column="where")


def _document_rows(
    doc: Any,
    body: dict[str, Any],
    *,
    path: str,
    spacing: float,
    deposition_exists: bool,
    tomogram_files: list[str],
) -> list[dict[str, Any]]:
    scales = body.get("scales")
    scales = scales if isinstance(scales, list) else []
    names = sorted(tomogram_files)
    photos = tomogram_key_photo_paths(body)
    row = {
        "where": path,
        "document_type": type_name(doc),
        "key_photo_missing": ", ".join(kind for kind in KEY_PHOTO_KINDS if kind not in photos),
        "metadata_size": _zyx_text(body.get("size")) if "size" in body else "(not set)",
        "metadata_scale_0": _zyx_text(scales[0]) if scales else "(no scales)",
        "metadata_voxel_spacing": body.get("voxel_spacing"),
        "voxel_spacing_dir": spacing,
        "deposition_exists": bool(deposition_exists),
        "zarr_files": ", ".join(name for name in names if name.endswith(".zarr")),
        "omezarr_dir_name": _basename(body.get("omezarr_dir")),
        "mrc_files": ", ".join(name for name in names if name.endswith(".mrc")),
        "mrc_file_name": _basename(body.get("mrc_file")),
        **basic_document_columns(body),
    }
    rows = [row]
    for index in range(1, len(scales)):
        halved = _halved(scales[index - 1])
        rows.append(
            {
                "where": f"{path}: scales[{index}]",
                "metadata_scale": _zyx_text(scales[index]),
                "metadata_scale_expected": _zyx_text(halved) if halved else None,
            }
        )
    return rows


def _zyx_text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{axis}={json.dumps(value.get(axis), default=str)}" for axis in ("z", "y", "x"))
    return json.dumps(value, default=str)


def _halved(scale: Any) -> dict[str, int] | None:
    if not isinstance(scale, dict):
        return None
    values = [scale.get(axis) for axis in ("z", "y", "x")]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    return {axis: -(-value // 2) for axis, value in zip(("z", "y", "x"), values, strict=True)}


def _basename(value: Any) -> str:
    return posixpath.basename(str(value)) if value else "(not set)"


def _photo_rows(body: dict[str, Any], *, path: str, photos: dict[str, bytes | None]) -> list[dict[str, Any]]:
    """Rows as `photos.photo_rows` makes them, with the tomogram's heights, 4:3 and `key_photo` names."""
    minimum = {"thumbnail": THUMBNAIL_MIN_HEIGHT, "snapshot": SNAPSHOT_MIN_HEIGHT}
    rows = []
    for kind, photo_path in tomogram_key_photo_paths(body).items():
        [row] = photo_rows(
            {"key_photos": {kind: photo_path}},
            path=path,
            photos=photos,
            min_height=minimum[kind],
            aspect_ratio=KEY_PHOTO_ASPECT_RATIO,
        )
        rows.append({**row, "where": f"{path}: key_photo.{kind} ({photo_path})"})
    return rows


def _document_expectations(spacing: float) -> list:
    import great_expectations.expectations as gxe

    return [
        expect_document_object(),
        gxe.ExpectColumnValuesToBeInSet(
            column="key_photo_missing",
            value_set=[""],
            description="key_photo must name both a snapshot and a thumbnail",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="metadata_size",
            column_B="metadata_scale_0",
            ignore_row_if="either_value_is_missing",
            description="size must equal scales[0]",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="metadata_scale",
            column_B="metadata_scale_expected",
            ignore_row_if="both_values_are_missing",
            description="each scale must be the previous one halved and rounded up on z, y and x",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="metadata_voxel_spacing",
            column_B="voxel_spacing_dir",
            ignore_row_if="both_values_are_missing",
            description=f"voxel_spacing must equal its VoxelSpacing folder's value ({spacing})",
        ),
        expect_deposition_exists(),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="zarr_files",
            column_B="omezarr_dir_name",
            ignore_row_if="both_values_are_missing",
            description="the tomogram folder must hold exactly one .zarr, the one omezarr_dir names",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="mrc_files",
            column_B="mrc_file_name",
            ignore_row_if="both_values_are_missing",
            description="the tomogram folder must hold exactly one .mrc, the one mrc_file names",
        ),
    ]


def _mrc_rows(mrc: dict[str, Any], *, key: str, spacing: float, size: Any) -> list[dict[str, Any]]:
    error = mrc.get("error")
    file_row: dict[str, Any] = {"where": key, "mrc_error": error or ""}
    if error:
        return [file_row]
    labels = mrc.get("labels") or []
    nsymbt = mrc.get("nsymbt")
    file_row.update(
        mrc_ispg=mrc.get("ispg"),
        mrc_map=mrc.get("map"),
        mrc_machine_stamp=mrc.get("machst"),
        mrc_dtype=mrc.get("dtype") or f"unknown mode {mrc.get('mode')}",
        mrc_nlabl=mrc.get("nlabl"),
        mrc_label_count=sum(1 for label in labels if label.strip(LABEL_WHITESPACE)),
        mrc_blank_labels=sum(1 for label in labels if label and not label.strip(LABEL_WHITESPACE)),
        mrc_nversion=mrc.get("nversion"),
        mrc_exttyp=mrc.get("exttyp") if isinstance(nsymbt, int) and nsymbt > 0 else None,
        mrc_nsymbt=nsymbt,
        mrc_extended_header_bytes=mrc.get("extended_header_bytes"),
        mrc_axis_map=", ".join(str(mrc.get(name)) for name in ("mapc", "mapr", "maps")),
        mrc_size_difference=_size_difference(mrc),
        mrc_validate="" if mrc.get("validate_passed") else mrc.get("validate_text") or "failed",
    )
    rows = [file_row]
    for axis in AXES:
        m = mrc.get(f"m{axis}")
        cella = (mrc.get("cella") or {}).get(axis)
        expected_cella = None
        if isinstance(m, int) and cella is not None:
            expected_cella = m * spacing
            # Within tolerance the expected column repeats the observed value, so the pair compares equal
            # and a failure shows the header's value beside the one it should have.
            if abs(cella - expected_cella) <= SPACING_TOLERANCE * max(m, 1):
                expected_cella = cella
            else:
                expected_cella = round(expected_cella, 3)
        rows.append(
            {
                "where": f"{key}: {axis} axis",
                "mrc_n": mrc.get(f"n{axis}"),
                "mrc_m": m,
                "mrc_cella": cella,
                "mrc_cella_expected": expected_cella,
                "mrc_cell_angle": (mrc.get("cellb") or {}).get(CELL_ANGLES[axis]),
                "mrc_origin": (mrc.get("origin") or {}).get(axis),
                "mrc_start": mrc.get(f"n{axis}start"),
                "mrc_voxel_size": (mrc.get("voxel_size") or {}).get(axis),
                "metadata_size_axis": size.get(axis) if isinstance(size, dict) else None,
            }
        )
    return rows


def _size_difference(mrc: dict[str, Any]) -> int | None:
    """Stored bytes minus header + extended header + nx·ny·nz voxels; None when the header cannot say."""
    values = [mrc.get(name) for name in ("size", "itemsize", "nsymbt", "nx", "ny", "nz")]
    if not all(isinstance(v, int) for v in values):
        return None
    size, itemsize, nsymbt, nx, ny, nz = values
    return size - (HEADER_BYTES + nsymbt + nx * ny * nz * itemsize)


def _mrc_expectations(spacing: float) -> list:
    import great_expectations.expectations as gxe

    disk = DISK_SIZE_TOLERANCE - 1
    return [
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_error", value_set=[""], description="the MRC file must exist and open as an MRC file"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_ispg", value_set=[1], description="MRC space group (ispg) must be 1, a single volume"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_map", value_set=["MAP "], description="MRC map ID must be 'MAP '"
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="mrc_machine_stamp",
            regex=MACHINE_STAMP,
            description="MRC machine stamp must be 0x44 0x44, 0x44 0x41 (little-endian) or 0x11 0x11",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_dtype",
            value_set=list(MRC_DTYPES),
            description=f"MRC mode must give one of the data types {', '.join(MRC_DTYPES)}",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="mrc_nlabl", min_value=0, description="MRC nlabl must not be negative"
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="mrc_nlabl",
            column_B="mrc_label_count",
            ignore_row_if="either_value_is_missing",
            description="MRC nlabl must equal the number of non-empty labels (observed: nlabl, labels)",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_blank_labels",
            value_set=[0],
            description="MRC labels must not be whitespace only (observed: how many are)",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_nversion",
            value_set=list(MRC_VERSIONS),
            description="MRC nversion must be 20140 or 20141 (MRC2014)",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_exttyp",
            value_set=list(EXTENDED_HEADER_TYPES),
            description=(
                f"MRC with an extended header must set exttyp to one of {', '.join(EXTENDED_HEADER_TYPES)}"
            ),
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="mrc_nsymbt",
            column_B="mrc_extended_header_bytes",
            ignore_row_if="either_value_is_missing",
            description="MRC nsymbt must equal the extended header's length in bytes",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_axis_map", value_set=["1, 2, 3"], description="MRC mapc, mapr, maps must be 1, 2, 3"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="mrc_size_difference",
            min_value=-disk,
            max_value=disk,
            description=(
                "MRC file size must be within 1 MiB of 1024 + nsymbt + nx·ny·nz·bytes per voxel "
                "(observed: bytes over or under)"
            ),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_size_difference",
            value_set=[0],
            description=(
                "MRC file size differs from 1024 + nsymbt + nx·ny·nz·bytes per voxel "
                "(observed: bytes over or under)"
            ),
            # The portal only warns unless the difference reaches 1 MiB (the rule above).
            severity="warning",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_validate",
            value_set=[""],
            description="mrcfile's validation of the MRC file must pass (observed: its report)",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="mrc_n", min_value=0, description="MRC nx, ny, nz must not be negative"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="mrc_m", min_value=0, description="MRC mx, my, mz must not be negative"
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="mrc_m",
            column_B="mrc_n",
            ignore_row_if="either_value_is_missing",
            description="MRC unit cell must be the whole volume: mx, my, mz equal to nx, ny, nz",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="mrc_cella", min_value=0.0, description="MRC cell dimensions (cella) must not be negative"
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="mrc_cella",
            column_B="mrc_cella_expected",
            ignore_row_if="either_value_is_missing",
            description=(
                f"MRC cell dimension (cella) must be m × the voxel spacing {spacing} "
                f"(±{SPACING_TOLERANCE} per voxel; observed: cella, expected)"
            ),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_cell_angle",
            value_set=[90.0],
            description="MRC cell angles (cellb alpha, beta, gamma) must be 90",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_origin", value_set=[0.0], description="MRC origin must be 0"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="mrc_start", value_set=[0], description="MRC nxstart, nystart, nzstart must be 0"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="mrc_voxel_size",
            min_value=spacing - SPACING_TOLERANCE,
            max_value=spacing + SPACING_TOLERANCE,
            description=f"MRC voxel size must be the voxel spacing {spacing} ±{SPACING_TOLERANCE}",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="mrc_n",
            column_B="metadata_size_axis",
            ignore_row_if="either_value_is_missing",
            description="MRC nx, ny, nz must equal the metadata's size x, y, z",
        ),
    ]


def _zarr_rows(
    zarr: dict[str, Any], *, key: str, spacing: float, mrc: dict[str, Any]
) -> list[dict[str, Any]]:
    zattrs = zarr.get("zattrs")
    metadata_errors = [e for e in (zarr.get("zattrs_error"), zarr.get("zgroup_error")) if e]
    multiscale = _first_multiscale(zattrs)
    file_row: dict[str, Any] = {
        "where": key,
        "zarr_children": ", ".join(sorted(zarr.get("children") or [])),
        "zarr_metadata_error": "; ".join(metadata_errors),
        "multiscales_count": None,
        "ngff_error": zarr.get("ngff_error") or "",
    }
    if zattrs is not None:
        multiscales = zattrs.get("multiscales")
        file_row["multiscales_count"] = len(multiscales) if isinstance(multiscales, list) else 0
    datasets: list = []
    if multiscale is not None:
        raw = multiscale.get("datasets")
        datasets = raw if isinstance(raw, list) else []
        file_row["zattrs_paths"] = ", ".join(
            str(d.get("path")) if isinstance(d, dict) else json.dumps(d, default=str) for d in datasets
        )
        file_row["zattrs_axes"] = json.dumps(multiscale.get("axes"), sort_keys=True, default=str)
    rows = [file_row]
    shape = _mrc_shape(mrc)
    zarrays = zarr.get("zarrays") or {}
    errors = zarr.get("zarray_errors") or {}
    for index, level in enumerate(LEVELS):
        zarray = zarrays.get(level)
        row: dict[str, Any] = {"where": f"{key}/{level}", "zarray_error": errors.get(level) or ""}
        if zarray is not None:
            row.update(
                zarr_dtype=_dtype_name(zarray.get("dtype")),
                zarr_shape=json.dumps(zarray.get("shape"), default=str),
                zarr_shape_expected=json.dumps([-(-n // 2**index) for n in shape]) if shape else None,
                zarr_layout=_layout_text(zarray),
            )
        if multiscale is not None:
            row["zarr_scale"], row["zarr_scale_expected"] = _scale_pair(datasets, index, spacing)
        rows.append(row)
    return rows


def _mrc_shape(mrc: dict[str, Any]) -> list[int] | None:
    """MRC (nz, ny, nx), the zarr's axis order, or None when the MRC could not be read."""
    values = [mrc.get(name) for name in ("nz", "ny", "nx")]
    return values if not mrc.get("error") and all(isinstance(v, int) for v in values) else None


def _dtype_name(value: Any) -> str:
    import numpy as np

    try:
        dtype = np.dtype(value)
    except (TypeError, ValueError):
        return json.dumps(value, default=str)
    return dtype.name if dtype.byteorder in "<|=" else dtype.str


def _layout_text(zarray: dict[str, Any]) -> str:
    """Chunks, compressor, separator and format of a `.zarray`, as one line to compare with §2.4's."""
    compressor = zarray.get("compressor")
    if isinstance(compressor, dict) and compressor.get("id") == "blosc":
        codec = " ".join(f"{name} {compressor.get(name)}" for name in ("cname", "clevel", "shuffle"))
        codec = f"blosc {codec}"
    else:
        codec = json.dumps(compressor, default=str)
    return (
        f"chunks {json.dumps(zarray.get('chunks'), default=str)}, compressor {codec}, "
        f"dimension_separator {json.dumps(zarray.get('dimension_separator'), default=str)}, "
        f"zarr_format {json.dumps(zarray.get('zarr_format'), default=str)}"
    )


EXPECTED_LAYOUT = _layout_text(
    {
        "chunks": ZARR_CHUNKS,
        "compressor": ZARR_COMPRESSOR,
        "dimension_separator": ZARR_SEPARATOR,
        "zarr_format": ZARR_FORMAT,
    }
)


def _scale_pair(datasets: list, level: int, spacing: float) -> tuple[str, str]:
    """(observed, expected) scale of `datasets[level]`; the same text when within ±0.001·2^level of target."""
    try:
        scale = datasets[level]["coordinateTransformations"][0]["scale"]
    except (IndexError, KeyError, TypeError):
        scale = None
    observed = json.dumps(scale, default=str) if scale is not None else "(no scale transform)"
    target = spacing * 2**level
    close = (
        isinstance(scale, list)
        and len(scale) == 3
        and all(
            isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and abs(v - target) <= SPACING_TOLERANCE * 2**level
            for v in scale
        )
    )
    return observed, observed if close else json.dumps([target] * 3)


def _zarr_expectations() -> list:
    import great_expectations.expectations as gxe

    axes = json.dumps(
        [{"name": axis, "type": "space", "unit": "angstrom"} for axis in ("z", "y", "x")], sort_keys=True
    )
    return [
        gxe.ExpectColumnValuesToBeInSet(
            column="zarr_children",
            value_set=[", ".join(sorted(ZARR_CHILDREN))],
            description="the zarr folder must hold exactly 0, 1, 2, .zattrs and .zgroup",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="zarr_metadata_error",
            value_set=[""],
            description="the zarr's .zattrs and .zgroup must exist and hold JSON objects",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="multiscales_count", min_value=1, description="the zarr's .zattrs must hold multiscales"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="ngff_error",
            value_set=[""],
            description="the zarr must validate as an OME-NGFF 0.4 image (observed: the validation errors)",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="zattrs_paths",
            value_set=[", ".join(LEVELS)],
            description="multiscales[0] dataset paths must be 0, 1, 2",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="zattrs_axes",
            value_set=[axes],
            description="multiscales[0] axes must be z, y, x, each of type space in angstrom",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="zarray_error", value_set=[""], description="each zarr level 0, 1, 2 must have a .zarray"
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="zarr_dtype",
            value_set=list(ZARR_DTYPES),
            description=f"zarr data type must be one of {', '.join(ZARR_DTYPES)}",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="zarr_shape",
            column_B="zarr_shape_expected",
            ignore_row_if="either_value_is_missing",
            description="zarr level i shape must be the MRC's (nz, ny, nx) / 2^i rounded up",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="zarr_layout",
            value_set=[EXPECTED_LAYOUT],
            description=f"zarr arrays must be stored as {EXPECTED_LAYOUT}",
        ),
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A="zarr_scale",
            column_B="zarr_scale_expected",
            ignore_row_if="either_value_is_missing",
            description=(
                f"multiscales[0] datasets[i] scale must be the voxel spacing × 2^i on z, y, x "
                f"(±{SPACING_TOLERANCE} × 2^i; observed: scale, expected)"
            ),
        ),
    ]
