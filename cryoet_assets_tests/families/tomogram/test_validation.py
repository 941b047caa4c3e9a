from __future__ import annotations

import copy
import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import mrcfile
import numcodecs
import numpy as np
import pytest
import zarr
from PIL import Image

from cryoet_assets.families.tomogram.validation import tomogram_key_photo_paths, validate_tomogram
from cryoet_assets.lib.paths import key_image_path, tomogram_dir, tomogram_metadata_path
from cryoet_assets.lib.storage import Bucket, LocalBucket, open_bucket
from cryoet_assets.lib.validation.outcome import Failure, ValidationOutcome
from cryoet_assets.lib.volume.convert import convert_tomogram
from cryoet_assets.lib.volume.inspect import mrc_facts, stream_statistics, zarr_facts
from cryoet_assets.lib.volume.sources import open_volume

DATASET, RUN, SPACING, TOMOGRAM = "20999", "TS_001", 10.0, 100
SHAPE = (20, 36, 30)  # z, y, x
SCALES = [{"z": 20, "y": 36, "x": 30}, {"z": 10, "y": 18, "x": 15}, {"z": 5, "y": 9, "x": 8}]
TOMO_DIR = tomogram_dir(DATASET, RUN, SPACING, TOMOGRAM)
MRC = f"{TOMO_DIR}/TS_001.mrc"
ZARR = f"{TOMO_DIR}/TS_001.zarr"
METADATA = tomogram_metadata_path(DATASET, RUN, SPACING, TOMOGRAM)
SNAPSHOT = key_image_path(DATASET, RUN, SPACING, TOMOGRAM, "snapshot")
THUMBNAIL = key_image_path(DATASET, RUN, SPACING, TOMOGRAM, "thumbnail")
LABEL = b"Validated by cryoET data portal."
PAIR_EQUAL = "expect_column_pair_values_to_be_equal"
PAIR_GREATER = "expect_column_pair_values_a_to_be_greater_than_b"
IN_SET = "expect_column_values_to_be_in_set"


def _document() -> dict[str, Any]:
    return {
        "affine_transformation_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        "align_software": "IMOD",
        "authors": [
            {"name": "Ada Lovelace", "ORCID": "0000-0002-1825-0097", "primary_author_status": True},
            {"name": "Alan Turing", "corresponding_author_status": True},
        ],
        "ctf_corrected": True,
        "dates": {
            "deposition_date": "2026-01-01",
            "last_modified_date": "2026-02-01",
            "release_date": "2026-03-01",
        },
        "fiducial_alignment_status": "FIDUCIAL",
        "is_visualization_default": True,
        "offset": {"x": 0, "y": 0, "z": 0},
        "processing": "raw",
        "reconstruction_method": "Weighted back projection",
        "reconstruction_software": "IMOD",
        "tomogram_version": 1,
        "scales": copy.deepcopy(SCALES),
        "size": dict(SCALES[0]),
        "omezarr_dir": "TS_001.zarr",
        "mrc_file": "TS_001.mrc",
        "run_name": RUN,
        "key_photo": {"snapshot": SNAPSHOT, "thumbnail": THUMBNAIL},
        "voxel_spacing": SPACING,
        "deposition_id": 10999,
        "last_updated_at": 1790000000,
    }


def _volume() -> np.ndarray:
    return np.random.default_rng(7).normal(size=SHAPE).astype(np.float32)


def _write_mrc(path: Path, data: np.ndarray, *, voxel: float = SPACING) -> None:
    with mrcfile.new(str(path), overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel
        nz, ny, nx = data.shape
        mrc.header.cella = (voxel * nx, voxel * ny, voxel * nz)
        mrc.header.exttyp = b"MRCO"
        mrc.header.label[0] = LABEL
        mrc.header.nlabl = 1
        mrc.update_header_stats()


def _write_level(zarr_path: Path, level: int, data: np.ndarray, *, chunks: int = 256) -> None:
    array = zarr.open_array(
        store=str(zarr_path / str(level)),
        mode="w",
        zarr_format=2,
        shape=data.shape,
        dtype=data.dtype,
        chunks=(chunks,) * 3,
        compressor=numcodecs.Blosc("lz4", 5, 1),
        dimension_separator="/",
        fill_value=0,
    )
    array[:] = data


def _write_zarr(zarr_path: Path, data: np.ndarray) -> None:
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_multiscales_metadata

    group = zarr.open_group(store=str(zarr_path), mode="w", zarr_format=2)
    for level in range(3):
        step = 2**level
        _write_level(zarr_path, level, data[::step, ::step, ::step])
    write_multiscales_metadata(
        group,
        datasets=[
            {
                "path": str(level),
                "coordinateTransformations": [{"type": "scale", "scale": [SPACING * 2**level] * 3}],
            }
            for level in range(3)
        ],
        fmt=FormatV04(),
        axes=[{"name": axis, "type": "space", "unit": "angstrom"} for axis in ("z", "y", "x")],
        name="/",
    )


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A correct standardized tomogram, written once: MRC, OME-Zarr, metadata and key photos."""
    root = tmp_path_factory.mktemp("tomogram")
    folder = root / TOMO_DIR
    folder.mkdir(parents=True)
    data = _volume()
    _write_mrc(root / MRC, data)
    _write_zarr(root / ZARR, data)
    (root / METADATA).write_text(json.dumps(_document()))
    (root / SNAPSHOT).parent.mkdir(parents=True)
    (root / SNAPSHOT).write_bytes(_png(512, 384))
    (root / THUMBNAIL).write_bytes(_png(134, 100))
    return root


@pytest.fixture
def bucket(template: Path, tmp_path: Path) -> LocalBucket:
    """A private copy of the template, free to break."""
    shutil.copytree(template, tmp_path / "bucket")
    return LocalBucket(tmp_path / "bucket")


def _validate(
    bucket: Bucket,
    doc: Any = None,
    *,
    photos: dict[str, bytes | None] | None = None,
    deposition_exists: bool = True,
) -> ValidationOutcome:
    doc = _document() if doc is None else doc
    if photos is None:
        photos = {
            path: bucket.read_bytes(path) if bucket.exists(path) else None
            for path in tomogram_key_photo_paths(doc).values()
        }
    folders, files = bucket.listdir(TOMO_DIR)
    return validate_tomogram(
        metadata=doc,
        metadata_path=METADATA,
        mrc=mrc_facts(bucket, MRC),
        zarr=zarr_facts(bucket, ZARR),
        mrc_key=MRC,
        zarr_key=ZARR,
        voxel_spacing_dir_value=SPACING,
        photos=photos,
        deposition_exists=deposition_exists,
        tomogram_files=folders + files,
    )


def _failure(outcome: ValidationOutcome, column: str) -> Failure:
    """The one failure on `column` (for pair rules: "A, B")."""
    found = [f for f in outcome.failures if f.column == column]
    assert len(found) == 1, outcome.summary()
    return found[0]


def _columns(outcome: ValidationOutcome) -> set[str | None]:
    return {f.column for f in outcome.failures}


def _edit_header(bucket: LocalBucket, change) -> None:
    with mrcfile.open(str(bucket.local_path(MRC)), mode="r+") as mrc:
        change(mrc.header)


def test_good_tomogram_passes(bucket):
    outcome = _validate(bucket)
    assert (outcome.passed, outcome.severity, outcome.failures) == (True, None, []), outcome.summary()
    assert outcome.suite == "tomogram"
    assert outcome.statistics.evaluated == outcome.statistics.successful > 50


def test_good_tomogram_on_s3_passes_and_leaves_no_temporary_file(
    template, tmp_path, s3_bucket_url, monkeypatch
):
    url, endpoint = s3_bucket_url("portal")
    s3 = open_bucket(url, endpoint_url=endpoint)
    for path in sorted(template.rglob("*")):
        if path.is_file():
            s3.write_bytes(path.relative_to(template).as_posix(), path.read_bytes())
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    assert s3.local_path(MRC) is None
    outcome = _validate(s3)
    assert outcome.passed, outcome.summary()
    assert list(scratch.iterdir()) == []
    assert mrc_facts(s3, MRC) == mrc_facts(LocalBucket(template), MRC)


def test_the_projects_own_conversion_passes(bucket, tmp_path):
    source_path = tmp_path / "source.mrc"
    _write_mrc(source_path, _volume())
    bucket.delete(MRC)
    bucket.delete_prefix(ZARR)
    source = open_volume(source_path)
    try:
        convert_tomogram(
            source, voxel_spacing=SPACING, mrc_path=bucket.local_path(MRC), zarr_path=bucket.local_path(ZARR)
        )
    finally:
        source.close()
    outcome = _validate(bucket)
    assert outcome.passed, outcome.summary()


def test_mrc_facts_read_the_header(bucket):
    facts = mrc_facts(bucket, MRC)
    assert json.loads(json.dumps(facts)) == facts
    assert (facts["error"], facts["validate_passed"], facts["validate_text"]) == (None, True, "")
    assert (facts["nx"], facts["ny"], facts["nz"]) == (30, 36, 20)
    assert (facts["mx"], facts["my"], facts["mz"]) == (30, 36, 20)
    assert (facts["mode"], facts["dtype"], facts["ispg"], facts["map"]) == (2, "float32", 1, "MAP ")
    assert facts["cella"] == {"x": 300.0, "y": 360.0, "z": 200.0}
    assert facts["voxel_size"] == {"x": 10.0, "y": 10.0, "z": 10.0}
    assert facts["labels"][0] == LABEL.decode() and facts["nlabl"] == 1
    assert (facts["nsymbt"], facts["extended_header_bytes"], facts["nversion"]) == (0, 0, 20141)
    assert facts["size"] == 1024 + 4 * 20 * 36 * 30


def test_zarr_facts_read_metadata_through_the_bucket(bucket):
    facts = zarr_facts(bucket, ZARR)
    assert facts["children"] == [".zattrs", ".zgroup", "0", "1", "2"]
    assert facts["zgroup"] == {"zarr_format": 2}
    assert facts["zattrs"]["multiscales"][0]["version"] == "0.4"
    assert facts["zarrays"]["2"]["shape"] == [5, 9, 8]
    assert (facts["ngff_error"], facts["zattrs_error"], facts["zarray_errors"]["1"]) == (None, None, None)


def test_wrong_voxel_size(bucket):
    _write_mrc(bucket.local_path(MRC), _volume(), voxel=12.0)
    outcome = _validate(bucket)
    failure = _failure(outcome, "mrc_voxel_size")
    assert failure.where == [f"{MRC}: x axis", f"{MRC}: y axis", f"{MRC}: z axis"]
    assert failure.observed == [12.0, 12.0, 12.0]
    assert "voxel size must be the voxel spacing 10.0" in failure.reason
    assert outcome.severity == "error"


def test_cella_mismatch(bucket):
    _edit_header(bucket, lambda header: setattr(header.cella, "z", 250.0))
    outcome = _validate(bucket)
    failure = _failure(outcome, "mrc_cella, mrc_cella_expected")
    assert (failure.where, failure.observed) == ([f"{MRC}: z axis"], [[250.0, 200.0]])
    assert "cell dimension (cella) must be m × the voxel spacing" in failure.reason
    assert _failure(outcome, "mrc_voxel_size").where == [f"{MRC}: z axis"]


def test_origin_not_zero(bucket):
    _edit_header(bucket, lambda header: setattr(header.origin, "x", 5.0))
    outcome = _validate(bucket)
    assert _columns(outcome) == {"mrc_origin"}
    failure = outcome.failures[0]
    assert (failure.where, failure.observed) == ([f"{MRC}: x axis"], [5.0])
    assert failure.reason == "MRC origin must be 0"


def test_whitespace_label_fails(bucket):
    def blank_label(header):
        header.label[1] = b"   "

    _edit_header(bucket, blank_label)
    outcome = _validate(bucket)
    assert _columns(outcome) == {"mrc_blank_labels"}
    assert (outcome.failures[0].where, outcome.failures[0].observed) == ([MRC], [1])


def test_truncated_mrc(bucket):
    path = bucket.local_path(MRC)
    path.write_bytes(path.read_bytes()[:-4096])
    outcome = _validate(bucket)
    failure = _failure(outcome, "mrc_validate")
    assert failure.where == [MRC]
    assert "mrcfile's validation" in failure.reason
    assert "Data block could not be read" in failure.observed[0]
    # 4 KiB short is within the portal's 1 MiB tolerance: a warning, not an error, on its own.
    size = [f for f in outcome.failures if f.column == "mrc_size_difference"]
    assert [(f.severity, f.observed) for f in size] == [("warn", [-4096])]
    assert outcome.severity == "error"


@pytest.mark.parametrize(
    ("content", "column", "observed"),
    [
        # Bytes 208-211, where an MRC has "MAP ".
        (b"this is a text file, not a volume\n" * 200, "mrc_map", [" is "]),
        (b"short", "mrc_error", ["ValueError: Couldn't read enough bytes for MRC header"]),
    ],
    ids=["text", "shorter than a header"],
)
def test_not_an_mrc_fails_without_raising(bucket, content, column, observed):
    bucket.local_path(MRC).write_bytes(content)
    outcome = _validate(bucket)
    failure = _failure(outcome, column)
    assert (failure.where, failure.observed) == ([MRC], observed)
    assert outcome.severity == "error"


def test_missing_mrc(bucket):
    bucket.delete(MRC)
    outcome = _validate(bucket)
    failure = _failure(outcome, "mrc_error")
    assert (failure.where, failure.observed) == ([MRC], ["the MRC file does not exist"])
    assert _failure(outcome, "mrc_files, mrc_file_name").observed == [["", "TS_001.mrc"]]


def test_missing_zattrs(bucket):
    bucket.delete(f"{ZARR}/.zattrs")
    outcome = _validate(bucket)
    assert _columns(outcome) == {"zarr_children", "zarr_metadata_error", "ngff_error"}
    assert all(f.where == [ZARR] for f in outcome.failures)
    assert _failure(outcome, "zarr_children").observed == [".zgroup, 0, 1, 2"]
    assert _failure(outcome, "zarr_metadata_error").observed == [".zattrs is missing"]
    assert "OME-NGFF 0.4" in _failure(outcome, "ngff_error").reason


def test_zattrs_without_multiscales(bucket):
    bucket.write_bytes(f"{ZARR}/.zattrs", b"{}")
    outcome = _validate(bucket)
    assert _columns(outcome) == {"multiscales_count", "ngff_error"}
    assert _failure(outcome, "multiscales_count").where == [ZARR]
    assert "multiscales" in _failure(outcome, "ngff_error").observed[0]


def test_wrong_chunks(bucket):
    _write_level(bucket.local_path(ZARR), 0, _volume(), chunks=16)
    outcome = _validate(bucket)
    assert _columns(outcome) == {"zarr_layout"}
    failure = outcome.failures[0]
    assert failure.where == [f"{ZARR}/0"]
    assert failure.observed[0].startswith("chunks [16, 16, 16], compressor blosc cname lz4 clevel 5")
    assert "chunks [256, 256, 256]" in failure.reason


def test_level_shape_wrong(bucket):
    _write_level(bucket.local_path(ZARR), 2, np.zeros((4, 9, 8), dtype=np.float32))
    outcome = _validate(bucket)
    assert _columns(outcome) == {"zarr_shape, zarr_shape_expected"}
    failure = outcome.failures[0]
    assert (failure.where, failure.observed) == ([f"{ZARR}/2"], [["[4, 9, 8]", "[5, 9, 8]"]])


def test_wrong_level_scale(bucket):
    zattrs = json.loads(bucket.read_bytes(f"{ZARR}/.zattrs"))
    zattrs["multiscales"][0]["datasets"][1]["coordinateTransformations"][0]["scale"] = [10.0, 10.0, 10.0]
    bucket.write_bytes(f"{ZARR}/.zattrs", json.dumps(zattrs).encode())
    outcome = _validate(bucket)
    assert _columns(outcome) == {"zarr_scale, zarr_scale_expected"}
    assert outcome.failures[0].where == [f"{ZARR}/1"]
    assert outcome.failures[0].observed == [["[10.0, 10.0, 10.0]", "[20.0, 20.0, 20.0]"]]


def test_extra_child_in_the_zarr(bucket):
    bucket.write_bytes(f"{ZARR}/notes.txt", b"left behind")
    outcome = _validate(bucket)
    assert _columns(outcome) == {"zarr_children"}
    failure = outcome.failures[0]
    assert (failure.where, failure.observed) == ([ZARR], [".zattrs, .zgroup, 0, 1, 2, notes.txt"])
    assert "exactly 0, 1, 2, .zattrs and .zgroup" in failure.reason


def test_size_differs_from_scales_0(bucket):
    doc = _document()
    doc["size"]["x"] = 31
    outcome = _validate(bucket, doc)
    assert _columns(outcome) == {"metadata_size, metadata_scale_0", "mrc_n, metadata_size_axis"}
    size = _failure(outcome, "metadata_size, metadata_scale_0")
    assert (size.where, size.observed) == ([METADATA], [["z=20, y=36, x=31", "z=20, y=36, x=30"]])
    assert size.reason == "size must equal scales[0]"
    assert _failure(outcome, "mrc_n, metadata_size_axis").where == [f"{MRC}: x axis"]


def test_scales_that_do_not_halve(bucket):
    doc = _document()
    doc["scales"][2]["x"] = 7
    outcome = _validate(bucket, doc)
    failure = _failure(outcome, "metadata_scale, metadata_scale_expected")
    assert _columns(outcome) == {"metadata_scale, metadata_scale_expected"}
    assert failure.where == [f"{METADATA}: scales[2]"]
    assert failure.observed == [["z=5, y=9, x=7", "z=5, y=9, x=8"]]


def test_small_snapshot(bucket):
    photos = {SNAPSHOT: _png(400, 300), THUMBNAIL: bucket.read_bytes(THUMBNAIL)}
    outcome = _validate(bucket, photos=photos)
    where = [f"{METADATA}: key_photo.snapshot ({SNAPSHOT})"]
    height = _failure(outcome, "photo_height, photo_min_height")
    assert (height.expectation, height.where, height.observed) == (PAIR_GREATER, where, [[300, 384]])
    width = _failure(outcome, "photo_width, photo_min_width")
    assert (width.where, width.observed) == (where, [[400, 512.0]])


def test_thumbnail_at_the_minimum_passes_and_one_pixel_less_fails(bucket):
    assert _validate(bucket, photos={SNAPSHOT: _png(512, 384), THUMBNAIL: _png(134, 100)}).passed
    outcome = _validate(bucket, photos={SNAPSHOT: _png(512, 384), THUMBNAIL: _png(133, 100)})
    assert _failure(outcome, "photo_width, photo_min_width").where == [
        f"{METADATA}: key_photo.thumbnail ({THUMBNAIL})"
    ]


def test_missing_thumbnail(bucket):
    bucket.delete(THUMBNAIL)
    outcome = _validate(bucket)
    failure = _failure(outcome, "photo_found")
    assert _columns(outcome) == {"photo_found"}
    assert (failure.where, failure.observed) == ([f"{METADATA}: key_photo.thumbnail ({THUMBNAIL})"], [False])
    assert failure.reason == "key photo file is missing"


def test_key_photo_not_set(bucket):
    doc = _document()
    doc["key_photo"]["thumbnail"] = None
    outcome = _validate(bucket, doc)
    failure = _failure(outcome, "key_photo_missing")
    assert (failure.where, failure.observed) == ([METADATA], ["thumbnail"])


def test_metadata_voxel_spacing_differs_from_its_folder(bucket):
    doc = _document()
    doc["voxel_spacing"] = 12.0
    outcome = _validate(bucket, doc)
    assert _columns(outcome) == {"metadata_voxel_spacing, voxel_spacing_dir"}
    failure = outcome.failures[0]
    assert (failure.expectation, failure.where, failure.observed) == (PAIR_EQUAL, [METADATA], [[12.0, 10.0]])
    assert "voxel_spacing must equal its VoxelSpacing folder's value" in failure.reason


def test_second_mrc_and_misnamed_zarr(bucket):
    bucket.write_bytes(f"{TOMO_DIR}/TS_001_old.mrc", b"old")
    doc = _document()
    doc["omezarr_dir"] = "TS_002.zarr"
    outcome = _validate(bucket, doc)
    assert _columns(outcome) == {"mrc_files, mrc_file_name", "zarr_files, omezarr_dir_name"}
    mrc = _failure(outcome, "mrc_files, mrc_file_name")
    assert mrc.observed == [["TS_001.mrc, TS_001_old.mrc", "TS_001.mrc"]]
    assert _failure(outcome, "zarr_files, omezarr_dir_name").where == [METADATA]


def test_basic_metadata_check_and_deposition(bucket):
    doc = _document()
    doc["authors"][1]["corresponding_author_status"] = False
    outcome = _validate(bucket, doc, deposition_exists=False)
    assert _columns(outcome) == {"corresponding_author_count", "deposition_exists"}
    assert all(f.where == [METADATA] for f in outcome.failures)
    assert _failure(outcome, "deposition_exists").expectation == IN_SET


def test_metadata_that_is_not_an_object_fails_without_raising(bucket):
    outcome = _validate(bucket, ["not", "an", "object"], photos={})
    assert _failure(outcome, "document_type").observed == ["array"]
    assert outcome.severity == "error"


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<i2", "<u2", "i1"])
def test_streamed_statistics_equal_numpys(dtype):
    rng = np.random.default_rng(11)
    if np.dtype(dtype).kind == "i":
        data = rng.integers(-100, 100, size=(7, 33, 29)).astype(dtype)
    else:  # far from zero, where one-pass sums of squares lose their digits
        data = (rng.normal(size=(7, 33, 29)) * 40 + 1000).astype(dtype)
    # 1000 bytes a piece: pieces end mid-row and mid-plane, and the last one is short.
    stats = stream_statistics(io.BytesIO(data.tobytes()), data.dtype, data.size, chunk_bytes=1000)
    assert stats.count == data.size
    assert (stats.minimum, stats.maximum) == (data.min(), data.max())
    assert stats.minimum.dtype == data.dtype.newbyteorder("=")
    assert stats.mean == pytest.approx(data.mean(dtype=np.float64), rel=1e-12)
    assert stats.rms == pytest.approx(data.astype(np.float64).std(), rel=1e-10)
    assert stats.rms == pytest.approx(float(data.std()), rel=1e-5)


def test_streamed_statistics_of_nan_are_nan_and_a_short_stream_is_an_error():
    data = np.arange(100, dtype=np.float32)
    data[57] = np.nan
    stats = stream_statistics(io.BytesIO(data.tobytes()), data.dtype, data.size, chunk_bytes=64)
    assert all(np.isnan(value) for value in (stats.minimum, stats.maximum, stats.mean, stats.rms))
    with pytest.raises(ValueError, match="the data block ended after 396 of 400 bytes"):
        stream_statistics(io.BytesIO(data.tobytes()[:-4]), data.dtype, data.size, chunk_bytes=64)


def _scale_stat(name: str, factor: float):
    def change(header):
        header[name] = header[name] * factor

    return change


def _next_float(name: str, direction: float):
    def change(header):
        header[name] = np.nextafter(header[name], np.float32(direction))

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_scale_stat("rms", 1.005), None),
        (_scale_stat("rms", 1.02), "RMS deviation is"),
        (_scale_stat("dmean", 1.005), None),
        (_scale_stat("dmean", 1.02), "mean is"),
        (_next_float("dmin", -np.inf), "minimum is"),
        (_next_float("dmax", np.inf), "maximum is"),
        (lambda header: header.__setitem__("dmean", -5.0), None),  # below dmin: undetermined
    ],
    ids=["rms +0.5%", "rms +2%", "dmean +0.5%", "dmean +2%", "dmin", "dmax", "dmean undetermined"],
)
def test_header_statistics_are_judged_as_mrcfile_judges_them(bucket, change, message):
    _edit_header(bucket, change)
    report = io.StringIO()
    expected = mrcfile.validate(str(bucket.local_path(MRC)), print_file=report)
    facts = mrc_facts(bucket, MRC)
    assert (facts["validate_passed"], expected) == (message is None, message is None)
    if message is not None:
        assert message in report.getvalue() and message in facts["validate_text"]
        failure = _failure(_validate(bucket), "mrc_validate")
        assert (failure.where, failure.observed[0]) == ([MRC], facts["validate_text"])


def test_wrong_mean_and_rms_in_the_header_fail_the_gate(bucket):
    data = _volume()

    def wrong(header):
        header.dmean = float(data.mean()) + 0.5
        header.rms = float(data.std()) * 0.9

    _edit_header(bucket, wrong)
    outcome = _validate(bucket)
    assert _columns(outcome) == {"mrc_validate"}
    [text] = _failure(outcome, "mrc_validate").observed
    lines = text.splitlines()
    assert [line.split(" is ")[0] for line in lines] == [
        "Data statistics appear to be inaccurate: RMS deviation",
        "Data statistics appear to be inaccurate: mean",
    ]
    real_rms = float(lines[0].split(" is ")[1].split(" but ")[0])
    assert real_rms == pytest.approx(float(data.astype(np.float64).std()), rel=1e-6)


def test_a_larger_file_is_judged_as_mrcfile_judges_it(bucket):
    path = bucket.local_path(MRC)
    path.write_bytes(path.read_bytes() + bytes(4096))
    report = io.StringIO()
    with pytest.warns(RuntimeWarning, match="MRC file is 4096 bytes larger than expected"):
        assert not mrcfile.validate(str(path), print_file=report)
    facts = mrc_facts(bucket, MRC)
    assert facts["validate_passed"] is False
    assert facts["validate_text"].splitlines() == [
        "File is larger than expected. Actual size: 91520 bytes; expected size: 87424 bytes "
        "(calculated from header)",
        "warning: MRC file is 4096 bytes larger than expected",
    ]
    assert facts["validate_text"].splitlines()[0] in report.getvalue()


def test_an_mrc_on_s3_is_read_once(template, s3_bucket_url):
    url, endpoint = s3_bucket_url("portal")
    s3 = open_bucket(url, endpoint_url=endpoint)
    s3.write_bytes(MRC, (template / MRC).read_bytes())
    reads: list[str] = []
    s3.client.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: reads.append(params["Key"]))
    facts = mrc_facts(s3, MRC)
    assert reads == [f"portal/{MRC}"]
    assert facts == mrc_facts(LocalBucket(template), MRC)
    assert facts["validate_passed"], facts["validate_text"]
