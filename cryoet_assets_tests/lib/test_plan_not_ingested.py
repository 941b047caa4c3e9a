"""Config sections the project does not ingest yet are recorded in the plan, with their number of sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryoet_assets.families import run_contributors
from cryoet_assets.lib.config import load_config_file
from cryoet_assets.lib.config.models import ENTITY_SECTIONS
from cryoet_assets.lib.demo import write_demo
from cryoet_assets.lib.ingestion import load_config_object
from cryoet_assets.lib.plan import INGESTED_SECTIONS, describe_not_ingested, not_ingested_sections
from cryoet_assets.lib.storage import LocalBucket



def as_data(path: Path) -> dict:
    """The config as the plan sees it: YAML keys, only what the file sets."""
    return load_config_file(path).model_dump(mode="json", by_alias=True, exclude_unset=True)


def test_a_real_portal_config_lists_every_section_not_ingested(reference_dir: Path):
    path = reference_dir / "configs" / "10301.yaml"
    counts = not_ingested_sections(as_data(path))
    assert counts == {
        "alignments": 1, "annotations": 6, "collection_metadata": 1, "frames": 1, "gains": 1,
        "identified_objects": 1, "rawtilts": 1, "tiltseries": 1,
    }
    assert describe_not_ingested(counts) == (
        "alignments (1 source), annotations (6 sources), collection_metadata (1 source), frames (1 source), "
        "gains (1 source), identified_objects (1 source), rawtilts (1 source), tiltseries (1 source)"
    )


def test_ingested_sections_are_schema_sections_and_never_listed():
    assert INGESTED_SECTIONS < set(ENTITY_SECTIONS)
    config = {section: [{"sources": [{"literal": {"value": ["x"]}}]}] for section in ENTITY_SECTIONS}
    assert set(not_ingested_sections(config)) == set(ENTITY_SECTIONS) - INGESTED_SECTIONS
    assert "key_images" in not_ingested_sections(config)  # generated, but configured sources are not read


def test_empty_sections_are_left_out_and_nothing_left_reads_none():
    config = {
        "tomograms": [{"sources": [{"literal": {"value": ["a"]}}]}],
        "tiltseries": [],
        "frames": None,
        "ctfs": [{"sources": [{"literal": {"value": ["a"]}}, {"literal": {"value": ["b"]}}]}, {"sources": []}],
    }
    assert not_ingested_sections(config) == {"ctfs": 2}
    assert not_ingested_sections({"tomograms": config["tomograms"]}) == {}
    assert describe_not_ingested({}) == "none"


def test_the_plan_of_a_synthetic_config_records_its_sections_not_ingested(tmp_path):
    deposit = LocalBucket(tmp_path / "cryoetportal-rawdatasets-dev")
    configs = LocalBucket(tmp_path / "configs")
    demo = write_demo(deposit=deposit, configs=configs)
    output = LocalBucket(tmp_path / "out")
    plain = load_config_object(configs, demo.config_key).planner(deposit=deposit, output=output, contributors=run_contributors())
    assert plain.plan(demo.dataset_id).not_ingested == {}

    extra = (
        "frames:\n"
        "  - metadata: {dose_rate: 1.5, is_gain_corrected: false}\n"
        "    sources:\n"
        "      - source_glob: {list_glob: '{run_name}/frames/*.tif'}\n"
        "collection_metadata:\n"
        "  - sources:\n"
        "      - source_multi_glob: {list_globs: ['{run_name}/*.mdoc']}\n"
        "      - source_glob: {list_glob: '{run_name}/*.st.mdoc'}\n"
    )
    configs.write_bytes(demo.config_key, (configs.read_text(demo.config_key) + extra).encode())
    loaded = load_config_object(configs, demo.config_key)
    plan = loaded.planner(deposit=deposit, output=output, contributors=run_contributors()).plan(demo.dataset_id)
    assert plan.not_ingested == {"collection_metadata": 2, "frames": 1}
    assert [run.name for run in plan.runs] == list(demo.runs)  # what is ingested is planned as before
