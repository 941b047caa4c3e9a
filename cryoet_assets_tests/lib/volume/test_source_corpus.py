"""Every kind of source file the tests make, through the converter.

Whatever the source (mode, byte order, EMDB-style or FEI headers, files other software writes a little
off the standard, any axis order, OME-Zarr), the MRC written passes `mrcfile.validate`, the OME-Zarr
passes ome-zarr-models, and both hold the source's voxels in (z, y, x) order of the physical axes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import zarr

from cryoet_assets.lib.mrc_header import header_voxel_size
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.lib.volume.convert import LABEL_TEXT, convert_tomogram, level_shapes
from cryoet_assets.lib.volume.sources import open_volume

# Three different lengths and a value that tells each voxel's (z, y, x): a swapped axis cannot pass.
SHAPE = (11, 18, 27)
PATTERN = (
    np.arange(SHAPE[0])[:, None, None] * 10000 + np.arange(SHAPE[1])[None, :, None] * 100 + np.arange(SHAPE[2])
).astype(np.float32)
MAP_ID_OFFSET, MACHST_OFFSET, NSYMBT_OFFSET = 208, 212, 92
AXIS_ORDERS = [(1, 3, 2), (2, 1, 3), (2, 3, 1), (3, 1, 2), (3, 2, 1)]


@dataclass
class Variant:
    path: Path
    expected: np.ndarray  # the voxels the output must hold, float32 (z, y, x) along the physical axes
    warnings: tuple[str, ...] = ()  # one regular expression per warning the conversion must give
    extended_header: bytes = b""  # the extended header the output must carry
    exttyp: bytes = b"MRCO"
    voxel_size: float = 10.0  # what the source's header says along physical y (Å)


def random_volume(dtype: str, seed: int = 3) -> np.ndarray:
    kind = np.dtype(dtype)
    info = np.iinfo(kind) if kind.kind in "iu" else np.finfo(kind)
    values = np.random.default_rng(seed).uniform(max(info.min, -1000), min(info.max, 1000), size=SHAPE)
    return values.astype(dtype)


def new_mrc(path: Path, data: np.ndarray, *, voxel_size: float = 10.0, **header) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel_size
        for name, value in header.items():
            setattr(mrc.header, name, value)
    return path


def with_extended_header(path: Path, data: np.ndarray, extended: bytes, exttyp: bytes, **header) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.set_extended_header(np.frombuffer(extended, dtype="V1"))
        mrc.header.exttyp = exttyp
        mrc.voxel_size = 10.0
        for name, value in header.items():
            setattr(mrc.header, name, value)
    return path


def patch(path: Path, offset: int, data: bytes) -> Path:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))
    return path


def write_permuted(
    path: Path, volume: np.ndarray, axes: tuple[int, int, int], *, voxel: tuple[float, float, float]
) -> Path:
    """`volume` (z, y, x) stored with columns, rows and sections along physical axes `axes` (MRC2014).

    mx, my, mz and cella are per physical axis, as the standard has them.
    """
    mapc, mapr, maps = axes
    stored = volume.transpose(3 - maps, 3 - mapr, 3 - mapc)  # physical axis k is axis 3 - k of (z, y, x)
    nz, ny, nx = volume.shape
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(stored))
        header = mrc.header
        header.mapc, header.mapr, header.maps = axes
        header.mx, header.my, header.mz = nx, ny, nz
        header.cella = (nx * voxel[0], ny * voxel[1], nz * voxel[2])
    return path


def write_ome_zarr(path: Path, volume: np.ndarray, *, voxel_size: float) -> Path:
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", shape=volume.shape, dtype=volume.dtype, chunks=(8, 8, 8))[:] = volume
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": axis, "type": "space", "unit": "angstrom"} for axis in "zyx"],
            "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [voxel_size] * 3}]}],
        }
    ]
    return path


def _modes(dtype: str, *, big_endian: bool = False) -> Callable[[Path], Variant]:
    def build(folder: Path) -> Variant:
        volume = random_volume(dtype)
        stored = volume.astype(volume.dtype.newbyteorder(">")) if big_endian else volume
        return Variant(new_mrc(folder / "in.mrc", stored), volume.astype(np.float32))

    return build


def _legacy_int8(folder: Path) -> Variant:
    unsigned = np.random.default_rng(4).integers(0, 256, size=SHAPE, dtype=np.uint8)
    path = new_mrc(folder / "in.mrc", unsigned.view(np.int8))
    with mrcfile.open(path, mode="r+") as mrc:
        mrc.header.dmax = 255
    return Variant(path, unsigned.astype(np.float32) - 128)


def _emdb_style(folder: Path) -> Variant:
    label = b"::::EMDATABANK.org::::EMD-0000::::"
    path = new_mrc(
        folder / "emd_0000.map", PATTERN, voxel_size=1.06, origin=(12.5, -3.0, 7.25), nxstart=-22, nystart=-35,
        nzstart=-18, nlabl=3,
    )
    with mrcfile.open(path, mode="r+") as mrc:
        mrc.header.label[1] = label
        mrc.header.label[2] = b"fitted model: none"
    return Variant(path, PATTERN, voxel_size=1.06)


def _emdb_symmetry_records(folder: Path) -> Variant:
    records = b"".join(f"{op:<80}".encode() for op in ("X,Y,Z", "-X,-Y,Z"))
    path = with_extended_header(folder / "emd_0001.map", PATTERN, records, b"\0\0\0\0", origin=(1.0, 2.0, 3.0))
    return Variant(path, PATTERN, warnings=(r"160-byte extended header has exttyp b'', not one of .*not carried over",))


def _unlabelled_122(folder: Path) -> Variant:
    path = with_extended_header(folder / "in.mrc", PATTERN, bytes(range(122)), b"    ")
    return Variant(path, PATTERN, warnings=(r"122-byte extended header has exttyp b'    ', not one of CCP4",))


def _unknown_exttyp(folder: Path) -> Variant:
    path = with_extended_header(folder / "in.mrc", PATTERN, b"x" * 64, b"ABCD")
    return Variant(path, PATTERN, warnings=(r"exttyp b'ABCD'.*nsymbt 0, exttyp MRCO",))


def _fei1_int16(folder: Path) -> Variant:
    volume = random_volume("int16", seed=5)
    extended = np.random.default_rng(6).integers(0, 256, size=4 * 768, dtype=np.uint8).tobytes()
    path = with_extended_header(
        folder / "in.mrc", volume, extended, b"FEI1", extra1=np.frombuffer(b"ABCDEFGH", dtype="V8")[0]
    )
    return Variant(path, volume.astype(np.float32), extended_header=extended, exttyp=b"FEI1")


def _ccp4_symmetry_records(folder: Path) -> Variant:
    records = b"".join(f"{op:<80}".encode() for op in ("X,Y,Z", "-X,-Y,Z"))
    path = with_extended_header(folder / "in.mrc", PATTERN, records, b"CCP4")
    return Variant(path, PATTERN, extended_header=records, exttyp=b"CCP4")


def _motioncor2_map_id(folder: Path) -> Variant:
    # First three bytes 'MAP', as MRC2014 and mrcfile accept without a word.
    return Variant(patch(new_mrc(folder / "in.mrc", PATTERN), MAP_ID_OFFSET, b"MAP\0"), PATTERN)


def _no_map_id_zero_stamp(folder: Path) -> Variant:
    path = patch(new_mrc(folder / "in.mrc", PATTERN), MAP_ID_OFFSET, bytes(8))
    return Variant(
        path,
        PATTERN,
        warnings=(
            r"no map ID \(bytes 208-211 are b'\\x00\\x00\\x00\\x00', not 'MAP '\); read as MRC all the same",
            "unrecognised machine stamp 0x00 0x00 0x00 0x00; read as little-endian",
        ),
    )


def _stamp_against_byte_order(folder: Path) -> Variant:
    volume = random_volume("float32", seed=8)
    path = patch(new_mrc(folder / "in.mrc", volume.astype(">f4")), MACHST_OFFSET, bytes([0x44, 0x44, 0, 0]))
    return Variant(path, volume, warnings=(r"machine stamp 0x44 0x44 0x00 0x00 does not match .* read as big-endian",))


def _bytes_after_the_data(folder: Path) -> Variant:
    path = new_mrc(folder / "in.mrc", PATTERN)
    path.write_bytes(path.read_bytes() + b"\x7f" * 3000)
    return Variant(path, PATTERN, warnings=(r"3000 bytes after the data block .* they are ignored",))


def _axes_not_a_permutation(folder: Path) -> Variant:
    path = new_mrc(folder / "in.mrc", PATTERN, mapc=0, mapr=0, maps=0)
    return Variant(path, PATTERN, warnings=(r"mapc, mapr, maps = 0, 0, 0 .* read in file order",))


def _axis_order(axes: tuple[int, int, int]) -> Callable[[Path], Variant]:
    def build(folder: Path) -> Variant:
        path = write_permuted(folder / "in.map", PATTERN, axes, voxel=(4.0, 5.0, 6.0))
        return Variant(path, PATTERN, voxel_size=5.0)

    return build


def _ome_zarr(folder: Path) -> Variant:
    volume = random_volume("float32", seed=9)
    return Variant(write_ome_zarr(folder / "in.zarr", volume, voxel_size=10.0), volume)


VARIANTS: dict[str, Callable[[Path], Variant]] = {
    **{f"mode {dtype}": _modes(dtype) for dtype in ("int8", "int16", "float32", "uint16", "float16")},
    "legacy uint8 in mode 0": _legacy_int8,
    "big-endian float32": _modes("float32", big_endian=True),
    "big-endian int16": _modes("int16", big_endian=True),
    "EMDB-style header": _emdb_style,
    "EMDB symmetry records, no exttyp": _emdb_symmetry_records,
    "122-byte extended header, blank exttyp": _unlabelled_122,
    "extended header of an unknown exttyp": _unknown_exttyp,
    "FEI1 extended header, int16": _fei1_int16,
    "CCP4 symmetry records": _ccp4_symmetry_records,
    "MotionCor2 map ID MAP\\0": _motioncor2_map_id,
    "no map ID, zero machine stamp": _no_map_id_zero_stamp,
    "machine stamp against the byte order": _stamp_against_byte_order,
    "bytes after the data": _bytes_after_the_data,
    "axis map 0, 0, 0": _axes_not_a_permutation,
    **{f"axes {a}, {b}, {c}": _axis_order((a, b, c)) for a, b, c in AXIS_ORDERS},
    "OME-Zarr": _ome_zarr,
}


def assert_warnings(given: list[str], expected: tuple[str, ...], *, name: str) -> None:
    assert len(given) == len(expected), given
    for pattern in expected:
        assert any(re.search(pattern, warning) for warning in given), (pattern, given)
    assert all(warning.startswith(f"{name}: ") for warning in given), given


@pytest.mark.parametrize("kind", list(VARIANTS))
def test_every_source_converts_to_valid_files_holding_its_voxels(tmp_path, kind):
    from ome_zarr_models.v04 import Image

    variant = VARIANTS[kind](tmp_path)
    source = open_volume(variant.path)
    try:
        assert source.shape == variant.expected.shape
        assert source.voxel_size == pytest.approx(variant.voxel_size)
        result = convert_tomogram(
            source, voxel_spacing=10.0, mrc_path=tmp_path / "out.mrc", zarr_path=tmp_path / "out.zarr", chunk=16
        )
    finally:
        source.close()
    assert_warnings(result.warnings, variant.warnings, name=str(variant.path))

    report = io.StringIO()
    assert mrcfile.validate(str(tmp_path / "out.mrc"), print_file=report), report.getvalue()
    with mrcfile.open(tmp_path / "out.mrc") as mrc:
        header = mrc.header
        np.testing.assert_array_equal(mrc.data, variant.expected)
        assert (int(header.mapc), int(header.mapr), int(header.maps)) == (1, 2, 3)
        assert (int(header.nx), int(header.ny), int(header.nz)) == SHAPE[::-1]
        assert tuple(mrc.voxel_size.item()) == pytest.approx((10.0, 10.0, 10.0))
        assert header.map == b"MAP " and int(header.nlabl) == 1 and header.label[0].decode().startswith(LABEL_TEXT)
        assert header.exttyp == variant.exttyp and int(header.nsymbt) == len(variant.extended_header)
        assert mrc.extended_header.tobytes() == variant.extended_header

    group = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    Image.from_zarr(group)
    np.testing.assert_array_equal(group["0"][:], variant.expected)
    assert [group[str(level)].shape for level in range(3)] == level_shapes(SHAPE)


@pytest.mark.parametrize("axes", AXIS_ORDERS)
def test_the_header_finder_reads_the_voxel_size_of_physical_y(tmp_path, axes):
    write_permuted(tmp_path / "in.map", PATTERN, axes, voxel=(4.0, 5.0, 6.0))
    assert header_voxel_size(open_bucket(str(tmp_path)), "in.map") == pytest.approx(5.0)
