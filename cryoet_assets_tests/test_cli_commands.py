"""The console script as a user runs it: the README's demo command and `ingest`, each in its own process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cryoet_assets.lib.demo import write_demo
from cryoet_assets.lib.storage import open_bucket

SCRIPT = Path(sys.executable).parent / "cryoet-assets"
REPO = Path(__file__).resolve().parents[1]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRYOET_", "DAGSTER_"))}
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_demo_ingests_everything_and_says_where_to_look(tmp_path):
    result = run(["demo", "--root", "demo"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # A clean demo: every check passes, none warns (its voxel spacings are not whole numbers).
    assert "Checks: 12 passed, 0 warned, 0 failed" in out
    assert "acquisition_runs    3  20999__TS_001, 20999__TS_002, 20999__TS_003" in out
    assert "  run                      3" in out
    assert "  tomogram                 4" in out and "  tomogram_voxel_spacing   4" in out
    assert "20999/TS_001/Reconstructions/VoxelSpacing20.024/Tomograms/101/TS_001.zarr/  (OME-Zarr" in out
    assert "20999/TS_002/Reconstructions/VoxelSpacing10.012/Images/100/key-photo-snapshot.png" in out
    assert "20999/dataset_metadata.json" in out and "depositions_metadata/10999/deposition_metadata.json" in out
    assert f"DAGSTER_HOME={tmp_path / 'demo' / 'dagster_home'}" in out and " dev -m cryoet_assets.definitions" in out
    # The demo's instance is the embedded default: the repository's root dagster.yaml.
    assert (tmp_path / "demo" / "dagster_home" / "dagster.yaml").read_text() == (REPO / "dagster.yaml").read_text()
    env_file = (tmp_path / "demo" / ".env").read_text()
    assert f"CRYOET_STAGING_URL={tmp_path / 'demo' / 'staging'}" in env_file


@pytest.mark.parametrize("broken", [False, True])
def test_ingest_one_config(tmp_path, broken):
    deposit = open_bucket(str(tmp_path / "cryoetportal-rawdatasets-dev"))
    configs = open_bucket(str(tmp_path / "incoming"))
    demo = write_demo(deposit=deposit, configs=configs)
    config = tmp_path / "incoming" / demo.config_key
    if broken:
        config.write_text(config.read_text().replace("sample_type: cell_line", "sample_type: spaceship"))
    db = f"sqlite:///{tmp_path / 'portal.db'}"
    result = run(["ingest", "--config", str(config), "--deposit", deposit.uri(""), "--staging",
                  str(tmp_path / "staging"), "--db", db, "--dagster-home", str(tmp_path / "home")], cwd=tmp_path)
    engine = create_engine(db)
    with engine.connect() as connection:
        runs = connection.execute(text("select count(*) from run")).scalar_one()
    engine.dispose()
    if broken:
        assert result.returncode == 1
        assert "20999.yaml" in result.stdout + result.stderr
        assert "datasets[0].metadata.sample_type" in result.stdout + result.stderr
        assert runs == 0
    else:
        assert result.returncode == 0, result.stdout + result.stderr
        assert runs == 3
