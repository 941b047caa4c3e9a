"""A small synthetic deposit generated to fit the demo's ingestion config (`configs/demo.yaml`)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from cryoet_assets.lib.storage import Bucket

DEMO_DEPOSITION_ID = 10999
DEMO_DATASET_ID = 20999
DEMO_RUNS = ("TS_001", "TS_002", "TS_003")
DEMO_SOURCE_PREFIX = "lab_uploads/demo"
# A real detector pixel size rather than a round number; the binned tomogram is at exactly twice it.
DEMO_VOXEL_SPACING = 10.012
DEMO_BINNED_RUN = "TS_001"
DEMO_TOMOGRAM_SHAPE = (40, 96, 128)
# configs/demo.yaml names its key photos in the portal's deposit bucket, as the portal's configs do.
DEMO_DEPOSIT_BUCKET = "cryoetportal-rawdatasets-dev"
DEMO_PHOTOS = f"{DEMO_DEPOSIT_BUCKET}/{DEMO_SOURCE_PREFIX}/photos"
DEMO_CONFIG_RESOURCE = "defaults/demo.yaml"


@dataclass(frozen=True)
class Demo:
    """Where the generated demo lives."""

    config_key: str
    dataset_id: str
    deposition_id: int
    runs: tuple[str, ...]


def demo_config(*, photos: str = DEMO_PHOTOS) -> str:
    """The text of the demo's ingestion config (`configs/demo.yaml`, shipped as package data).

    `photos` is the folder its key photos are read from: `<deposit bucket name>/<key>` or an s3:// URI;
    the file's own value is `cryoetportal-rawdatasets-dev/lab_uploads/demo/photos`. Read at call time.
    """
    from importlib.resources import files

    text = files("cryoet_assets").joinpath(DEMO_CONFIG_RESOURCE).read_text(encoding="utf-8")
    return text.replace(f" {DEMO_PHOTOS}/", f" {photos}/")


def write_demo(*, deposit: Bucket, configs: Bucket, seed: int = 0) -> Demo:
    """Write the deposit `configs/demo.yaml` describes, and that config, into `configs` as `20999.yaml`.

    The deposit holds runs with 10.012 Å tomograms (`DEMO_TOMOGRAM_SHAPE`, z, y, x), one of them also binned
    by 2 to 20.024 Å; key photos; the run data map and the `_DONE` marker. The same seed gives the same bytes.
    """
    rng = np.random.default_rng(seed)
    prefix = DEMO_SOURCE_PREFIX
    for name, size in [("deposition_snapshot", (512, 384)), ("deposition_thumbnail", (134, 100)),
                       ("dataset_snapshot", (512, 384)), ("dataset_thumbnail", (134, 100))]:
        deposit.write_bytes(f"{prefix}/photos/{name}.png", _png(size, rng))
    rows = ["run_name\tvoxel_spacing\ttilt_axis"]
    for index, run in enumerate(DEMO_RUNS):
        rows.append(f"{run}\t{DEMO_VOXEL_SPACING}\t84.7")
        deposit.write_bytes(
            f"{prefix}/runs/{run}/{run}.mrc",
            tomogram_bytes(DEMO_TOMOGRAM_SHAPE, voxel_size=DEMO_VOXEL_SPACING, seed=seed + index),
        )
        if run == DEMO_BINNED_RUN:
            binned = tuple(n // 2 for n in DEMO_TOMOGRAM_SHAPE)
            deposit.write_bytes(
                f"{prefix}/runs/{run}/{run}_bin2.mrc",
                tomogram_bytes(binned, voxel_size=2 * DEMO_VOXEL_SPACING, seed=seed + index),
            )
    deposit.write_bytes(f"{prefix}/run_data_map.tsv", ("\n".join(rows) + "\n").encode())
    deposit.write_bytes(f"{prefix}/_DONE", b"")
    config_key = f"{DEMO_DATASET_ID}.yaml"
    photos = f"{prefix}/photos"
    # Config key photo paths are s3:// URIs, or `<deposit bucket name>/<key>` as the portal writes them.
    photo_ref = deposit.uri(photos) if deposit.uri(photos).startswith("s3://") else f"{deposit.name}/{photos}"
    configs.write_bytes(config_key, demo_config(photos=photo_ref).encode())
    return Demo(config_key=config_key, dataset_id=str(DEMO_DATASET_ID), deposition_id=DEMO_DEPOSITION_ID,
                runs=DEMO_RUNS)


def tomogram_bytes(shape: tuple[int, int, int], *, voxel_size: float, seed: int) -> bytes:
    """A synthetic tomogram (noise, membrane-like shells, empty ice at the lamella edges) as MRC bytes."""
    import tempfile
    from pathlib import Path

    from cryoet_assets.lib.volume.synthetic import write_synthetic_mrc

    with tempfile.TemporaryDirectory() as tmp:
        path = write_synthetic_mrc(Path(tmp) / "volume.mrc", shape=shape, voxel_size=voxel_size, seed=seed, spheres=4)
        return path.read_bytes()


def _png(size: tuple[int, int], rng: np.random.Generator) -> bytes:
    from PIL import Image

    width, height = size
    pixels = (rng.random((height, width)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()
