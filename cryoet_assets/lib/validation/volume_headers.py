"""The portal's MRC and OME-Zarr header checks (facts §4.1), shared by every family that publishes volumes.

`mrc_rows`/`zarr_rows` turn `mrc_facts`/`zarr_facts` (lib/volume/inspect.py) into frame rows naming the file,
each axis and each level in `where`; `mrc_expectations`/`zarr_expectations` are the rules over those columns.
"""

from __future__ import annotations

import json
import math
from typing import Any

from cryoet_assets.lib.mrc_header import HEADER_BYTES
from cryoet_assets.lib.volume.inspect import AXES, CELL_ANGLES, LEVELS, first_multiscale

ZARR_CHILDREN = (".zattrs", ".zgroup", *LEVELS)
MRC_DTYPES = ("int8", "uint16", "int16", "float32", "float64")
ZARR_DTYPES = ("int8", "int16", "float32", "float64")
MRC_VERSIONS = (20140, 20141)
EXTENDED_HEADER_TYPES = ("CCP4", "MRCO", "SERI", "AGAR", "FEI1", "FEI2", "HDF5")
MACHINE_STAMP = r"^0x44 0x4[14] |^0x11 0x11 "
SPACING_TOLERANCE = 0.001
DISK_SIZE_TOLERANCE = 2**20
ZARR_CHUNKS = [256, 256, 256]
ZARR_COMPRESSOR = {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}
ZARR_SEPARATOR = "/"
ZARR_FORMAT = 2
# bytes.strip()'s whitespace, which the portal's label check uses; str.strip() would also strip \x85 and \xa0.
LABEL_WHITESPACE = " \t\n\r\x0b\x0c"


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


def mrc_rows(mrc: dict[str, Any], *, key: str, spacing: float, size: Any) -> list[dict[str, Any]]:
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


def mrc_expectations(spacing: float) -> list:
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


def zarr_rows(
    zarr: dict[str, Any], *, key: str, spacing: float, mrc: dict[str, Any]
) -> list[dict[str, Any]]:
    zattrs = zarr.get("zattrs")
    metadata_errors = [e for e in (zarr.get("zattrs_error"), zarr.get("zgroup_error")) if e]
    multiscale = first_multiscale(zattrs)
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


def zarr_expectations() -> list:
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
