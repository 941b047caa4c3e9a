"""The streaming converter: portal-identical MRC and OME-Zarr from MRC and OME-Zarr inputs of every mode."""

from __future__ import annotations

import io
import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import zarr

from cryoet_assets.lib.volume.convert import LABEL_TEXT, convert_tomogram, level_shapes
from cryoet_assets.lib.volume.sources import VolumeError, open_volume


def reference_pyramid(volume: np.ndarray) -> list[np.ndarray]:
    """What the portal computes: float32 cast, then twice skimage-style block_reduce(2,2,2, mean), zero-padded."""

    def reduce(a: np.ndarray) -> np.ndarray:
        a = np.pad(a, [(0, n % 2) for n in a.shape])
        z, y, x = a.shape
        return a.reshape(z // 2, 2, y // 2, 2, x // 2, 2).mean(axis=(1, 3, 5), dtype=np.float64).astype(np.float32)

    level0 = volume.astype(np.float32)
    level1 = reduce(level0)
    return [level0, level1, reduce(level1)]


def write_mrc(path: Path, data: np.ndarray, *, voxel_size: float = 10.0, **header) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel_size
        for name, value in header.items():
            setattr(mrc.header, name, value)
    return path


def convert(tmp_path: Path, source_path: Path, *, spacing: float = 10.0, chunk: int = 16):
    source = open_volume(source_path)
    try:
        return convert_tomogram(
            source,
            voxel_spacing=spacing,
            mrc_path=tmp_path / "out.mrc",
            zarr_path=tmp_path / "out.zarr",
            chunk=chunk,
        )
    finally:
        source.close()


@pytest.fixture
def volume() -> np.ndarray:
    # Odd sizes on every axis and several chunks per axis at chunk 16: edge chunks, odd edge means.
    return np.random.default_rng(7).normal(3.0, 2.0, size=(37, 70, 45)).astype(np.float32)


def test_pyramid_matches_the_portal_computation(tmp_path, volume):
    result = convert(tmp_path, write_mrc(tmp_path / "in.mrc", volume))
    group = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    for level, expected in enumerate(reference_pyramid(volume)):
        stored = group[str(level)][:]
        assert stored.dtype == np.float32
        assert stored.shape == expected.shape == level_shapes(volume.shape)[level]
        np.testing.assert_allclose(stored, expected, rtol=0, atol=2e-6)
    assert result.scales == [{"z": 37, "y": 70, "x": 45}, {"z": 19, "y": 35, "x": 23}, {"z": 10, "y": 18, "x": 12}]


def test_zarr_layout_is_the_portals(tmp_path, volume):
    convert(tmp_path, write_mrc(tmp_path / "in.mrc", volume), spacing=13.4801, chunk=256)
    root = tmp_path / "out.zarr"
    assert sorted(p.name for p in root.iterdir()) == [".zattrs", ".zgroup", "0", "1", "2"]
    assert json.loads((root / ".zgroup").read_text()) == {"zarr_format": 2}
    for level in range(3):
        zarray = json.loads((root / str(level) / ".zarray").read_text())
        assert zarray["chunks"] == [256, 256, 256]
        assert zarray["dtype"] == "<f4"
        assert zarray["dimension_separator"] == "/"
        assert zarray["compressor"] == {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}
        assert zarray["fill_value"] == 0 and zarray["order"] == "C" and zarray["zarr_format"] == 2
        assert (root / str(level) / "0" / "0" / "0").is_file()
        assert sorted(p.name for p in (root / str(level)).iterdir()) == [".zarray", "0"]
    multiscales = json.loads((root / ".zattrs").read_text())["multiscales"]
    assert multiscales[0]["version"] == "0.4" and multiscales[0]["name"] == "/"
    assert multiscales[0]["axes"] == [{"name": axis, "type": "space", "unit": "angstrom"} for axis in "zyx"]
    assert [d["path"] for d in multiscales[0]["datasets"]] == ["0", "1", "2"]
    assert [d["coordinateTransformations"] for d in multiscales[0]["datasets"]] == [
        [{"type": "scale", "scale": [13.48 * 2**level] * 3}] for level in range(3)
    ]


def test_zarr_passes_ome_zarr_models(tmp_path, volume):
    from ome_zarr_models.v04 import Image

    convert(tmp_path, write_mrc(tmp_path / "in.mrc", volume))
    image = Image.from_zarr(zarr.open_group(str(tmp_path / "out.zarr"), mode="r"))
    assert [d.path for d in image.attributes.multiscales[0].datasets] == ["0", "1", "2"]


def test_mrc_header_follows_the_portal_rules(tmp_path, volume):
    result = convert(tmp_path, write_mrc(tmp_path / "in.mrc", volume, voxel_size=9.0), spacing=10.0004)
    buffer = io.StringIO()
    assert mrcfile.validate(str(tmp_path / "out.mrc"), print_file=buffer), buffer.getvalue()
    with mrcfile.open(tmp_path / "out.mrc") as mrc:
        header = mrc.header
        np.testing.assert_array_equal(mrc.data, volume)
        assert mrc.data.dtype == np.float32 and int(header.mode) == 2
        assert tuple(mrc.voxel_size.item()) == pytest.approx((10.0, 10.0, 10.0))
        assert tuple(header.cella.item()) == pytest.approx((450.0, 700.0, 370.0))
        assert (int(header.mx), int(header.my), int(header.mz)) == (45, 70, 37)
        assert int(header.ispg) == 1 and header.map == b"MAP " and int(header.nversion) == 20141
        assert int(header.nlabl) == 1
        label = header.label[0].decode()
        assert label.startswith(LABEL_TEXT) and len(label.rstrip()) == 79
        assert header.exttyp == b"MRCO" and int(header.nsymbt) == 0
        assert float(header.dmin) == volume.min() and float(header.dmax) == volume.max()
        assert float(header.dmean) == pytest.approx(volume.mean(dtype=np.float64), rel=1e-6)
        assert float(header.rms) == pytest.approx(volume.std(dtype=np.float64), rel=1e-6)
    assert result.stats.rms == pytest.approx(volume.std(dtype=np.float64), rel=1e-6)


def test_statistics_stay_accurate_far_from_zero(tmp_path):
    volume = (1000.0 + np.random.default_rng(1).normal(0, 0.01, size=(20, 30, 40))).astype(np.float32)
    result = convert(tmp_path, write_mrc(tmp_path / "in.mrc", volume))
    assert result.stats.rms == pytest.approx(volume.astype(np.float64).std(), rel=1e-4)
    assert result.stats.mean == pytest.approx(volume.astype(np.float64).mean(), rel=1e-9)


def test_extended_header_and_extra_fields_are_carried_over(tmp_path, volume):
    extended = np.frombuffer(bytes(range(256)) * 4, dtype="V1")
    source = tmp_path / "in.mrc"
    with mrcfile.new(source) as mrc:
        mrc.set_data(volume)
        mrc.set_extended_header(extended)
        mrc.header.exttyp = b"FEI1"
        mrc.header.extra1 = np.frombuffer(b"ABCDEFGH", dtype="V8")[0]
        mrc.voxel_size = 10.0
    convert(tmp_path, source)
    with mrcfile.open(tmp_path / "out.mrc") as mrc:
        assert int(mrc.header.nsymbt) == 1024 and mrc.header.exttyp == b"FEI1"
        assert mrc.extended_header.tobytes() == extended.tobytes()
        assert bytes(mrc.header.extra1) == b"ABCDEFGH"
        np.testing.assert_array_equal(mrc.data, volume)
    assert mrcfile.validate(str(tmp_path / "out.mrc"), print_file=io.StringIO())


@pytest.mark.parametrize("dtype", ["int8", "int16", "uint16", "float16"])
def test_other_modes_become_float32(tmp_path, dtype):
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else np.finfo(dtype)
    values = np.random.default_rng(3).uniform(max(info.min, -1000), min(info.max, 1000), size=(9, 20, 18))
    volume = values.astype(dtype)
    result = convert(tmp_path, write_mrc(tmp_path / "in.mrc", volume))
    with mrcfile.open(tmp_path / "out.mrc") as mrc:
        assert mrc.data.dtype == np.float32
        np.testing.assert_array_equal(mrc.data, volume.astype(np.float32))
    np.testing.assert_allclose(
        zarr.open_group(str(tmp_path / "out.zarr"), mode="r")["1"][:], reference_pyramid(volume)[1], atol=1e-3
    )
    assert result.scales[0] == {"z": 9, "y": 20, "x": 18}


def test_legacy_unsigned_bytes_stored_as_int8_are_remapped(tmp_path):
    # Old writers stored uint8 data in mode 0; the portal shifts it back when dmax says so (facts §2.4).
    unsigned = np.arange(256, dtype=np.uint8).reshape(4, 8, 8)
    source = write_mrc(tmp_path / "in.mrc", unsigned.view(np.int8))
    with mrcfile.open(source, mode="r+") as mrc:
        mrc.header.dmax = 255
    convert(tmp_path, source)
    with mrcfile.open(tmp_path / "out.mrc") as mrc:
        np.testing.assert_array_equal(mrc.data, unsigned.astype(np.float32) - 128)


def test_big_endian_input(tmp_path, volume):
    source = tmp_path / "in.mrc"
    with mrcfile.new(source) as mrc:
        mrc.set_data(volume.astype(">f4"))
        mrc.voxel_size = 10.0
    convert(tmp_path, source)
    with mrcfile.open(tmp_path / "out.mrc") as mrc:
        assert mrc.data.dtype.byteorder in ("=", "<", "|")
        np.testing.assert_array_equal(mrc.data, volume)


def test_ome_zarr_input_converts_like_its_mrc(tmp_path, volume):
    first = tmp_path / "first"
    first.mkdir()
    convert(first, write_mrc(tmp_path / "in.mrc", volume))
    second = tmp_path / "second"
    second.mkdir()
    source = open_volume(first / "out.zarr")
    assert source.voxel_size == 10.0 and source.shape == volume.shape
    convert(second, first / "out.zarr")
    group = zarr.open_group(str(second / "out.zarr"), mode="r")
    np.testing.assert_array_equal(group["0"][:], volume)
    with mrcfile.open(second / "out.mrc") as mrc:
        np.testing.assert_array_equal(mrc.data, volume)


def test_projection_is_the_mean_of_the_central_slices(tmp_path):
    volume = np.random.default_rng(5).normal(size=(60, 12, 14)).astype(np.float32)
    result = convert(tmp_path, write_mrc(tmp_path / "in.mrc", volume))
    np.testing.assert_allclose(result.projection, volume[10:50].mean(axis=0), atol=1e-5)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-100]), "truncated"),
        # nsymbt (bytes 92-95) declares a 1 MB extended header the file does not have.
        (lambda p: p.write_bytes(p.read_bytes()[:92] + (2**20).to_bytes(4, "little") + p.read_bytes()[96:]),
         r"declares a 1048576-byte extended header \(nsymbt\) but the file has only 466200 bytes"),
        (lambda p: p.write_bytes(b"this is a text file, not a map\n" * 50), "not an MRC file"),
        (lambda p: p.write_bytes(b"tiny"), "too short"),
    ],
)
def test_broken_mrc_files_are_refused_naming_the_file(tmp_path, volume, damage, message):
    source = write_mrc(tmp_path / "broken.mrc", volume)
    damage(source)
    with pytest.raises(VolumeError, match=message) as raised:
        open_volume(source)
    assert str(source) in str(raised.value)


def test_unsupported_mode_is_refused(tmp_path):
    source = write_mrc(tmp_path / "complex.mrc", np.zeros((2, 4, 4), dtype=np.complex64))
    with pytest.raises(VolumeError, match=r"complex\.mrc: MRC mode 4 is not supported"):
        open_volume(source)


@pytest.mark.filterwarnings("ignore:Data array contains NaN values")
def test_nan_volume_is_refused_and_names_the_planes(tmp_path, volume):
    volume[20:] = np.nan
    with pytest.raises(VolumeError, match=r"nan\.mrc planes .*NaN or infinite"):
        convert(tmp_path, write_mrc(tmp_path / "nan.mrc", volume))


def test_zarr_without_multiscales_is_refused(tmp_path):
    group = zarr.open_group(str(tmp_path / "plain.zarr"), mode="w", zarr_format=2)
    group.create_array("0", shape=(4, 4, 4), dtype="f4")
    with pytest.raises(VolumeError, match=r"plain\.zarr: not an OME-Zarr image: no 'multiscales'"):
        open_volume(tmp_path / "plain.zarr")


def test_non_positive_voxel_spacing_is_refused(tmp_path, volume):
    with pytest.raises(VolumeError, match="voxel spacing 0.0 must be positive"):
        convert(tmp_path, write_mrc(tmp_path / "in.mrc", volume), spacing=0.0)


def test_an_emdb_style_map_is_standardized_to_the_portal_header(tmp_path, volume):
    # EMDB maps carry origins, start indices, several labels and a sampling grid (mx) of their own.
    source = tmp_path / "emd_0000.map"
    with mrcfile.new(source) as mrc:
        mrc.set_data(volume)
        mrc.voxel_size = 1.06
        header = mrc.header
        header.origin = (12.5, -3.0, 7.25)
        header.nxstart, header.nystart, header.nzstart = -22, -35, -18
        header.label[1] = b"::::EMDATABANK.org::::EMD-0000::::"
        header.label[2] = b"fitted model: none"
        header.nlabl = 3
    convert(tmp_path, source, spacing=1.06)
    out = tmp_path / "out.mrc"
    assert mrcfile.validate(str(out), print_file=io.StringIO())
    with mrcfile.open(out) as mrc:
        header = mrc.header
        assert tuple(header.origin.item()) == (0.0, 0.0, 0.0)
        assert (int(header.nxstart), int(header.nystart), int(header.nzstart)) == (0, 0, 0)
        assert int(header.nlabl) == 1 and header.label[0].decode().startswith(LABEL_TEXT)
        assert tuple(mrc.voxel_size.item()) == pytest.approx((1.06, 1.06, 1.06))
        np.testing.assert_array_equal(mrc.data, volume)


@pytest.mark.parametrize("dtype", ["float32", "int16"])
def test_planes_larger_than_a_slab_are_written_in_bands_of_rows(tmp_path, monkeypatch, dtype):
    import cryoet_assets.lib.volume.convert as convert_module

    # One plane of 70 × 45 voxels is more than a 1000-voxel slab: each plane goes out in bands of 22 rows.
    monkeypatch.setattr(convert_module, "MRC_SLAB_VOXELS", 1000)
    volume = (np.random.default_rng(9).normal(size=(37, 70, 45)) * 100).astype(dtype)
    result = convert(tmp_path, write_mrc(tmp_path / "in.mrc", volume))
    with mrcfile.open(tmp_path / "out.mrc") as mrc:
        np.testing.assert_array_equal(mrc.data, volume.astype(np.float32))
        assert float(mrc.header.rms) == pytest.approx(volume.astype(np.float64).std(), rel=1e-5)
    np.testing.assert_allclose(result.projection, volume[:37].astype(np.float32).mean(axis=0), rtol=1e-5, atol=1e-3)


def pattern_volume(shape: tuple[int, int, int]) -> np.ndarray:
    """Each voxel's value spells its (z, y, x): 10000 z + 100 y + x."""
    z, y, x = np.indices(shape)
    return (10000 * z + 100 * y + x).astype(np.float32)


def write_axis_order(path: Path, volume: np.ndarray, axes: tuple[int, int, int], voxel=(10.0, 10.0, 10.0)) -> Path:
    """`volume` (z, y, x) stored voxel by voxel with columns, rows and sections along physical `axes`."""
    mapc, mapr, maps = axes
    lengths = dict(zip((3, 2, 1), volume.shape))  # physical axis (1 = X, 2 = Y, 3 = Z) -> length
    stored = np.empty((lengths[maps], lengths[mapr], lengths[mapc]), dtype=volume.dtype)
    for s, r, c in np.ndindex(*stored.shape):
        position = {maps: s, mapr: r, mapc: c}
        stored[s, r, c] = volume[position[3], position[2], position[1]]
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(stored)
        header = mrc.header
        header.mapc, header.mapr, header.maps = axes
        header.mx, header.my, header.mz = lengths[1], lengths[2], lengths[3]
        header.cella = tuple(lengths[axis] * size for axis, size in zip((1, 2, 3), voxel))
    return path


@pytest.mark.parametrize("axes", [(3, 1, 2), (2, 3, 1), (3, 2, 1), (2, 1, 3)])
def test_a_source_in_another_axis_order_is_written_along_its_physical_axes(tmp_path, axes):
    # EMDB and CCP4 maps may store columns, rows and sections along any axes; the portal copies them in
    # file order and so swaps axes. Three different lengths and values that spell (z, y, x) catch that.
    volume = pattern_volume((19, 26, 35))
    source = write_axis_order(tmp_path / "in.map", volume, axes, voxel=(3.0, 7.0, 5.0))
    result = convert(tmp_path, source, spacing=7.0)
    assert result.scales[0] == {"z": 19, "y": 26, "x": 35} and result.warnings == []
    out = tmp_path / "out.mrc"
    assert mrcfile.validate(str(out), print_file=io.StringIO())
    with mrcfile.open(out) as mrc:
        np.testing.assert_array_equal(mrc.data, volume)
        assert (int(mrc.header.mapc), int(mrc.header.mapr), int(mrc.header.maps)) == (1, 2, 3)
        assert (int(mrc.header.nx), int(mrc.header.ny), int(mrc.header.nz)) == (35, 26, 19)
        assert tuple(mrc.header.cella.item()) == pytest.approx((245.0, 182.0, 133.0))
    group = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    for level, expected in enumerate(reference_pyramid(volume)):
        np.testing.assert_allclose(group[str(level)][:], expected, rtol=0, atol=1e-2)
    np.testing.assert_allclose(result.projection, volume[3:16].mean(axis=0), rtol=1e-6)


@pytest.mark.parametrize("axes", [(3, 1, 2), (1, 3, 2), (3, 2, 1)])
def test_reordering_a_source_goes_a_slab_at_a_time_through_a_scratch_file(tmp_path, monkeypatch, axes):
    import cryoet_assets.lib.volume.sources as sources

    # Slabs of 3 sections and writes of 2 planes: many slabs, several writes each, partial last ones.
    volume = pattern_volume((13, 17, 22)).astype(np.int16)
    source_path = write_axis_order(tmp_path / "in.map", volume, axes)
    section = volume.size // dict(zip((3, 2, 1), volume.shape))[axes[2]] * 2
    plane = volume.shape[1] * volume.shape[2] * 2
    monkeypatch.setattr(sources, "TRANSPOSE_SLAB_BYTES", 3 * section)
    monkeypatch.setattr(sources, "TRANSPOSE_TOUCH_BYTES", 2 * plane)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    source = open_volume(source_path, scratch_dir=scratch)
    try:
        assert source.shape == volume.shape and source.dtype == np.dtype("int16")
        block = np.empty((5, 9, 22), dtype=np.float32)
        source.read_block(block, slice(4, 9), slice(8, 17), slice(0, 22))
        np.testing.assert_array_equal(block, volume[4:9, 8:17].astype(np.float32))
    finally:
        source.close()
    assert list(scratch.iterdir()) == []  # the scratch file has no name and is gone with the source


def test_bytes_after_the_data_are_ignored_with_a_warning(tmp_path, volume):
    source = write_mrc(tmp_path / "tail.mrc", volume)
    source.write_bytes(source.read_bytes() + b"\1" * 4096)
    result = convert(tmp_path, source)
    assert result.warnings == [
        f"{source}: 4096 bytes after the data block that the header declares (nx=45 ny=70 nz=37, mode 2, "
        "0-byte extended header); they are ignored"
    ]
    with mrcfile.open(tmp_path / "out.mrc") as mrc:
        np.testing.assert_array_equal(mrc.data, volume)


def test_a_file_without_map_id_too_short_for_its_header_is_not_an_mrc_file(tmp_path, volume):
    source = write_mrc(tmp_path / "odd.bin", volume)
    raw = bytearray(source.read_bytes()[:50000])
    raw[208:212] = b"    "
    source.write_bytes(bytes(raw))
    with pytest.raises(VolumeError, match=r"odd\.bin: not an MRC file \(no map ID, and the header's nx=45 ny=70 nz=37, "
                       r"mode 2 and nsymbt=0 need 467224 bytes but the file has 50000\)"):
        open_volume(source)
