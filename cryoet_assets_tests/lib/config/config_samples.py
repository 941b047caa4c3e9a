"""A small valid ingestion config and helpers to break it."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import yaml

VALID_YAML = """\
version: 1.3.0
standardization_config:
  deposition_id: 10000
  source_prefix: lab/deposit
  run_data_map_file: run_data_map.tsv
depositions:
- metadata:
    authors: &authors
    - name: Ada Lovelace
      ORCID: 0000-0002-1825-0097
      primary_author_status: true
      corresponding_author_status: true
    - name: Charles Babbage
    dates: &dates
      deposition_date: '2024-01-10'
      last_modified_date: '2024-02-01'
      release_date: '2024-02-01'
    deposition_description: A tiny deposition for tests.
    deposition_identifier: 10000
    deposition_title: Test deposition
    deposition_types:
    - dataset
    - annotation
  sources:
  - literal:
      value:
      - 10000
datasets:
- metadata:
    assay:
      id: EFO:0002909
      name: microscopy assay
    authors: *authors
    cell_type:
      id: CL:0000334
      name: vegetative cell
    dataset_description: Test dataset.
    dataset_identifier: 10001
    dataset_title: Test dataset
    dates: *dates
    development_stage:
      id: unknown
      name: unknown
    disease:
      id: PATO:0000461
      name: normal
    organism:
      name: Schizosaccharomyces pombe
      taxonomy_id: 4896
    sample_type: primary_cell_culture
  sources:
  - literal:
      value:
      - '10001'
runs:
- sources:
  - source_glob:
      list_glob: tomograms/TS_*.rec
      match_regex: .*
      name_regex: (.*)\\.rec
voxel_spacings:
- sources:
  - literal:
      value:
      - 13.48
frames:
- metadata:
    dose_rate: float {dose_rate}
    is_gain_corrected: false
  sources:
  - source_glob:
      list_glob: frames/{run_name}_*.tif
collection_metadata:
- sources:
  - source_glob:
      list_glob: mdocs/{run_name}.mdoc
tiltseries:
- metadata:
    acceleration_voltage: 300000
    camera:
      manufacturer: Gatan
      model: K3
    data_acquisition_software: SerialEM
    is_aligned: false
    microscope:
      manufacturer: TFS
      model: Krios
    microscope_optical_setup:
      energy_filter: GIF
    pixel_spacing: 3.37
    spherical_aberration_constant: 2.7
    tilt_axis: 84.7
    tilt_range:
      max: 60
      min: -60
    tilt_series_quality: int {quality}
    tilt_step: 3
    tilting_scheme: dose-symmetric
    total_flux: 120
  sources:
  - source_glob:
      list_glob: stacks/{run_name}.st
tomograms:
- metadata:
    authors: *authors
    dates: *dates
    fiducial_alignment_status: NON_FIDUCIAL
    is_visualization_default: true
    offset:
      x: 0
      y: 0
      z: 0
    processing: raw
    reconstruction_method: WBP
    reconstruction_software: IMOD
    tomogram_version: 1
    voxel_spacing: 13.48
  sources:
  - source_glob:
      list_glob: tomograms/{run_name}.rec
annotations:
- metadata:
    annotation_ingest_id: ribosome-1
    annotation_method: template matching
    annotation_object:
      id: GO:0022626
      name: cytosolic ribosome
    authors: *authors
    dates: *dates
    ground_truth_status: false
    method_type: automated
  sources:
  - Point:
      file_format: csv
      glob_string: particles/{run_name}_ribosomes.csv
- metadata:
    annotation_ingest_id: membrane-1
    annotation_method: manual segmentation
    annotation_object:
      id: GO:0016020
      name: membrane
    authors: *authors
    dates: *dates
    method_type: manual
  sources:
  - SemanticSegmentationMask:
      file_format: mrc
      glob_string: labels/{run_name}_membranes.mrc
      mask_label: 1
"""


def valid_data() -> dict[str, Any]:
    """The valid config as plain data (a fresh deep copy each time)."""
    return copy.deepcopy(yaml.safe_load(VALID_YAML))


def broken(change: Callable[[dict[str, Any]], Any]) -> bytes:
    """YAML bytes of the valid config after `change` edited its data in place."""
    data = valid_data()
    change(data)
    return yaml.safe_dump(data, sort_keys=False).encode()


def line_of(text: str | bytes, needle: str) -> int:
    """1-based line of the single line of `text` containing `needle`."""
    if isinstance(text, bytes):
        text = text.decode()
    lines = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(lines) == 1, f"{needle!r} found on lines {lines}"
    return lines[0]
