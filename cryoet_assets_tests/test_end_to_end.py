"""The whole graph on real services: Dagster on Postgres, buckets on a loopback S3 server, the portal DB on Postgres."""

import json

import dagster as dg
import pytest
from dagster._core.event_api import PartitionKeyFilter
from sqlalchemy import text

from cryoet_assets.lib.db import make_engine
from cryoet_assets.lib.demo import DEMO_RUNS, write_demo
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.runner import Settings, ingest

pytestmark = pytest.mark.integration


@pytest.fixture
def deployment(s3_bucket_url, postgres_database, monkeypatch):
    """Settings pointing at fresh S3 buckets and a fresh portal database, exported for the resources."""
    urls = {name: s3_bucket_url()[0] for name in ("configs", "deposit", "staging", "production")}
    endpoint = s3_bucket_url()[1]
    portal_db = postgres_database()
    settings = Settings(
        configs_url=urls["configs"], deposit_url=urls["deposit"], staging_url=urls["staging"],
        production_url=urls["production"], staging_db_url=portal_db, production_db_url=portal_db,
        s3_endpoint_url=endpoint, staging_https_prefix="https://files.example.org/staging",
    )
    for key, value in settings.environment().items():
        monkeypatch.setenv(key, value)
    return settings


@pytest.fixture
def instance(postgres_database):
    with dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": postgres_database()}}}) as inst:
        yield inst


def bucket(settings: Settings, which: str):
    return open_bucket(getattr(settings, f"{which}_url"), endpoint_url=settings.s3_endpoint_url)


def rows(settings: Settings, sql: str) -> list[tuple]:
    engine = make_engine(settings.staging_db_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_deposit_to_database_on_real_services(deployment, instance, postgres_database):
    demo = write_demo(deposit=bucket(deployment, "deposit"), configs=bucket(deployment, "configs"))
    # The acquisition runs execute two at a time in forked processes, on the Postgres instance and S3 buckets.
    report = ingest(instance, log=lambda line: None, workers=2)

    assert [(run.job_name, run.success) for run in report.runs] == [
        ("dataset_plan_job", True), ("deposition_job", True), ("dataset_job", True),
        *[("acquisition_run_job", True)] * 3,
        ("dataset_job", True),  # the roll-up once every run has its tomograms
    ]
    checks = [check for _, check in report.checks()]
    assert len(checks) == 12 and all(check.passed for check in checks)
    # The expectations GX passed are in the Postgres instance's key-value store: the run that started once
    # another had ended evaluated only what differed from it.
    reused = []
    for run in DEMO_RUNS:
        [record] = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("tomograms"), "tomograms_valid"), limit=1,
            partition_filter=PartitionKeyFilter(key=f"20999__{run}"))
        reused.append(record.event.dagster_event.event_specific_data.metadata["expectations_reused"].value)
    assert max(reused) > 0
    assert instance.get_dynamic_partitions("acquisition_runs") == [f"20999__{run}" for run in DEMO_RUNS]
    assert instance.get_dynamic_partitions("depositions") == ["10999"]

    staging = bucket(deployment, "staging")
    dataset_doc = json.loads(staging.read_bytes("20999/dataset_metadata.json"))
    assert dataset_doc["dataset_identifier"] == 20999 and dataset_doc["deposition_id"] == 10999
    assert dataset_doc["key_photos"] == {"snapshot": "20999/Images/snapshot.png",
                                         "thumbnail": "20999/Images/thumbnail.png"}
    assert isinstance(dataset_doc["last_updated_at"], int)
    deposition_doc = json.loads(staging.read_bytes("depositions_metadata/10999/deposition_metadata.json"))
    assert deposition_doc["deposition_title"] == "Synthetic demo deposition"
    for run in DEMO_RUNS:
        doc = json.loads(staging.read_bytes(f"20999/{run}/run_metadata.json"))
        assert {k: doc[k] for k in ("run_name", "deposition_id")} == {"run_name": run, "deposition_id": 10999}
    assert staging.read_bytes("20999/Images/snapshot.png").startswith(b"\x89PNG")

    runs = rows(deployment, "select id, name, s3_prefix, https_prefix from run order by name")
    assert [(name, s3, https) for _, name, s3, https in runs] == [
        (run, f"{deployment.staging_url}/20999/{run}/", f"https://files.example.org/staging/20999/{run}/")
        for run in DEMO_RUNS
    ]
    assert rows(deployment, """
        select r.name, v.voxel_spacing from tomogram_voxel_spacing v join run r on r.id = v.run_id
        order by r.name, v.voxel_spacing""") == [
        ("TS_001", 10.012), ("TS_001", 20.024), ("TS_002", 10.012), ("TS_003", 10.012)
    ]

    # Tomograms: standardized on S3 and loaded with the portal's computed columns.
    tomograms = rows(deployment, """
        select r.name, t.voxel_spacing, t.size_x, t.size_y, t.size_z, t.scale2_dimensions, t.s3_mrc_file,
               t.https_omezarr_dir, t.file_size_mrc, t.is_author_submitted, t.key_photo_url
        from tomogram t join run r on r.id = t.run_id order by r.name, t.voxel_spacing""")
    vs10 = "Reconstructions/VoxelSpacing10.012/Tomograms/100"
    assert [row[:6] for row in tomograms] == [
        ("TS_001", 10.012, 128, 96, 40, "32,24,10"), ("TS_001", 20.024, 64, 48, 20, "16,12,5"),
        ("TS_002", 10.012, 128, 96, 40, "32,24,10"), ("TS_003", 10.012, 128, 96, 40, "32,24,10"),
    ]
    assert tomograms[2][6] == f"{deployment.staging_url}/20999/TS_002/{vs10}/TS_002.mrc"
    assert tomograms[2][7] == f"https://files.example.org/staging/20999/TS_002/{vs10}/TS_002.zarr"
    assert tomograms[2][8] == staging.size(f"20999/TS_002/{vs10}/TS_002.mrc") == 1024 + 40 * 96 * 128 * 4
    assert all(row[9] for row in tomograms)
    assert tomograms[0][10].endswith("20999/TS_001/Reconstructions/VoxelSpacing10.012/Images/100/key-photo-snapshot.png")
    assert rows(deployment, "select count(*) from tomogram_author") == [(8,)]
    zattrs = json.loads(staging.read_bytes(f"20999/TS_002/{vs10}/TS_002.zarr/.zattrs"))
    assert zattrs["multiscales"][0]["datasets"][2]["coordinateTransformations"][0]["scale"] == [40.048] * 3
    assert rows(deployment, "select count(*) from dataset_author") == [(2,)]
    assert rows(deployment, "select title from dataset where id = 20999") == [("Synthetic demo dataset",)]

    # Lineage and check results are in the Postgres-backed instance, where the UI reads them.
    materialized = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("run_db_rows")), limit=10
    ).records
    assert sorted(record.partition_key for record in materialized) == [f"20999__{r}" for r in DEMO_RUNS]
    assert {record.asset_materialization.metadata["database"].value for record in materialized} == {"postgresql"}

    # The sensors' cursors and run keys are in the instance: asked again, nothing is new and nothing runs.
    assert ingest(instance, log=lambda line: None).runs == []

    # Re-materializing everything (from a new Dagster instance, which has no cursors or run keys yet) changes
    # no id, no row, no document and no volume. (dataset.file_size sums what the dataset prefix holds when
    # the roll-up loads the dataset again, so it is compared apart.)
    tables = ("deposition", "run", "tomogram_voxel_spacing", "dataset_author", "deposition_author",
              "dataset_funding", "deposition_type", "tomogram", "tomogram_author")
    volumes = {info.key: info.etag for info in staging.list("20999/") if "/Tomograms/" in info.key}
    before = {table: rows(deployment, f"select * from {table} order by id") for table in tables}
    dataset_columns = "id, deposition_id, title, description, organism_name, s3_prefix, https_prefix"
    before["dataset"] = rows(deployment, f"select {dataset_columns} from dataset")
    dataset_bytes = staging.read_bytes("20999/dataset_metadata.json")
    fresh_storage = {"storage": {"postgres": {"postgres_url": postgres_database()}}}
    with dg.instance_for_test(overrides=fresh_storage) as fresh:
        again = ingest(fresh, log=lambda line: None)
    assert again.success and len(again.runs) == 7
    after = {table: rows(deployment, f"select * from {table} order by id") for table in tables}
    after["dataset"] = rows(deployment, f"select {dataset_columns} from dataset")
    assert after == before
    published = sum(info.size for info in staging.list("20999/"))
    assert rows(deployment, "select file_size from dataset") == [(published,)]
    assert staging.read_bytes("20999/dataset_metadata.json") == dataset_bytes
    assert {info.key: info.etag for info in staging.list("20999/") if "/Tomograms/" in info.key} == volumes

    # A curator edits the config and a run disappears from the deposit: updated in place, the run is pruned.
    configs = bucket(deployment, "configs")
    edited = configs.read_text(demo.config_key).replace("Synthetic demo dataset", "Demo dataset, revised")
    configs.write_bytes(demo.config_key, edited.encode())
    bucket(deployment, "deposit").delete_prefix("lab_uploads/demo/runs/TS_003")
    edited_report = ingest(instance, log=lambda line: None)
    # The deposition's content did not change: its run key was used already and it is skipped, as the daemon
    # skips it. Runs carry the config's hash in their content version, so the two runs left run again.
    assert [(run.job_name, run.partition_key, run.success) for run in edited_report.runs] == [
        ("dataset_plan_job", "20999", True), ("dataset_job", "20999", True),
        ("acquisition_run_job", "20999__TS_001", True), ("acquisition_run_job", "20999__TS_002", True),
        ("dataset_job", "20999", True),
    ]
    assert rows(deployment, "select id, title from dataset") == [(20999, "Demo dataset, revised")]
    kept = rows(deployment, "select id, name, s3_prefix, https_prefix from run order by name")
    assert kept == runs[:2]
    assert rows(deployment, "select count(*) from tomogram_voxel_spacing") == [(3,)]
    assert rows(deployment, "select count(*) from tomogram") == [(3,)]
