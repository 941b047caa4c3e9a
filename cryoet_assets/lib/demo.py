"""A small synthetic deposit and its ingestion config, for the demo and the tests."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from cryoet_assets.lib.storage import Bucket

DEMO_DEPOSITION_ID = 10999
DEMO_DATASET_ID = 20999
DEMO_RUNS = ("TS_001", "TS_002", "TS_003")
DEMO_SOURCE_PREFIX = "lab_uploads/demo"
DEMO_VOXEL_SPACING = 10.0
DEMO_BINNED_RUN = "TS_001"
DEMO_TOMOGRAM_SHAPE = (40, 96, 128)

CONFIG_TEMPLATE = """\
version: 1.3.0
standardization_config:
  deposition_id: {deposition_id}
  source_prefix: {source_prefix}
  run_data_map_file: run_data_map.tsv
depositions:
  - metadata:
      deposition_identifier: {deposition_id}
      deposition_title: Synthetic demo deposition
      deposition_description: A small generated deposition that exercises the whole ingestion graph.
      deposition_types: [dataset]
      authors: &authors
        - name: Ada Tomographer
          ORCID: 0000-0002-1825-0097
          primary_author_status: true
          corresponding_author_status: true
        - name: Grace Microscopist
      dates: &dates
        deposition_date: '2026-11-01'
        release_date: '2026-11-20'
        last_modified_date: '2026-11-20'
    sources:
      - literal:
          value: [{deposition_id}]
deposition_keyphotos:
  - sources:
      - literal:
          value:
            snapshot: {photos}/deposition_snapshot.png
            thumbnail: {photos}/deposition_thumbnail.png
datasets:
  - metadata:
      dataset_identifier: {dataset_id}
      dataset_title: Synthetic demo dataset
      dataset_description: Three generated acquisition runs of a synthetic cell.
      authors: *authors
      dates: *dates
      sample_type: cell_line
      cell_strain:
        name: HeLa
        id: CVCL_0030
      organism:
        name: Homo sapiens
        taxonomy_id: 9606
      assay:
        name: cryo-electron tomography
        id: EFO:0002733
      development_stage:
        name: unknown
        id: unknown
      disease:
        name: normal
        id: PATO:0000461
      funding:
        - funding_agency_name: Demo Science Foundation
          grant_id: DSF-0001
    sources:
      - literal:
          value: ['{dataset_id}']
dataset_keyphotos:
  - sources:
      - literal:
          value:
            snapshot: {photos}/dataset_snapshot.png
            thumbnail: {photos}/dataset_thumbnail.png
runs:
  - sources:
      - source_glob:
          list_glob: runs/TS_*
          match_regex: TS_\\d+$
          name_regex: (TS_\\d+)$
voxel_spacings:
  - sources:
      - literal:
          value: ['float {{voxel_spacing}}']
  - sources:
      - literal:
          value: [20.0]
        parent_filters:
          include:
            run: ['^{binned_run}$']
tomograms:
  - metadata: &tomogram
      authors: *authors
      dates: *dates
      voxel_spacing: 'float {{voxel_spacing}}'
      fiducial_alignment_status: FIDUCIAL
      reconstruction_method: WBP
      reconstruction_software: IMOD
      processing: raw
      tomogram_version: 1
      ctf_corrected: true
      align_software: IMOD
      is_visualization_default: true
      offset: {{x: 0, y: 0, z: 0}}
      affine_transformation_matrix: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    sources:
      - source_glob:
          list_glob: 'runs/{{run_name}}/{{run_name}}.mrc'
        parent_filters:
          include:
            voxel_spacing: ['^10\\.000$']
  - metadata:
      <<: *tomogram
      voxel_spacing: 20.0
      is_visualization_default: false
    sources:
      - source_glob:
          list_glob: 'runs/{{run_name}}/{{run_name}}_bin2.mrc'
        parent_filters:
          include:
            voxel_spacing: ['^20\\.000$']
"""


@dataclass(frozen=True)
class Demo:
    """Where the generated demo lives."""

    config_key: str
    dataset_id: str
    deposition_id: int
    runs: tuple[str, ...]


def demo_config(*, photos: str) -> str:
    """The demo's ingestion config in the portal's YAML format; `photos` is where its key photos are."""
    return CONFIG_TEMPLATE.format(
        deposition_id=DEMO_DEPOSITION_ID,
        dataset_id=DEMO_DATASET_ID,
        source_prefix=DEMO_SOURCE_PREFIX,
        photos=photos,
        binned_run=DEMO_BINNED_RUN,
    )


def write_demo(*, deposit: Bucket, configs: Bucket, seed: int = 0) -> Demo:
    """Write a deposit (runs with 10 Å tomograms, one also at 20 Å; key photos; run data map; `_DONE`) and its config."""
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
