"""The promotion gate on a real instance: the promotion sensor, runs in progress and stale checks.

One ingest of the demo (the session's, conftest's `ingested_demo_for_module`) serves the module's tests, which
run in file order, each leaving the instance as the next expects it.
"""

import dagster as dg
import pytest

from cryoet_assets.definitions import defs
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.runner import execute

RUN = "20999__TS_001"
OTHER_RUN = "20999__TS_003"


def promote_parents(instance) -> None:
    for job, key in (("deposition_promotion_job", "10999"), ("promotion_job", "20999")):
        outcome = execute(instance, job_name=job, partition_key=key)
        assert outcome.success, outcome.error


@pytest.fixture(scope="module")
def ingested(ingested_demo_for_module):
    """(settings, instance): the demo deposit ingested on the embedded default, nothing promoted yet."""
    settings, _, instance = ingested_demo_for_module
    return settings, instance


def test_a_refused_deposition_refuses_its_dataset_and_runs(ingested):
    from cryoet_assets.promote import promote

    settings, instance = ingested
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="deposition_metadata", partition="10999"))
    storage, database = settings.resources()
    targets = [("deposition", "10999"), ("dataset", "20999"), ("acquisition_run", RUN)]

    deposition, dataset, run = promote(instance, storage, database, targets)

    assert not deposition.promoted and "last ran on an earlier materialization" in deposition.reason
    assert (dataset.promoted, dataset.reason) == (False, "its deposition 10999 was not promoted")
    assert (run.promoted, run.reason) == (False, "its dataset 20999 was not promoted")
    # Asked alone, the dataset's run finds no deposition row in production and fails at once, saying so.
    [alone] = promote(instance, storage, database, [("dataset", "20999")])
    assert not alone.promoted
    assert "deposition 10999 is not in the production database; promote it first" in alone.reason
    assert [info.key for info in open_bucket(settings.production_url).list("")] == []
    # The checks run again on the deposition's new materialization: the next tests find it promotable.
    assert execute(instance, job_name="deposition_job", partition_key="10999").success


def test_the_promotion_sensor_is_off_by_default_and_requests_each_checked_partition_once(ingested):
    settings, instance = ingested
    sensor = defs.resolve_sensor_def("promotion_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.description.startswith("Stopped by default: promotion is a curator's act")  # said in the UI

    result = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
    requested = sorted((request.job_name, request.partition_key) for request in result.run_requests)
    assert requested == [
        ("acquisition_run_promotion_job", "20999__TS_001"),
        ("acquisition_run_promotion_job", "20999__TS_002"),
        ("acquisition_run_promotion_job", "20999__TS_003"),
        ("deposition_promotion_job", "10999"),
        ("promotion_job", "20999"),
    ]
    assert all(request.run_key.startswith("promote:") for request in result.run_requests)
    again = sensor(dg.build_sensor_context(instance=instance, definitions=defs, cursor=result.cursor))
    assert again.run_requests == []


def test_a_materialization_newer_than_its_checks_blocks_promotion_until_they_run_again(ingested):
    settings, instance = ingested
    promote_parents(instance)
    # A staging change the checks have not seen: a new materialization of the run's tomograms.
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="tomograms", partition=RUN))

    refused = execute(instance, job_name="acquisition_run_promotion_job", partition_key=RUN)
    assert not refused.success
    assert "check tomograms_valid of tomograms last ran on an earlier materialization" in refused.error
    production = open_bucket(settings.production_url)
    assert [info.key for info in production.list("20999/TS_001")] == []

    assert execute(instance, job_name="acquisition_run_job", partition_key=RUN).success
    promoted = execute(instance, job_name="acquisition_run_promotion_job", partition_key=RUN)
    assert promoted.success, promoted.error
    assert production.exists("20999/TS_001/run_metadata.json")
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["production", "acquisition_run_files"]),
                              asset_partitions=[RUN]), limit=1).records[0]
    metadata = record.asset_materialization.metadata
    copied = metadata["staging_materializations"].value
    assert set(copied) == {"run_metadata", "voxel_spacings", "run_db_rows", "tomograms", "tomogram_db_rows"}
    assert record.asset_materialization.tags["dagster/data_version"] == metadata["content_version"].value


def test_a_partition_being_materialized_is_not_promoted(ingested):
    settings, instance = ingested
    busy = instance.create_run_for_job(
        defs.resolve_job_def("acquisition_run_job"), tags={"dagster/partition": OTHER_RUN},
        status=dg.DagsterRunStatus.STARTED,
    )
    refused = execute(instance, job_name="acquisition_run_promotion_job", partition_key=OTHER_RUN)
    assert not refused.success
    assert f"staging is being materialized for {OTHER_RUN} by run {busy.run_id}" in refused.error
    assert f"check tomograms_valid of tomograms is running for {OTHER_RUN} (run {busy.run_id})" in refused.error
    assert not open_bucket(settings.production_url).exists("20999/TS_003/run_metadata.json")

    instance.report_run_failed(busy)
    refused = execute(instance, job_name="acquisition_run_promotion_job", partition_key=OTHER_RUN)
    assert f"check tomograms_valid of tomograms did not finish in run {busy.run_id} (failure)" in refused.error
    assert not open_bucket(settings.production_url).exists("20999/TS_003/run_metadata.json")


def test_promotion_job_brings_its_datasets_depositions_and_runs(ingested):
    settings, instance = ingested
    sensor = defs.resolve_sensor_def("promotion_fanout_sensor")
    resources = {"storage": defs.resources["storage"]}
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    # The earlier tests launched promotion_job for 20999 as a curator would (no promotion sensor, no command).
    result = sensor(dg.build_sensor_context(instance=instance, resources=resources))
    requested = sorted((request.job_name, request.partition_key) for request in result.run_requests)
    assert requested == [
        ("acquisition_run_promotion_job", "20999__TS_001"),
        ("acquisition_run_promotion_job", "20999__TS_002"),
        ("acquisition_run_promotion_job", "20999__TS_003"),
        ("deposition_promotion_job", "10999"),
    ]
    again = sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=result.cursor))
    assert again.run_requests == []

    # The promote command requests its partitions itself: its promotion_job runs are left alone.
    assert execute(instance, job_name="promotion_job", partition_key="20999",
                   tags={"cryoet/promoted_by": "promote"}).success
    after = sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=result.cursor))
    assert after.run_requests == []


def test_a_staging_change_during_a_promotion_stops_it_with_a_failure(ingested):
    from cryoet_assets.definitions import promotions
    from cryoet_assets.defs.promotion import evaluate_gate, require_unchanged

    settings, instance = ingested
    [promotion] = [item for item in promotions if item.level == "acquisition_run"]
    gate = evaluate_gate(instance, promotion, RUN)
    assert gate.passed, gate.refusals
    require_unchanged(instance, promotion, RUN, gate)  # nothing changed since: it passes

    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="run_metadata", partition=RUN))
    with pytest.raises(dg.Failure, match=f"staging changed for {RUN} while it was being promoted") as failure:
        require_unchanged(instance, promotion, RUN, gate)
    assert "check run_metadata_valid of run_metadata last ran on an earlier materialization" in str(failure.value)
    assert failure.value.allow_retries is False
