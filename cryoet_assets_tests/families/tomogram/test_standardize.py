"""Tomogram ids, publishing to local and S3 buckets, and what a bad source leaves behind (nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import zarr

from cryoet_assets.families.tomogram.plan import TomogramPlan
from cryoet_assets.families.tomogram.standardize import (
    TomogramError,
    assign_ids,
    existing_ids,
    identity,
    standardize,
    tomogram_document,
)
from cryoet_assets.lib.documents import dumps
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.lib.volume.sources import VolumeError

TOMOGRAM_METADATA = {"reconstruction_method": "WBP", "processing": "raw", "fiducial_alignment_status": True}


def plan(vs: float, source: str = "a.mrc", **metadata) -> TomogramPlan:
    return TomogramPlan(
        voxel_spacing=vs, source_path=source, config_index=0, metadata={**TOMOGRAM_METADATA, **metadata}
    )


def test_ids_start_at_100_and_follow_the_order():
    tomograms = [plan(10.0), plan(20.0), plan(10.0, processing="denoised")]
    assert assign_ids(tomograms, existing={}, deposition_id=1, where="c.yaml") == [100, 101, 102]


def test_published_ids_are_kept_and_new_ones_come_after_the_largest():
    existing = {identity(TOMOGRAM_METADATA, voxel_spacing=20.0, deposition_id=1): 104}
    tomograms = [plan(10.0), plan(20.0)]
    assert assign_ids(tomograms, existing=existing, deposition_id=1, where="c.yaml") == [105, 104]


def test_another_deposition_is_another_tomogram():
    existing = {identity(TOMOGRAM_METADATA, voxel_spacing=10.0, deposition_id=1): 100}
    assert assign_ids([plan(10.0)], existing=existing, deposition_id=2, where="c.yaml") == [101]


def test_two_tomograms_the_portal_cannot_tell_apart_are_an_error():
    with pytest.raises(TomogramError, match=r"c\.yaml: .*a\.mrc and b\.mrc at 10\.000 Å have the same"):
        assign_ids([plan(10.0, "a.mrc"), plan(10.0, "b.mrc")], existing={}, deposition_id=1, where="c.yaml")


def test_existing_ids_are_read_from_published_metadata(tmp_path):
    output = open_bucket(str(tmp_path))
    doc = {**TOMOGRAM_METADATA, "voxel_spacing": 13.48, "deposition_id": 7}
    output.write_bytes("10/TS/Reconstructions/VoxelSpacing13.480/Tomograms/103/tomogram_metadata.json", dumps(doc))
    output.write_bytes("10/TS/Reconstructions/VoxelSpacing13.480/Tomograms/104/tomogram_metadata.json", b"{broken")
    assert existing_ids(output, "10", "TS") == {identity(doc, voxel_spacing=13.48, deposition_id=7): 103}


def write_source(bucket, key: str, volume: np.ndarray, *, voxel_size: float = 10.0) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.mrc"
        with mrcfile.new(path) as mrc:
            mrc.set_data(volume)
            mrc.voxel_size = voxel_size
        bucket.write_bytes(key, path.read_bytes())


VOLUME = np.random.default_rng(11).normal(size=(30, 40, 50)).astype(np.float32)
TOMO_DIR = "20/TS_1/Reconstructions/VoxelSpacing10.000/Tomograms/100"
IMAGES_DIR = "20/TS_1/Reconstructions/VoxelSpacing10.000/Images/100"


def run_standardize(deposit, output, source_key="in/TS_1.mrc", voxel_spacing=10.0):
    return standardize(
        deposit, output, source_key=source_key, dataset_id="20", run_name="TS_1",
        voxel_spacing=voxel_spacing, tomogram_id=100,
    )


def published(output) -> list[str]:
    return sorted(info.key for info in output.list(""))


def check_published(output, result) -> None:
    assert result.mrc_key == f"{TOMO_DIR}/TS_1.mrc" and result.zarr_key == f"{TOMO_DIR}/TS_1.zarr"
    keys = published(output)
    assert {f"{IMAGES_DIR}/key-photo-{name}.png" for name in ("original", "thumbnail", "snapshot", "expanded")} <= set(keys)
    assert f"{TOMO_DIR}/TS_1.zarr/.zattrs" in keys and f"{TOMO_DIR}/TS_1.zarr/2/0/0/0" in keys
    assert result.mrc_bytes == output.size(result.mrc_key) == 1024 + VOLUME.nbytes
    assert result.zarr_bytes == sum(i.size for i in output.list(result.zarr_key))
    assert result.size == {"z": 30, "y": 40, "x": 50}
    assert not any(".cryoet-tmp" in key for key in keys)


def test_standardize_publishes_to_a_local_bucket(tmp_path):
    deposit, output = open_bucket(str(tmp_path / "deposit")), open_bucket(str(tmp_path / "staging"))
    write_source(deposit, "in/TS_1.mrc", VOLUME)
    result = run_standardize(deposit, output)
    check_published(output, result)
    np.testing.assert_array_equal(zarr.open_group(str(tmp_path / "staging" / result.zarr_key), mode="r")["0"][:], VOLUME)
    assert not [p for p in (tmp_path / "staging").rglob("*") if p.name.startswith(".cryoet-tmp")]


@pytest.mark.integration
def test_standardize_reads_and_publishes_over_s3(s3_bucket_url, tmp_path):
    (deposit_url, endpoint), (staging_url, _) = s3_bucket_url("deposit"), s3_bucket_url("staging")
    deposit = open_bucket(deposit_url, endpoint_url=endpoint)
    output = open_bucket(staging_url, endpoint_url=endpoint)
    write_source(deposit, "in/TS_1.mrc", VOLUME)
    result = run_standardize(deposit, output)
    check_published(output, result)
    local = tmp_path / "copy.mrc"
    output.download_file(result.mrc_key, local)
    with mrcfile.open(local) as mrc:
        np.testing.assert_array_equal(mrc.data, VOLUME)
    # A re-run with a smaller volume leaves no chunk of the old one behind.
    write_source(deposit, "in/TS_1.mrc", VOLUME[:, :20, :20])
    run_standardize(deposit, output)
    assert json.loads(output.read_text(f"{TOMO_DIR}/TS_1.zarr/0/.zarray"))["shape"] == [30, 20, 20]
    assert sorted(k for k in published(output) if k.startswith(f"{TOMO_DIR}/TS_1.zarr/0/")) == [
        f"{TOMO_DIR}/TS_1.zarr/0/.zarray", f"{TOMO_DIR}/TS_1.zarr/0/0/0/0"
    ]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-10], "truncated"),
        (lambda data: b"GIF89a" + bytes(2000), "not an MRC file"),
        (lambda data: data[:1024 + 4 * 40 * 50 * 10] , "truncated"),
    ],
)
def test_a_bad_source_publishes_nothing_and_keeps_what_was_published(tmp_path, damage, message):
    deposit, output = open_bucket(str(tmp_path / "deposit")), open_bucket(str(tmp_path / "staging"))
    write_source(deposit, "in/TS_1.mrc", VOLUME)
    run_standardize(deposit, output)
    before = {key: output.read_bytes(key) for key in published(output)}
    deposit.write_bytes("in/TS_1.mrc", damage(deposit.read_bytes("in/TS_1.mrc")))
    with pytest.raises(VolumeError, match=message) as raised:
        run_standardize(deposit, output)
    assert "in/TS_1.mrc" in str(raised.value)
    assert {key: output.read_bytes(key) for key in published(output)} == before
    assert not [p for p in (tmp_path / "staging").rglob("*") if p.name.startswith(".cryoet-tmp")]


@pytest.mark.filterwarnings("ignore:Data array contains NaN values")
def test_a_nan_volume_publishes_nothing(tmp_path):
    deposit, output = open_bucket(str(tmp_path / "deposit")), open_bucket(str(tmp_path / "staging"))
    write_source(deposit, "in/TS_1.mrc", np.full((8, 8, 8), np.nan, dtype=np.float32))
    with pytest.raises(VolumeError, match=r"TS_1\.mrc planes 0-7: 512 of 512 voxels are NaN"):
        run_standardize(deposit, output)
    assert published(output) == []


def test_voxel_spacing_zero_in_config_and_header_is_refused(tmp_path):
    deposit, output = open_bucket(str(tmp_path / "deposit")), open_bucket(str(tmp_path / "staging"))
    write_source(deposit, "in/TS_1.mrc", VOLUME, voxel_size=0.0)
    with pytest.raises(TomogramError, match=r"TS_1\.mrc: no usable voxel spacing: the config's voxel spacing is 0"):
        run_standardize(deposit, output, voxel_spacing=0.0)
    assert published(output) == []


def test_document_has_every_field_the_portal_adds(tmp_path):
    deposit, output = open_bucket(str(tmp_path / "deposit")), open_bucket(str(tmp_path / "staging"))
    write_source(deposit, "in/TS_1.mrc", VOLUME)
    result = run_standardize(deposit, output)
    metadata = {**TOMOGRAM_METADATA, "voxel_spacing": "10", "authors": [{"name": "A"}]}
    doc = tomogram_document(result, metadata=metadata, dataset_id="20", run_name="TS_1", deposition_id=5)
    assert doc["fiducial_alignment_status"] == "FIDUCIAL"
    assert doc["voxel_spacing"] == 10.0 and doc["deposition_id"] == 5 and doc["run_name"] == "TS_1"
    assert doc["omezarr_dir"] == "TS_1.zarr" and doc["mrc_file"] == "TS_1.mrc"
    assert doc["size"] == {"z": 30, "y": 40, "x": 50} and doc["scales"][2] == {"z": 8, "y": 10, "x": 13}
    assert doc["key_photo"] == {
        "snapshot": f"{IMAGES_DIR}/key-photo-snapshot.png",
        "thumbnail": f"{IMAGES_DIR}/key-photo-thumbnail.png",
    }
    assert doc["neuroglancer_config_path"] == (
        "20/TS_1/Reconstructions/VoxelSpacing10.000/NeuroglancerPrecompute/100-neuroglancer_config.json"
    )
    assert doc["alignment_metadata_path"] is None and doc["authors"] == [{"name": "A"}]


KILL_SCRIPT = """
import sys
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.families.tomogram.standardize import standardize
standardize(open_bucket(sys.argv[1]), open_bucket(sys.argv[2]), source_key="in/TS_1.mrc", dataset_id="20",
            run_name="TS_1", voxel_spacing=10.0, tomogram_id=100)
"""


def test_kill_9_mid_conversion_leaves_nothing_published_and_the_rerun_completes(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    deposit, output = open_bucket(str(tmp_path / "deposit")), open_bucket(str(tmp_path / "staging"))
    big = np.random.default_rng(2).normal(size=(128, 512, 512)).astype(np.float32)
    write_source(deposit, "in/TS_1.mrc", big)
    process = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "deposit"), str(tmp_path / "staging")])
    deadline = time.monotonic() + 60
    tomograms = tmp_path / "staging" / "20/TS_1/Reconstructions/VoxelSpacing10.000/Tomograms"
    while not list(tomograms.glob(".cryoet-tmp-*/TS_1.zarr/0/0/0/0")):
        assert process.poll() is None and time.monotonic() < deadline, "the conversion ended before it was killed"
        time.sleep(0.001)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    assert published(output) == []
    assert existing_ids(output, "20", "TS_1") == {}
    assert assign_ids([plan(10.0)], existing={}, deposition_id=1, where="c.yaml") == [100]
    result = run_standardize(deposit, output)
    assert result.tomogram_id == 100
    assert result.mrc_bytes == 1024 + big.nbytes
    assert not list(tomograms.glob(".cryoet-tmp-*")), "the killed conversion's work folder is cleaned up"


@pytest.mark.integration
def test_an_ome_zarr_source_in_an_s3_deposit(s3_bucket_url, tmp_path):
    from cryoet_assets.lib.volume.convert import convert_tomogram
    from cryoet_assets.lib.volume.sources import open_volume

    # Make an OME-Zarr source with the converter itself, then deposit its files on S3.
    local = tmp_path / "made"
    local.mkdir()
    mrc = tmp_path / "v.mrc"
    with mrcfile.new(mrc) as handle:
        handle.set_data(VOLUME)
        handle.voxel_size = 10.0
    source = open_volume(mrc)
    convert_tomogram(source, voxel_spacing=10.0, mrc_path=local / "x.mrc", zarr_path=local / "x.zarr")
    source.close()
    (deposit_url, endpoint), (staging_url, _) = s3_bucket_url("deposit"), s3_bucket_url("staging")
    deposit = open_bucket(deposit_url, endpoint_url=endpoint)
    output = open_bucket(staging_url, endpoint_url=endpoint)
    for path in (local / "x.zarr").rglob("*"):
        if path.is_file():
            deposit.write_bytes(f"in/TS_1.zarr/{path.relative_to(local / 'x.zarr').as_posix()}", path.read_bytes())

    result = run_standardize(deposit, output, source_key="in/TS_1.zarr")
    check_published(output, result)
    assert result.header_voxel_size == 10.0


@pytest.mark.parametrize("kind", ["int16 with an FEI1 extended header", "big-endian float32", "uint16 EMDB-style"])
def test_files_from_other_software_pass_the_gate(tmp_path, kind):
    deposit, output = open_bucket(str(tmp_path / "deposit")), open_bucket(str(tmp_path / "staging"))
    path = tmp_path / "source.mrc"
    with mrcfile.new(path) as mrc:
        if kind.startswith("int16"):
            mrc.set_data((VOLUME * 300).astype(np.int16))
            mrc.set_extended_header(np.zeros(4, dtype=[("metadata", "V768")]))
            mrc.header.exttyp = b"FEI1"
        elif kind.startswith("big-endian"):
            mrc.set_data(VOLUME.astype(">f4"))
        else:
            mrc.set_data((VOLUME * 300 + 2000).astype(np.uint16))
            mrc.header.origin = (5.0, 6.0, 7.0)
            mrc.header.nxstart = -25
        mrc.voxel_size = 9.87
    deposit.write_bytes("in/TS_1.mrc", path.read_bytes())

    result = run_standardize(deposit, output, voxel_spacing=10.0)
    outcome = run_gate(output, result)
    assert outcome.passed, outcome.summary()
    assert result.header_voxel_size == 9.87


def run_gate(output, result):
    from cryoet_assets.families.tomogram.manifest import TomogramManifest
    from cryoet_assets.families.tomogram.validation import validate_run_tomograms

    output.write_bytes("depositions_metadata/5/deposition_metadata.json", b"{}")
    metadata = {
        **TOMOGRAM_METADATA,
        "authors": [{"name": "A", "primary_author_status": True, "corresponding_author_status": True}],
    }
    doc = tomogram_document(result, metadata=metadata, dataset_id="20", run_name="TS_1", deposition_id=5)
    doc_path = f"{TOMO_DIR}/tomogram_metadata.json"
    output.write_bytes(doc_path, dumps(doc))
    manifest = TomogramManifest(
        dataset_id="20", run_name="TS_1", dataset_deposition_id=5, tomograms={doc_path: result.as_dict()}
    )
    return validate_run_tomograms(output, {doc_path: doc}, manifest, deposition_exists={5: True})


def patched(raw: bytes, offset: int, data: bytes) -> bytes:
    return raw[:offset] + data + raw[offset + len(data) :]


@pytest.mark.parametrize(
    ("kind", "warnings"),
    [
        ("axes 3, 1, 2 (EMDB)", []),
        ("map ID MAP\\0 (MotionCor2) and bytes after the data", ["1000 bytes after the data block"]),
        ("no map ID and a zero machine stamp", ["no map ID", "unrecognised machine stamp"]),
        ("160 bytes of EMDB symmetry records, no exttyp", ["the 160-byte extended header has exttyp b''"]),
        ("122-byte extended header, exttyp blank", ["the 122-byte extended header has exttyp b'    '"]),
    ],
)
def test_files_a_little_off_the_standard_are_read_and_pass_the_gate(tmp_path, kind, warnings):
    deposit, output = open_bucket(str(tmp_path / "deposit")), open_bucket(str(tmp_path / "staging"))
    path = tmp_path / "source.mrc"
    with mrcfile.new(path) as mrc:
        if kind.startswith("axes"):
            # Columns along Z, rows along X, sections along Y; mx, my, mz along X, Y, Z (MRC2014).
            mrc.set_data(np.ascontiguousarray(VOLUME.transpose(1, 2, 0)))
            mrc.header.mapc, mrc.header.mapr, mrc.header.maps = 3, 1, 2
            mrc.header.mx, mrc.header.my, mrc.header.mz = 50, 40, 30
        else:
            mrc.set_data(VOLUME)
        if "extended header" in kind or "symmetry" in kind:
            size = int(kind.split("-byte")[0]) if "-byte" in kind else 160
            mrc.set_extended_header(np.frombuffer(b"X,Y,Z".ljust(size), dtype="V1"))
            mrc.header.exttyp = b"    " if "blank" in kind else b""
        mrc.voxel_size = 9.87
    raw = path.read_bytes()
    if kind.startswith("map ID"):
        raw = patched(raw, 208, b"MAP\0") + bytes(1000)
    elif kind.startswith("no map ID"):
        raw = patched(raw, 208, bytes(8))
    deposit.write_bytes("in/TS_1.mrc", raw)

    result = run_standardize(deposit, output, voxel_spacing=10.0)
    assert len(result.warnings) == len(warnings)
    for expected, warning in zip(warnings, result.warnings):
        assert warning.startswith(f"{deposit.uri('in/TS_1.mrc')}: {expected}")
    outcome = run_gate(output, result)
    assert outcome.passed, outcome.summary()
    assert result.header_voxel_size == 9.87 and result.size == {"z": 30, "y": 40, "x": 50}
    level0 = zarr.open_group(str(tmp_path / "staging" / result.zarr_key), mode="r")["0"]
    np.testing.assert_array_equal(level0[:], VOLUME)
    with mrcfile.open(tmp_path / "staging" / result.mrc_key) as mrc:
        np.testing.assert_array_equal(mrc.data, VOLUME)
        assert int(mrc.header.nsymbt) == 0 and mrc.header.exttyp == b"MRCO"
