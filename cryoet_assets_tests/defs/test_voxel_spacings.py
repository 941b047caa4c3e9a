"""A voxel spacing gets a folder and a tomogram_voxel_spacing row only where a tomogram was published."""

from sqlalchemy import text

from cryoet_assets.lib.db import make_engine
from cryoet_assets.lib.documents import read_manifest
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets.runner import Settings, execute, ingest

RUNS = "lab_uploads/demo/runs"


def spacing_rows(settings: Settings) -> dict[str, list[tuple[int, float]]]:
    """(id, voxel_spacing) of every tomogram_voxel_spacing row, by run name."""
    engine = make_engine(settings.staging_db_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(text(
                "select r.name, v.id, v.voxel_spacing from tomogram_voxel_spacing v "
                "join run r on r.id = v.run_id order by r.name, v.voxel_spacing"
            ))
            rows: dict[str, list[tuple[int, float]]] = {}
            for name, row_id, spacing in found:
                rows.setdefault(name, []).append((row_id, spacing))
            return rows
    finally:
        engine.dispose()


def count(settings: Settings, table: str) -> int:
    engine = make_engine(settings.staging_db_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"select count(*) from {table}")).scalar_one()
    finally:
        engine.dispose()


def spacing_folders(settings: Settings, run: str) -> list[str]:
    return open_bucket(settings.staging_url).listdir(f"20999/{run}/Reconstructions")[0]


def planned(settings: Settings, run: str) -> list[str]:
    """The voxel spacing names the plan gives the run (the voxel_spacings asset's manifest)."""
    manifest = read_manifest(open_bucket(settings.staging_url), "voxel_spacings", f"20999__{run}")
    return [item["name"] for item in manifest["value"]["voxel_spacings"]]


def edit_config(settings: Settings, demo, *replacements: tuple[str, str]) -> None:
    configs = open_bucket(settings.configs_url)
    config = configs.read_text(demo.config_key)
    for old, new in replacements:
        assert old in config
        config = config.replace(old, new)
    configs.write_bytes(demo.config_key, config.encode())


def test_voxel_spacing_folders_and_rows_follow_the_published_tomograms(embedded):
    settings, demo, instance = embedded
    deposit = open_bucket(settings.deposit_url)
    binned = deposit.read_bytes(f"{RUNS}/TS_001/TS_001_bin2.mrc")
    # 20 Å is planned for every run and TS_002 has a binned file, but the binned tomograms' parent_filters
    # exclude TS_002; TS_003 has no binned file.
    deposit.write_bytes(f"{RUNS}/TS_002/TS_002_bin2.mrc", binned)
    only_20 = r"            voxel_spacing: ['^20\.024$']"
    edit_config(
        settings, demo,
        ("run: ['^TS_001$']", "run: ['^TS_00[123]$']"),
        (only_20, only_20 + "\n          exclude:\n            run: ['^TS_002$']"),
    )
    assert ingest(instance, log=lambda line: None).success
    rows = spacing_rows(settings)
    assert {run: [spacing for _, spacing in items] for run, items in rows.items()} == {
        "TS_001": [10.012, 20.024], "TS_002": [10.012], "TS_003": [10.012],
    }
    for run, items in rows.items():
        assert planned(settings, run) == ["10.012", "20.024"]
        assert spacing_folders(settings, run) == [f"VoxelSpacing{spacing:.3f}" for _, spacing in items]

    # TS_003's binned file arrives and cannot be converted: its run fails the gate, 20 Å gets neither a
    # folder nor a row, and what TS_003 had published at 10 Å keeps its row.
    deposit.write_bytes(f"{RUNS}/TS_003/TS_003_bin2.mrc", binned[:-4096])
    assert execute(instance, job_name="dataset_plan_job", partition_key="20999").success
    failed = execute(instance, job_name="acquisition_run_job", partition_key="20999__TS_003")
    assert not failed.success
    [gate] = [check for check in failed.checks if check.name == "tomograms_valid"]
    assert not gate.passed and "TS_003_bin2.mrc: truncated" in gate.text
    assert spacing_folders(settings, "TS_003") == ["VoxelSpacing10.012"]
    assert spacing_rows(settings) == rows
    assert count(settings, "tomogram") == 4

    # The curator withdraws TS_001's 20 Å tomogram (its source leaves the deposit, its folder the staging
    # bucket) and TS_003's broken file. The config still plans 20 Å for every run; that row alone is pruned.
    for run in ("TS_001", "TS_003"):
        deposit.delete(f"{RUNS}/{run}/{run}_bin2.mrc")
    open_bucket(settings.staging_url).delete_prefix("20999/TS_001/Reconstructions/VoxelSpacing20.024")
    assert execute(instance, job_name="dataset_plan_job", partition_key="20999").success
    for run in ("TS_001", "TS_003"):
        assert execute(instance, job_name="acquisition_run_job", partition_key=f"20999__{run}").success
    assert planned(settings, "TS_001") == ["10.012", "20.024"]
    assert spacing_folders(settings, "TS_001") == ["VoxelSpacing10.012"]
    assert spacing_rows(settings) == {**rows, "TS_001": rows["TS_001"][:1]}
    assert count(settings, "tomogram") == 3
