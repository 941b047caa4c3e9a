"""The repository's top level: the example configs in configs/ and the embedded default dagster.yaml."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest

from cryoet_assets.cli import main
from cryoet_assets.families import run_contributors
from cryoet_assets.families.tomogram.plan import run_tomograms
from cryoet_assets.lib.ingestion import load_config_object
from cryoet_assets.lib.storage import LocalBucket

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def test_every_config_in_configs_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    paths = sorted(CONFIGS.glob("*.yaml"))
    assert [path.name for path in paths] == ["demo.yaml", "run_data_map.yaml", "s3_deposit.yaml",
                                             "tomograms_only.yaml"]
    assert main(["validate-config", *map(str, paths)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{path}: valid" for path in paths] + ["4 valid, 0 invalid"]


@pytest.mark.parametrize(("repository_file", "package_file"), [
    ("dagster.yaml", "defaults/dagster.yaml"),
    ("configs/demo.yaml", "defaults/demo.yaml"),
])
def test_the_package_ships_the_repository_files(repository_file: str, package_file: str) -> None:
    # The package's copies are what an installed `cryoet-assets` reads; the repository's are what people and
    # `dagster dev` (run from the root) read.
    shipped = files("cryoet_assets").joinpath(package_file).read_text(encoding="utf-8")
    assert (REPO / repository_file).read_text(encoding="utf-8") == shipped, (
        f"{repository_file} and cryoet_assets/{package_file} differ: edit one and copy it over the other"
    )


def test_root_dagster_yaml_is_the_embedded_default_instance(tmp_path: Path) -> None:
    import dagster as dg
    from dagster._core.instance.config import PoolGranularity
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster._core.storage.runs import SqliteRunStorage

    from cryoet_assets.event_log import PooledSqliteEventLogStorage

    # As `dagster dev` opens it from the repository's root when DAGSTER_HOME is unset.
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path), config_dir=str(REPO))) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert isinstance(instance.run_storage, SqliteRunStorage)
        assert Path(instance.root_directory) == tmp_path
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 3
        assert concurrency.pool_config.pool_granularity == PoolGranularity.RUN
        assert concurrency.run_queue_config.max_concurrent_runs == 4
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.run_monitoring_enabled
        assert not instance.telemetry_enabled
        # Every run's events in one file under the instance's own folder, whichever folder that is.
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        assert Path(instance.event_log_storage.get_db_path()) == tmp_path / "history" / "runs" / "event_log.db"
        # Its processes (code server, run workers) open the same file from the instance's ref.
        with dg.DagsterInstance.from_ref(instance.get_ref()) as again:
            assert again.event_log_storage.get_db_path() == instance.event_log_storage.get_db_path()
    assert (tmp_path / "history" / "runs.db").exists()
    assert (tmp_path / "history" / "runs" / "event_log.db").exists()


def write(bucket: LocalBucket, prefix: str, names: list[str], text: str = "placeholder") -> None:
    for name in names:
        bucket.write_bytes(f"{prefix}/{name}", text.encode())


def test_example_configs_plan_the_deposits_their_comments_describe(tmp_path: Path) -> None:
    deposit = LocalBucket(tmp_path / "deposit")
    output = LocalBucket(tmp_path / "staging")
    configs = LocalBucket(tmp_path / "configs")
    for path in CONFIGS.glob("*.yaml"):
        configs.write_bytes(path.name, path.read_bytes())

    write(deposit, "uploads/smith_lab/2026_03_yeast", ["grids/lamella_01/tomo.mrc", "grids/lamella_02/tomo.mrc",
                                                       "grids/notes.txt"])
    write(deposit, "incoming/chen_group/chlamy_2026", ["imaging/cell_03/cell_03_rec.mrc",
                                                       "imaging/cell_07/cell_07_bin4.rec"])
    write(deposit, "incoming/chen_group/chlamy_2026", ["run_data_map.csv"],
          "run_name,pixel_size,tomogram_file,software\n"
          "cell_03,6.737,cell_03_rec.mrc,IMOD 4.11\ncell_07,13.474,cell_07_bin4.rec,AreTomo2\n")
    write(deposit, "2026/mito_fission/session_2", ["TS_1/TS_1.mrc", "TS_1/denoised/TS_1_cryocare.mrc"])

    def plan(key: str, dataset_id: str) -> list[tuple[str, list[float], list[tuple[float, str, str, str]]]]:
        result = load_config_object(configs, key).planner(deposit=deposit, output=output, contributors=run_contributors()).plan(dataset_id)
        return [
            (run.name, run.voxel_spacings, [
                (t.voxel_spacing, t.source_path.rsplit("/", 1)[1], t.metadata["processing"],
                 t.metadata["reconstruction_software"])
                for t in run_tomograms(run)
            ])
            for run in result.runs
        ]

    assert plan("tomograms_only.yaml", "10901") == [
        ("lamella_01", [7.842], [(7.842, "tomo.mrc", "raw", "AreTomo")]),
        ("lamella_02", [7.842], [(7.842, "tomo.mrc", "raw", "AreTomo")]),
    ]
    assert plan("run_data_map.yaml", "10902") == [
        ("cell_03", [6.737], [(6.737, "cell_03_rec.mrc", "raw", "IMOD 4.11")]),
        ("cell_07", [13.474], [(13.474, "cell_07_bin4.rec", "raw", "AreTomo2")]),
    ]
    assert plan("s3_deposit.yaml", "10903") == [
        ("TS_1", [11.52], [(11.52, "TS_1.mrc", "raw", "IMOD"), (11.52, "TS_1_cryocare.mrc", "denoised", "IMOD")]),
    ]
