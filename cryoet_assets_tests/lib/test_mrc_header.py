"""The MRC header as every reader in the project sees it: permissive like mrcfile, axes per MRC2014."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from cryoet_assets.lib.mrc_header import HEADER_BYTES, header_voxel_size, parse_header
from cryoet_assets.lib.storage import open_bucket


def header_bytes(data: np.ndarray | None = None, **fields) -> bytes:
    """The header mrcfile writes for `data` (default: float32 of shape 4, 5, 6), then `fields` set."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "h.mrc"
        with mrcfile.new(path) as mrc:
            mrc.set_data(np.zeros((4, 5, 6), dtype=np.float32) if data is None else data)
            for name, value in fields.items():
                setattr(mrc.header, name, value)
        return path.read_bytes()[:HEADER_BYTES]


def test_axis_order_gives_the_physical_shape_and_the_transpose_to_it():
    # Columns along Z, rows along X, sections along Y: the stored array is (y, x, z).
    header = parse_header(header_bytes(np.zeros((5, 6, 4), dtype=np.float32), mapc=3, mapr=1, maps=2), name="m")
    assert header.file_shape == (5, 6, 4)
    assert header.axis_order == (3, 1, 2)
    assert header.physical_from_file == (2, 0, 1)
    assert header.shape == (4, 5, 6)
    assert header.warnings == ()


def test_voxel_sizes_are_per_physical_axis_whatever_the_axis_order():
    raw = header_bytes(mapc=2, mapr=3, maps=1, mx=6, my=5, mz=4, cella=(12.0, 25.0, 36.0))
    header = parse_header(raw, name="m")
    assert header.voxel_sizes == (2.0, 5.0, 9.0)
    assert header.voxel_size == 5.0


def test_motioncor2_map_id_is_read_without_a_word():
    raw = bytearray(header_bytes())
    raw[208:212] = b"MAP\0"
    assert parse_header(bytes(raw), name="m").warnings == ()


def test_a_header_without_map_id_is_read_when_the_rest_makes_sense():
    raw = bytearray(header_bytes())
    raw[208:216] = bytes(8)
    header = parse_header(bytes(raw), name="old.mrc")
    assert header.shape == (4, 5, 6) and header.fields.dtype["nx"].byteorder in "<="
    assert header.warnings == (
        "old.mrc: no map ID (bytes 208-211 are b'\\x00\\x00\\x00\\x00', not 'MAP '); read as MRC all the same",
        "old.mrc: unrecognised machine stamp 0x00 0x00 0x00 0x00; read as little-endian",
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"GIF89a" + bytes(2000), "the dimensions nx=944130375 ny=24889 nz=0 are not all positive"),
        (b"plain text, not a map\n" * 60, "mode 544501614 is not an MRC mode"),
    ],
)
def test_a_header_without_map_id_that_makes_no_sense_is_not_an_mrc_file(raw, reason):
    pattern = r"^x\.mrc: not an MRC file \(bytes 208-211 are .*, not 'MAP ', and "
    with pytest.raises(ValueError, match=pattern) as raised:
        parse_header(raw, name="x.mrc")
    assert str(raised.value).endswith(f"{reason})")


def test_a_stamp_that_contradicts_the_mode_is_overruled_with_a_warning():
    raw = bytearray(header_bytes(np.zeros((4, 5, 6), dtype=">f4")))
    raw[212:216] = bytes([0x44, 0x44, 0, 0])
    header = parse_header(bytes(raw), name="m")
    assert header.fields.dtype["nx"].byteorder == ">" and int(header.fields["mode"]) == 2
    assert header.warnings == (
        "m: machine stamp 0x44 0x44 0x00 0x00 does not match the byte order of the mode field; read as big-endian",
    )


def test_the_header_finder_names_a_file_without_voxel_size(tmp_path):
    (tmp_path / "a.mrc").write_bytes(header_bytes(cella=(0.0, 0.0, 0.0)) + bytes(4 * 120))
    with pytest.raises(ValueError, match=r"a\.mrc: the header gives no voxel size \(my=5, cella\.y=0\.0\)"):
        header_voxel_size(open_bucket(str(tmp_path)), "a.mrc")


def test_a_short_file_is_refused():
    with pytest.raises(ValueError, match="m: 10 bytes is too short for an MRC file"):
        parse_header(bytes(10), name="m")
