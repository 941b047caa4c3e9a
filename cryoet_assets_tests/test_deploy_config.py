"""deploy/dagster.yaml as a deployment reads it: a Postgres instance with the run queue, tag limits, pools,
run monitoring and run retries it states; the code location validates against it; and the README's
EcsRunLauncher settings are valid launcher config that passes every run worker what the resources read."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import yaml

from cryoet_assets.defs.sensors import DATASET_TAG

REPO = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).parent / "dagster"
POOLS = {"cpu_heavy", "s3"}
DEFAULT_POOL_LIMIT = 2


def run(tags: dict[str, str]) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="some_job", run_id=str(uuid.uuid4()), tags=tags)


def test_the_deploy_instance_is_postgres_with_run_queue_pools_monitoring_and_retries(deployed_home):
    from dagster._core.instance.config import PoolGranularity
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
    from dagster._core.storage.tags import BACKFILL_ID_TAG
    from dagster._utils.tags import TagConcurrencyLimitsCounter
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    from cryoet_assets.definitions import defs

    with dg.DagsterInstance.get() as instance:
        assert Path(instance.root_directory) == deployed_home
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.compute_log_manager, NoOpComputeLogManager)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)

        concurrency = instance.get_concurrency_config()
        queue = concurrency.run_queue_config
        assert queue.max_concurrent_runs == 4
        limits = queue.tag_concurrency_limits
        assert [limit["key"] for limit in limits] == [BACKFILL_ID_TAG]
        # What the limit means, as the queue's own counter applies it to runs in progress.
        backfilling = [run({BACKFILL_ID_TAG: "a"}), run({BACKFILL_ID_TAG: "b"})]
        counter = TagConcurrencyLimitsCounter(limits, backfilling)
        assert counter.is_blocked(run({BACKFILL_ID_TAG: "c"}))
        assert not counter.is_blocked(run({DATASET_TAG: "20999"}))

        pools = concurrency.pool_config
        assert pools.pool_granularity == PoolGranularity.RUN
        assert pools.default_pool_limit == DEFAULT_POOL_LIMIT
        graph = defs.resolve_asset_graph()
        used = {pool for key in graph.get_all_asset_keys() for pool in graph.get(key).pools}
        assert used == POOLS
        # Each pool gets the default limit in the instance's Postgres tables, as the daemon gives it.
        storage = instance.event_log_storage
        for pool in sorted(POOLS):
            storage.initialize_concurrency_limit_to_default(pool)
            assert storage.get_concurrency_info(pool).slot_count == DEFAULT_POOL_LIMIT, pool

        assert instance.run_monitoring_enabled
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert not instance.telemetry_enabled


def test_dagster_validates_the_definitions_on_the_deploy_instance(deployed_home):
    env = dict(os.environ)  # DAGSTER_HOME and DAGSTER_PG_URL from the fixture
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    result = subprocess.run(
        [str(DAGSTER), "definitions", "validate", "-m", "cryoet_assets.definitions"],
        cwd=deployed_home, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def readme_launcher(class_name: str) -> dict:
    """The `run_launcher:` section of the README's YAML snippet naming `class_name`."""
    snippets = re.findall(r"^```yaml\n(.*?)^```", (REPO / "README.md").read_text(), re.S | re.M)
    found = [yaml.safe_load(text)["run_launcher"] for text in snippets if f"class: {class_name}" in text]
    assert len(found) == 1, f"the README has {len(found)} YAML snippets with `class: {class_name}`"
    return found[0]


def test_the_readme_ecs_run_launcher_settings_are_valid_and_pass_what_the_resources_read():
    from dagster._config import process_config
    from dagster_aws.ecs import EcsRunLauncher

    from cryoet_assets.definitions import defs

    launcher = readme_launcher("EcsRunLauncher")
    assert getattr(importlib.import_module(launcher["module"]), launcher["class"]) is EcsRunLauncher
    config = launcher["config"]
    result = process_config(EcsRunLauncher.config_type(), config)
    assert result.success, result.errors
    passed = set(config["env_vars"]) | {secret["name"] for secret in config["secrets"]}
    read = set(defs.get_repository_def().get_env_vars_by_top_level_resource())
    assert read and all(name.startswith("CRYOET_") for name in read)
    assert passed == read | {"DAGSTER_PG_URL"}

