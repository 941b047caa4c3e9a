"""The deposit and plan sensors, ticked against a real instance and real (local) buckets."""

import dagster as dg
import pytest

from cryoet_assets.definitions import defs
from cryoet_assets.defs.sensors import MAX_CONFIGS_PER_TICK, deposit_sensor, plan_sensor
from cryoet_assets.lib.demo import demo_config, write_demo
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.runner import Settings, execute
from cryoet_assets_tests.instances import embedded_instance_config


@pytest.fixture
def setup(tmp_path, monkeypatch):
    settings = Settings.embedded(tmp_path)
    for key, value in settings.environment().items():
        monkeypatch.setenv(key, value)
    deposit, configs = open_bucket(settings.deposit_url), open_bucket(settings.configs_url)
    demo = write_demo(deposit=deposit, configs=configs)
    with dg.instance_for_test(overrides=embedded_instance_config()) as instance:
        yield instance, deposit, configs, demo


def tick(sensor, instance, cursor=None) -> dg.SensorResult:
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": defs.resources["storage"]})
    return sensor(context)


def added(result: dg.SensorResult) -> dict[str, list[str]]:
    return {request.partitions_def_name: list(request.partition_keys)
            for request in result.dynamic_partitions_requests or []}


def test_deposit_sensor_new_unchanged_changed_and_marker(setup):
    instance, deposit, configs, demo = setup
    first = tick(deposit_sensor, instance)
    assert added(first) == {"datasets": ["20999"]}
    [request] = first.run_requests
    assert request.partition_key == "20999" and request.run_key.startswith("plan:20999:")

    unchanged = tick(deposit_sensor, instance, first.cursor)
    assert unchanged.run_requests == [] and unchanged.cursor == first.cursor

    configs.write_bytes(demo.config_key, configs.read_bytes(demo.config_key).replace(b"Synthetic", b"Revised"))
    changed = tick(deposit_sensor, instance, unchanged.cursor)
    assert [r.partition_key for r in changed.run_requests] == ["20999"]
    assert changed.run_requests[0].run_key != request.run_key
    instance.add_dynamic_partitions("datasets", ["20999"])

    deposit.write_bytes("lab_uploads/demo/_DONE", b"second delivery")
    marked = tick(deposit_sensor, instance, changed.cursor)
    assert [r.partition_key for r in marked.run_requests] == ["20999"]
    assert marked.run_requests[0].run_key not in {request.run_key, changed.run_requests[0].run_key}
    assert added(marked) == {}  # the partition exists already: only new keys are added


def test_deposit_sensor_survives_same_second_writes_and_caps_work(setup):
    instance, deposit, configs, demo = setup
    cursor = tick(deposit_sensor, instance).cursor
    text = demo_config(photos=f"{deposit.name}/lab_uploads/demo/photos")
    total = MAX_CONFIGS_PER_TICK + 5
    for index in range(total):  # all written within a second or two
        configs.write_bytes(f"extra/{index:02d}.yaml", text.replace("20999", str(30000 + index)).encode())
    seen: list[str] = []
    for _ in range(3):
        result = tick(deposit_sensor, instance, cursor)
        assert len(result.run_requests) <= MAX_CONFIGS_PER_TICK
        seen += [r.partition_key for r in result.run_requests]
        cursor = result.cursor
    assert sorted(seen) == [str(30000 + index) for index in range(total)]


def test_deposit_sensor_skips_invalid_configs_without_failing_the_tick(setup):
    instance, deposit, configs, demo = setup
    configs.write_bytes("broken.yaml", b"version: 1.3.0\nstandardization_config: [")
    result = tick(deposit_sensor, instance)
    assert [r.partition_key for r in result.run_requests] == ["20999"]
    assert '"broken.yaml"' in result.cursor and "error" in result.cursor
    assert tick(deposit_sensor, instance, result.cursor).run_requests == []


def test_plan_sensor_fans_out_once_per_plan(setup):
    instance, deposit, configs, demo = setup
    instance.add_dynamic_partitions("datasets", ["20999"])
    assert execute(instance, job_name="dataset_plan_job", partition_key="20999").success

    first = tick(plan_sensor, instance)
    assert added(first) == {"depositions": ["10999"],
                            "acquisition_runs": ["20999__TS_001", "20999__TS_002", "20999__TS_003"]}
    jobs = [(r.job_name, r.partition_key) for r in first.run_requests]
    assert jobs == [("deposition_job", "10999"), ("dataset_job", "20999"),
                    ("acquisition_run_job", "20999__TS_001"), ("acquisition_run_job", "20999__TS_002"),
                    ("acquisition_run_job", "20999__TS_003")]
    assert tick(plan_sensor, instance, first.cursor).run_requests == []

    for name, keys in added(first).items():
        instance.add_dynamic_partitions(name, keys)
    assert execute(instance, job_name="dataset_plan_job", partition_key="20999").success
    again = tick(plan_sensor, instance, first.cursor)
    assert added(again) == {}
    # Same content, same run keys: the daemon will not launch them a second time.
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in first.run_requests]

    deposit.write_bytes("lab_uploads/demo/runs/TS_002/extra.txt", b"late file")
    assert execute(instance, job_name="dataset_plan_job", partition_key="20999").success
    changed = tick(plan_sensor, instance, again.cursor)
    new_keys = {r.partition_key for r in changed.run_requests} - {r.partition_key for r in again.run_requests}
    assert new_keys == set()
    differing = [r.partition_key for r, old in zip(changed.run_requests, again.run_requests)
                 if r.run_key != old.run_key]
    assert "20999__TS_002" in differing
    assert "20999__TS_001" not in differing and "20999__TS_003" not in differing


def test_dataset_rollup_waits_for_every_run_then_asks_once(setup):
    from cryoet_assets.defs.sensors import dataset_rollup_sensor

    instance, deposit, configs, demo = setup
    instance.add_dynamic_partitions("datasets", ["20999"])
    assert execute(instance, job_name="dataset_plan_job", partition_key="20999").success
    instance.add_dynamic_partitions("depositions", ["10999"])
    assert execute(instance, job_name="deposition_job", partition_key="10999").success
    assert execute(instance, job_name="dataset_job", partition_key="20999").success
    instance.add_dynamic_partitions("acquisition_runs", [f"20999__{run}" for run in demo.runs])
    for run in demo.runs[:2]:
        assert execute(instance, job_name="acquisition_run_job", partition_key=f"20999__{run}").success
    waiting = tick(dataset_rollup_sensor, instance)
    assert waiting.run_requests == []  # TS_003 has no tomograms yet

    assert execute(instance, job_name="acquisition_run_job", partition_key="20999__TS_003").success
    ready = tick(dataset_rollup_sensor, instance, cursor=waiting.cursor)
    [request] = ready.run_requests
    assert request.partition_key == "20999" and request.run_key.startswith("rollup:20999:")
    assert tick(dataset_rollup_sensor, instance, cursor=ready.cursor).run_requests == []


def test_deposit_sensor_plans_only_configs_inside_granted_folders(tmp_path, monkeypatch, s3_bucket_url,
                                                                   caplog):
    import logging
    from datetime import timedelta

    from cryoet_assets.defs.resources import forget_connections
    from cryoet_assets.lib.deposit_access import grant_deposit
    from cryoet_assets.lib.watch import WatchCursor

    deposit_url, endpoint = s3_bucket_url("deposits")
    settings = Settings.embedded(tmp_path)
    settings = Settings(**{**vars(settings), "deposit_url": deposit_url, "s3_endpoint_url": endpoint})
    for key, value in settings.environment().items():
        monkeypatch.setenv(key, value)
    deposit = open_bucket(deposit_url, endpoint_url=endpoint)
    demo = write_demo(deposit=deposit, configs=open_bucket(settings.configs_url))
    config_uri = f"{settings.configs_url}/{demo.config_key}"
    reason = (f"{config_uri} is not planned: its source_prefix 'lab_uploads/demo' lies outside every granted "
              "deposit folder (10999/)")

    def warnings(cursor=None) -> tuple[dg.SensorResult, list[str]]:
        """A tick and the warnings it wrote to its log (the tick's own logger, which the daemon stores)."""
        caplog.clear()
        context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                          resources={"storage": defs.resources["storage"]})
        context.log.addHandler(caplog.handler)
        result = deposit_sensor(context)
        return result, [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    forget_connections()
    with dg.instance_for_test(overrides=embedded_instance_config()) as instance:
        # Without grant records, every config is planned (the embedded demo has none).
        assert [r.partition_key for r in tick(deposit_sensor, instance).run_requests] == ["20999"]

        grant_deposit(deposit, "10999", timedelta(hours=1))
        refused, said = warnings()
        assert refused.run_requests == [] and added(refused) == {}
        assert [line for line in said if line.startswith(reason)] != [], said
        # The runner reports a config the tick did not plan from its cursor entry.
        assert WatchCursor.loads(refused.cursor).configs[demo.config_key].error.startswith(reason)

        again, said = warnings(refused.cursor)
        assert again.run_requests == [] and said == []  # said once, not at every tick

        # A grant that covers the config's folder: the unchanged config is judged again and planned.
        grant_deposit(deposit, "lab_uploads", timedelta(hours=1))
        planned = tick(deposit_sensor, instance, again.cursor)
        assert [r.partition_key for r in planned.run_requests] == ["20999"]
        assert tick(deposit_sensor, instance, planned.cursor).run_requests == []
    forget_connections()


def test_deposit_sensor_plans_nothing_while_staging_lies_inside_the_deposit(setup, monkeypatch):
    instance, deposit, _, _ = setup
    inside = f"{deposit.uri('')}/staging"
    monkeypatch.setenv("CRYOET_STAGING_URL", inside)
    with pytest.raises(Exception, match="no config is planned: the staging bucket .* lies inside the deposit bucket"):
        tick(deposit_sensor, instance)
