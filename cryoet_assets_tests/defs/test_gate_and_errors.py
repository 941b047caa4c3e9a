"""Bad input gets a clear error and publishes nothing; failed checks keep rows out; published work is never lost."""

import logging

import dagster as dg
import pytest
from sqlalchemy import text

from cryoet_assets.lib.db import make_engine
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.runner import Settings, execute, ingest


def count(settings: Settings, table: str) -> int:
    engine = make_engine(settings.staging_db_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"select count(*) from {table}")).scalar_one()
    finally:
        engine.dispose()


def edit_config(settings: Settings, demo, old: str, new: str) -> None:
    configs = open_bucket(settings.configs_url)
    text_ = configs.read_text(demo.config_key)
    assert old in text_
    configs.write_bytes(demo.config_key, text_.replace(old, new).encode())


def portal_files(settings: Settings) -> list[str]:
    return [info.key for info in open_bucket(settings.staging_url).list("") if not info.key.startswith("_")]


def test_broken_config_names_file_and_field_and_publishes_nothing(embedded):
    settings, demo, instance = embedded
    edit_config(settings, demo, "ORCID: 0000-0002-1825-0097", "ORCID: not-an-orcid")

    report = ingest(instance, log=lambda line: None)
    [refused] = report.runs  # the deposit sensor refuses to plan an invalid config, and says why
    assert (refused.job_name, refused.partition_key, refused.success) == ("deposit_sensor", "20999.yaml", False)
    assert "depositions[0].metadata.authors[0].ORCID" in refused.error

    instance.add_dynamic_partitions("datasets", ["20999"])
    outcome = execute(instance, job_name="dataset_plan_job", partition_key="20999")
    assert not outcome.success
    assert "20999.yaml" in outcome.error
    assert "depositions[0].metadata.authors[0].ORCID" in outcome.error
    assert portal_files(settings) == []


def test_missing_source_folder_fails_the_plan_and_keeps_what_was_published(ingested_demo):
    settings, demo, instance = ingested_demo
    published = portal_files(settings)
    runs_before = count(settings, "run")
    assert runs_before == 3

    open_bucket(settings.deposit_url).delete_prefix("lab_uploads/demo/runs")
    outcome = execute(instance, job_name="dataset_plan_job", partition_key="20999")
    assert not outcome.success
    assert "found no acquisition run" in outcome.error and "20999.yaml" in outcome.error
    assert "lab_uploads/demo" in outcome.error
    assert portal_files(settings) == published
    assert count(settings, "run") == runs_before


def test_failing_run_check_blocks_only_that_partitions_rows(demo_with_a_failing_run):
    # The ingest of the demo with TS_002 at 40.5 Å, outside the portal's 1-30 Å rule: the voxel spacing check
    # fails at ERROR. (The curator's view is tested on the same ingest, in test_curator_view.py.)
    settings, demo, instance, report = demo_with_a_failing_run
    by_partition = {run.partition_key: run for run in report.runs}
    assert by_partition["20999__TS_001"].success and by_partition["20999__TS_003"].success
    failed = by_partition["20999__TS_002"]
    assert not failed.success
    assert ("voxel_spacings_valid", False, "ERROR") in [(c.name, c.passed, c.severity) for c in failed.checks]
    assert count(settings, "run") == 2
    assert count(settings, "tomogram_voxel_spacing") == 3  # TS_001 at 10.012 and 20.024 Å, TS_003 at 10.012 Å


def test_failing_dataset_check_keeps_dataset_rows_out(embedded):
    settings, demo, instance = embedded
    edit_config(settings, demo, "dataset_title: Synthetic demo dataset", "dataset_title: ''")

    ingest_report = ingest(instance, log=lambda line: None)
    dataset_run = next(run for run in ingest_report.runs if run.job_name == "dataset_job")
    assert not dataset_run.success
    [check] = dataset_run.checks
    assert (check.name, check.passed) == ("dataset_metadata_valid", False)
    assert "dataset_title" in check.text
    assert count(settings, "dataset") == 0
    assert count(settings, "deposition") == 1


@pytest.mark.parametrize(
    ("ingested", "message"),
    [("demo_with_a_truncated_tomogram", "truncated"), ("demo_with_a_tomogram_not_mrc", "not an MRC file")],
)
def test_a_bad_tomogram_fails_its_gate_and_leaves_everything_else_alone(request, ingested, message):
    # The ingest of the demo with TS_002's tomogram cut in half, or not an MRC file, as it left the instance.
    settings, demo, instance, report = request.getfixturevalue(ingested)
    by_partition = {run.partition_key: run for run in report.runs}
    assert by_partition["20999__TS_001"].success and by_partition["20999__TS_003"].success
    failed = by_partition["20999__TS_002"]
    assert not failed.success
    [gate] = [check for check in failed.checks if check.name == "tomograms_valid"]
    assert not gate.passed and gate.severity == "ERROR"
    assert "TS_002.mrc" in gate.text and message in gate.text
    files = portal_files(settings)
    assert not [key for key in files if key.startswith("20999/TS_002/Reconstructions/VoxelSpacing10.012/")]
    assert "20999/TS_002/run_metadata.json" in files
    assert len([key for key in files if key.endswith("tomogram_metadata.json")]) == 3
    assert count(settings, "tomogram") == 3  # TS_001 at 10.012 and 20.024 Å, TS_003; none for TS_002
    assert count(settings, "run") == 3


def test_a_tomogram_broken_after_publication_keeps_the_published_one(ingested_demo):
    settings, demo, instance = ingested_demo
    prefix = "20999/TS_002/Reconstructions/VoxelSpacing10.012/"
    staging = open_bucket(settings.staging_url)
    before = {info.key: staging.read_bytes(info.key) for info in staging.list(prefix)}
    assert f"{prefix}Tomograms/100/TS_002.zarr/.zattrs" in before

    deposit = open_bucket(settings.deposit_url)
    key = "lab_uploads/demo/runs/TS_002/TS_002.mrc"
    deposit.write_bytes(key, deposit.read_bytes(key)[:-4096])
    assert execute(instance, job_name="dataset_plan_job", partition_key="20999").success  # sees the new file
    outcome = execute(instance, job_name="acquisition_run_job", partition_key="20999__TS_002")
    assert not outcome.success
    [gate] = [check for check in outcome.checks if check.name == "tomograms_valid"]
    assert "TS_002.mrc: truncated" in gate.text
    assert {info.key: staging.read_bytes(info.key) for info in staging.list(prefix)} == before
    assert count(settings, "tomogram") == 4


def _evaluations(instance, asset: str, check: str, partition: str, limit: int = 1) -> list:
    """The check's latest evaluations of the partition, newest first."""
    from dagster._core.event_api import PartitionKeyFilter

    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(asset), check), limit=limit, partition_filter=PartitionKeyFilter(key=partition))
    return [record.event.dagster_event.event_specific_data for record in records]


def test_re_ingestion_keeps_tomogram_ids_does_not_convert_again_and_reuses_passed_suites(ingested_demo):
    settings, demo, instance = ingested_demo
    staging = open_bucket(settings.staging_url)
    volumes = {info.key: info.etag for info in staging.list("20999") if ".zarr/" in info.key or info.key.endswith(".mrc")}
    ids = sorted(key.split("/Tomograms/")[1].split("/")[0] for key in volumes if key.endswith(".mrc"))
    assert ids == ["100", "100", "100", "101"]
    [first] = _evaluations(instance, "tomograms", "tomograms_valid", "20999__TS_001")
    assert first.passed and first.metadata["suites_reused"].value == 0
    assert len(first.metadata["passed_suites"].value) == 2  # its tomogram's suite and its binned copy's
    # Runs share most column values (empty error columns, the MRC's mode, the zarr's layout): a run checked
    # after another passed its checks evaluates only the rest.
    runs = [_evaluations(instance, "tomograms", "tomograms_valid", f"20999__TS_00{n}")[0] for n in (1, 2, 3)]
    assert all(run.passed for run in runs) and max(run.metadata["expectations_reused"].value for run in runs) > 0

    outcome = execute(instance, job_name="acquisition_run_job", partition_key="20999__TS_001")
    assert outcome.success
    after = {info.key: info.etag for info in staging.list("20999") if ".zarr/" in info.key or info.key.endswith(".mrc")}
    assert after == volumes  # the same files, untouched: unchanged sources are not converted again
    materialization = instance.get_latest_materialization_event(dg.AssetKey("tomograms"))
    metadata = materialization.asset_materialization.metadata
    assert (metadata["converted"].value, metadata["unchanged"].value, metadata["failed"].value) == (0, 2, 0)
    # GX would see exactly what it saw: the suites that passed then pass again without being evaluated.
    [again] = _evaluations(instance, "tomograms", "tomograms_valid", "20999__TS_001")
    assert again.passed and again.metadata["suites_reused"].value == 2
    for key in ("passed_suites", "validation"):
        assert again.metadata[key].value == first.metadata[key].value
    [run_check] = _evaluations(instance, "run_metadata", "run_metadata_valid", "20999__TS_001")
    assert run_check.passed and run_check.metadata["suites_reused"].value == 2  # run metadata, spacing names

    # A document that changed is evaluated; the same document validated again is not.
    configs = open_bucket(settings.configs_url)
    text_ = configs.read_bytes(demo.config_key).decode()
    configs.write_bytes(demo.config_key, text_.replace("Synthetic demo dataset", "Synthetic demo dataset, revised").encode())
    for _ in range(2):
        for job in ("dataset_plan_job", "dataset_job"):
            assert execute(instance, job_name=job, partition_key="20999").success
    rerun, edited, before = _evaluations(instance, "dataset_metadata", "dataset_metadata_valid", "20999", limit=3)
    assert [e.metadata["suites_reused"].value for e in (before, edited, rerun)] == [1, 0, 1]
    # Of the edited document's rules, only those that read the title ran again.
    evaluated = edited.metadata["validation"].value["statistics"]["evaluated"]
    assert 0 < edited.metadata["expectations_reused"].value < evaluated
    assert edited.metadata["passed_suites"].value != before.metadata["passed_suites"].value
    assert rerun.metadata["passed_suites"].value == edited.metadata["passed_suites"].value


def test_what_was_odd_about_a_source_reaches_the_curator(embedded):
    settings, demo, instance = embedded
    deposit = open_bucket(settings.deposit_url)
    key = "lab_uploads/demo/runs/TS_002/TS_002.mrc"
    deposit.write_bytes(key, deposit.read_bytes(key) + bytes(4096))  # read all the same, with a warning
    instance.add_dynamic_partitions("datasets", ["20999"])
    assert execute(instance, job_name="dataset_plan_job", partition_key="20999").success
    # The run's rows wait for its deposition's and dataset's: load those first.
    instance.add_dynamic_partitions("depositions", ["10999"])
    assert execute(instance, job_name="deposition_job", partition_key="10999").success
    assert execute(instance, job_name="dataset_job", partition_key="20999").success
    instance.add_dynamic_partitions("acquisition_runs", ["20999__TS_002"])
    assert execute(instance, job_name="acquisition_run_job", partition_key="20999__TS_002").success

    materialization = instance.get_latest_materialization_event(dg.AssetKey("tomograms")).asset_materialization
    assert materialization.partition == "20999__TS_002"
    [warning] = materialization.metadata["source_warnings"].value
    assert warning.endswith("TS_002.mrc: 4096 bytes after the data block that the header declares (nx=128 ny=96 "
                            "nz=40, mode 2, 0-byte extended header); they are ignored")
    assert materialization.metadata["converted"].value == 1
    logged = instance.all_logs(instance.get_runs(limit=1)[0].run_id)
    assert [entry.user_message for entry in logged if entry.level == logging.WARNING and "TS_002.mrc" in
            entry.user_message] == [warning]
