"""The generated demo deposit and its config."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from PIL import Image

from cryoet_assets.lib.config.validate import validate_paths
from cryoet_assets.lib.demo import (
    DEMO_RUNS,
    DEMO_SOURCE_PREFIX,
    DEMO_TOMOGRAM_SHAPE,
    DEMO_VOXEL_SPACING,
    Demo,
    demo_config,
    write_demo,
)
from cryoet_assets.lib.ingestion import config_objects, load_config_object
from cryoet_assets.lib.photos import fetch_photo
from cryoet_assets.lib.storage import LocalBucket, open_bucket

DEPOSIT_BUCKET_NAME = "cryoetportal-rawdatasets-dev"
PHOTO_SIZES = {
    "deposition_snapshot": (512, 384),
    "deposition_thumbnail": (134, 100),
    "dataset_snapshot": (512, 384),
    "dataset_thumbnail": (134, 100),
}


def make(tmp_path: Path, *, seed: int = 0) -> tuple[LocalBucket, LocalBucket, Demo]:
    deposit = LocalBucket(tmp_path / DEPOSIT_BUCKET_NAME)
    configs = LocalBucket(tmp_path / "configs")
    return deposit, configs, write_demo(deposit=deposit, configs=configs, seed=seed)


def test_write_demo_lays_out_the_deposit(tmp_path: Path) -> None:
    deposit, configs, demo = make(tmp_path)
    assert demo == Demo(config_key="20999.yaml", dataset_id="20999", deposition_id=10999, runs=DEMO_RUNS)
    assert DEMO_RUNS == ("TS_001", "TS_002", "TS_003")
    keys = sorted(info.key for info in deposit.list(""))
    assert keys == sorted(
        [f"{DEMO_SOURCE_PREFIX}/{name}" for name in ("_DONE", "run_data_map.tsv")]
        + [f"{DEMO_SOURCE_PREFIX}/photos/{name}.png" for name in PHOTO_SIZES]
        + [f"{DEMO_SOURCE_PREFIX}/runs/{run}/{run}.mrc" for run in DEMO_RUNS]
        + [f"{DEMO_SOURCE_PREFIX}/runs/TS_001/TS_001_bin2.mrc"]
    )
    assert deposit.read_bytes(f"{DEMO_SOURCE_PREFIX}/_DONE") == b""
    assert deposit.read_text(f"{DEMO_SOURCE_PREFIX}/run_data_map.tsv") == (
        "run_name\tvoxel_spacing\ttilt_axis\n"
        "TS_001\t10.012\t84.7\nTS_002\t10.012\t84.7\nTS_003\t10.012\t84.7\n"
    )
    assert [info.key for info in config_objects(configs)] == ["20999.yaml"]


def test_demo_tomograms_are_readable_mrc(tmp_path: Path) -> None:
    deposit, _, _ = make(tmp_path)
    volumes = []
    files = [(f"{run}/{run}.mrc", DEMO_TOMOGRAM_SHAPE, DEMO_VOXEL_SPACING) for run in DEMO_RUNS]
    files.append(("TS_001/TS_001_bin2.mrc", tuple(n // 2 for n in DEMO_TOMOGRAM_SHAPE), 2 * DEMO_VOXEL_SPACING))
    for name, shape, spacing in files:
        path = deposit.local_path(f"{DEMO_SOURCE_PREFIX}/runs/{name}")
        assert mrcfile.validate(str(path), print_file=io.StringIO()), name
        with mrcfile.open(path, permissive=False) as mrc:
            assert mrc.data.shape == shape
            assert mrc.data.dtype == np.float32
            assert float(mrc.voxel_size.x) == pytest.approx(spacing, abs=1e-4)
            assert float(mrc.voxel_size.z) == pytest.approx(spacing, abs=1e-4)
            assert b"mrcfile" not in bytes(mrc.header.label[0])  # no timestamped default label
            volumes.append(np.array(mrc.data))
    assert not np.array_equal(volumes[0], volumes[1])
    # Membrane-like shells are darker than the noise around them: the volume is not plain noise.
    assert volumes[0].min() < -4 * volumes[0].std() / 2


def test_demo_photos_are_pngs_of_the_expected_size(tmp_path: Path) -> None:
    deposit, _, _ = make(tmp_path)
    for name, size in PHOTO_SIZES.items():
        with Image.open(io.BytesIO(deposit.read_bytes(f"{DEMO_SOURCE_PREFIX}/photos/{name}.png"))) as image:
            assert image.format == "PNG"
            assert image.size == size


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    first, _, _ = make(tmp_path / "one", seed=7)
    second, _, _ = make(tmp_path / "two", seed=7)
    third, _, _ = make(tmp_path / "three", seed=8)
    key = f"{DEMO_SOURCE_PREFIX}/runs/TS_002/TS_002.mrc"
    assert first.read_bytes(key) == second.read_bytes(key)
    assert first.read_bytes(key) != third.read_bytes(key)


def test_demo_config_is_valid_and_names_its_photos_in_the_deposit_bucket(tmp_path: Path) -> None:
    deposit, configs, demo = make(tmp_path)
    assert validate_paths([configs.local_path(demo.config_key)])[str(configs.local_path(demo.config_key))] == []
    loaded = load_config_object(configs, demo.config_key)
    standardization = loaded.data["standardization_config"]
    assert standardization == {
        "deposition_id": 10999,
        "source_prefix": DEMO_SOURCE_PREFIX,
        "run_data_map_file": "run_data_map.tsv",
    }
    photos = [
        path
        for section in ("deposition_keyphotos", "dataset_keyphotos")
        for path in loaded.data[section][0]["sources"][0]["literal"]["value"].values()
    ]
    assert photos == [f"{DEPOSIT_BUCKET_NAME}/{DEMO_SOURCE_PREFIX}/photos/{name}.png" for name in PHOTO_SIZES]
    for path in photos:
        assert fetch_photo(path, deposit=deposit) == deposit.read_bytes(path.split("/", 1)[1])


def test_demo_on_s3_names_its_photos_by_uri(tmp_path: Path, s3_bucket_url: Callable[..., tuple[str, str]]) -> None:
    url, endpoint = s3_bucket_url()
    deposit = open_bucket(url, endpoint_url=endpoint)
    configs = LocalBucket(tmp_path / "configs")
    demo = write_demo(deposit=deposit, configs=configs)
    loaded = load_config_object(configs, demo.config_key)
    snapshot = loaded.data["dataset_keyphotos"][0]["sources"][0]["literal"]["value"]["snapshot"]
    assert snapshot == f"{url}/{DEMO_SOURCE_PREFIX}/photos/dataset_snapshot.png"
    data = fetch_photo(snapshot, deposit=deposit, endpoint_url=endpoint)
    assert data == deposit.read_bytes(f"{DEMO_SOURCE_PREFIX}/photos/dataset_snapshot.png")
    assert deposit.exists(f"{DEMO_SOURCE_PREFIX}/_DONE")


def test_demo_config_text_uses_the_given_photo_root() -> None:
    text = demo_config(photos="s3://bucket/uploads/photos")
    assert "snapshot: s3://bucket/uploads/photos/deposition_snapshot.png" in text
    assert "thumbnail: s3://bucket/uploads/photos/dataset_thumbnail.png" in text
    assert "cryoetportal-rawdatasets-dev" not in text
    assert "value: ['float {voxel_spacing}']" in text
    assert r"match_regex: TS_\d+$" in text


def test_demo_spacings_are_a_real_pixel_size_and_twice_it() -> None:
    assert DEMO_VOXEL_SPACING == 10.012
    text = demo_config()
    # The binned tomogram is exactly twice the unbinned spacing, as binning by 2 makes it.
    assert f"value: [{2 * DEMO_VOXEL_SPACING}]" in text and "value: [20.024]" in text
    assert r"voxel_spacing: ['^10\.012$']" in text and r"voxel_spacing: ['^20\.024$']" in text
