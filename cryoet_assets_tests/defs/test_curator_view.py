"""What a curator sees: key images inline, sections not ingested, the database written, failed rules."""

from __future__ import annotations

import base64
import contextlib
import io
import re

import dagster as dg
import pytest
from PIL import Image

from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.lib.thumbnail import png_thumbnail
from cryoet_assets.summary import print_summary

DATA_URI_PNG = re.compile(r"!\[([^\]]*)\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")
FAILED_RUN = "20999__TS_002"


@pytest.fixture(scope="module")
def ingested(demo_with_a_failing_run):
    """The demo with an unknown config version, two sections not ingested yet and TS_002 at 40.5 Å, ingested once
    (defs/conftest.py), and the summary the commands print of it."""
    settings, _, instance, report = demo_with_a_failing_run
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        print_summary(report, settings=settings)
    return settings, instance, report, printed.getvalue()


def materialization(instance: dg.DagsterInstance, asset: str, partition: str) -> dict:
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return record.asset_materialization.metadata


def inline_images(markdown: str) -> list[tuple[str, bytes]]:
    return [(alt, base64.b64decode(data)) for alt, data in DATA_URI_PNG.findall(markdown)]


def test_tomograms_materialization_shows_each_key_image_inline(ingested):
    settings, instance, _, _ = ingested
    staging = open_bucket(settings.staging_url)
    markdown = materialization(instance, "tomograms", "20999__TS_001")["key_image"].value
    images = inline_images(markdown)
    assert [alt for alt, _ in images] == [
        "key image of tomogram 100 (10.012 Å)", "key image of tomogram 101 (20.024 Å)"
    ]
    for spacing, (alt, png) in zip(("10.012", "20.024"), images, strict=True):
        tomogram_id = alt.split()[4]
        folder = f"20999/TS_001/Reconstructions/VoxelSpacing{spacing}"
        snapshot = f"{folder}/Images/{tomogram_id}/key-photo-snapshot.png"
        source = Image.open(io.BytesIO(staging.read_bytes(snapshot)))
        assert png == png_thumbnail(staging.read_bytes(snapshot))
        preview = Image.open(io.BytesIO(png))
        assert preview.format == "PNG" and max(preview.size) == 128
        assert abs(preview.size[0] / preview.size[1] - source.size[0] / source.size[1]) < 0.02
        assert len(png) < 128 * 128 // 2 + 1024


@pytest.mark.parametrize(
    ("asset", "partition", "published"),
    [
        ("dataset_key_photos", "20999", "20999/Images/snapshot.png"),
        ("deposition_key_photos", "10999", "depositions_metadata/10999/Images/snapshot.png"),
    ],
)
def test_key_photo_materializations_show_the_snapshot_inline(ingested, asset, partition, published):
    settings, instance, _, _ = ingested
    [(alt, png)] = inline_images(materialization(instance, asset, partition)["key_photo"].value)
    assert alt == "key photo (snapshot)"
    assert png == png_thumbnail(open_bucket(settings.staging_url).read_bytes(published))
    assert Image.open(io.BytesIO(png)).size == (128, 96)  # the demo's 512 × 384 snapshot


def test_plan_and_summary_list_the_sections_not_ingested_yet(ingested):
    settings, instance, _, printed = ingested
    metadata = materialization(instance, "ingestion_plan", "20999")
    assert metadata["not_ingested_yet"].value == "gains (1 source), rawtilts (2 sources)"
    assert metadata["not_ingested_sources"].value == {"gains": 1, "rawtilts": 2}
    config = f"{settings.configs_url}/20999.yaml"
    expected = "not ingested yet: gains (1 source), rawtilts (2 sources)"
    assert f"\nConfigs:\n  {config}  datasets 20999\n    {expected}\n" in printed


def test_config_warnings_reach_the_curator_and_do_not_stop_ingestion(ingested):
    settings, instance, report, _ = ingested
    metadata = materialization(instance, "ingestion_config", "20999")
    [line] = metadata["config_warnings"].value.splitlines()
    config = open_bucket(settings.configs_url).read_text("20999.yaml").splitlines()
    version_line = next(number for number, text in enumerate(config, 1) if text.startswith("version:"))
    assert line.startswith(f"- {settings.configs_url}/20999.yaml:{version_line}: version: warning: ")
    assert "'1.4.0'" in line
    assert [run.success for run in report.runs if run.job_name == "dataset_plan_job"] == [True]


def test_db_rows_say_which_database_they_wrote(ingested):
    from cryoet_assets.definitions import defs

    settings, instance, _, _ = ingested
    for asset, partition in [("deposition_db_rows", "10999"), ("dataset_db_rows", "20999"),
                             ("run_db_rows", "20999__TS_001"), ("tomogram_db_rows", "20999__TS_001")]:
        assert defs.resolve_assets_def(asset).specs_by_key[dg.AssetKey(asset)].kinds == {"sql"}
        metadata = materialization(instance, asset, partition)
        assert metadata["database"].value == "sqlite"
        assert metadata["database_url"].value == settings.staging_db_url


def test_a_failed_check_names_the_rule_where_and_by_how_much(ingested):
    _, instance, report, printed = ingested
    [check] = [c for key, c in report.checks() if key == FAILED_RUN and c.name == "voxel_spacings_valid"]
    where = "20999/TS_002/Reconstructions/VoxelSpacing40.500"
    rule = "expect_column_values_to_be_between on voxel_spacing: 1 of 1 failed"
    assert (check.passed, check.severity) == (False, "ERROR")
    assert check.text == (
        "voxel_spacing_names: failed (error), 1 of 3 expectations: "
        f"voxel spacing must be strictly between 1 and 30 at {where} ({rule})"
    )
    assert f"  FAILED voxel_spacings_valid [{FAILED_RUN}]: {check.text}\n" in printed

    check_key = dg.AssetCheckKey(dg.AssetKey("voxel_spacings"), "voxel_spacings_valid")
    records = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=10)
    [record] = [r for r in records if r.partition == FAILED_RUN]
    metadata = record.event.dagster_event.event_specific_data.metadata
    assert metadata["failed_expectations"].value == [rule]
    [failure] = metadata["validation"].value["failures"]
    assert failure == {
        "expectation": "expect_column_values_to_be_between",
        "column": "voxel_spacing",
        "where": [where],
        "reason": "voxel spacing must be strictly between 1 and 30",
        "observed": [40.5],
        "expected": {"min_value": 1.0, "max_value": 30.0, "strict_min": True, "strict_max": True},
        "failed_count": 1,
        "checked_count": 1,
        "severity": "error",
    }
    table = metadata["failures"].value.splitlines()
    assert table[2] == (
        f"| error | expect_column_values_to_be_between | voxel_spacing | 1 of 1 | {where} | [40.5] "
        '| {"min_value": 1.0, "max_value": 30.0, "strict_min": true, "strict_max": true} '
        "| voxel spacing must be strictly between 1 and 30 |"
    )


def test_the_summary_tells_a_config_not_planned_and_a_failed_tick_from_a_failed_run(ingested):
    from cryoet_assets.runner import IngestionReport, RunOutcome

    settings = ingested[0]
    report = IngestionReport(runs=[
        RunOutcome("deposit_sensor", "a.yaml", False, error="a.yaml is not planned: outside every grant",
                   kind="config"),
        RunOutcome("plan_sensor", "tick", False, error="OSError: the staging bucket is unreachable",
                   kind="tick"),
        RunOutcome("dataset_job", "20999", False, error="dataset_rows: the database is unreachable"),
    ])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        print_summary(report, settings=settings)
    lines = printed.getvalue().splitlines()
    assert "  not planned: deposit_sensor [a.yaml]: a.yaml is not planned: outside every grant" in lines
    assert "  tick failed: plan_sensor [tick]: OSError: the staging bucket is unreachable" in lines
    assert "  run failed: dataset_job [20999]: dataset_rows: the database is unreachable" in lines
