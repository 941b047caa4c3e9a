"""Promotion as a curator runs it: `ingest`, then `promote` to a production bucket and database."""

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from cryoet_assets.lib.demo import write_demo
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets_tests.console import run

FAILING_RUN = "20999/TS_002/"


def table_rows(url: str) -> dict[str, dict[int, dict]]:
    """Every row of every portal table, by table and id."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = [name for name in inspect(connection).get_table_names() if name != "alembic_version"]
            return {
                table: {row["id"]: dict(row) for row in connection.execute(text(f"select * from {table}")).mappings()}
                for table in tables
            }
    finally:
        engine.dispose()


def portal_objects(bucket) -> dict[str, bytes]:
    return {info.key: bucket.read_bytes(info.key) for info in bucket.list("")}


@pytest.fixture
def ingested(tmp_path: Path):
    """The demo deposit ingested through the CLI, with TS_002's voxel spacing (40.5 Å) failing its check."""
    deposit = open_bucket(str(tmp_path / "cryoetportal-rawdatasets-dev"))
    demo = write_demo(deposit=deposit, configs=open_bucket(str(tmp_path / "incoming")))
    data_map = deposit.read_text("lab_uploads/demo/run_data_map.tsv").replace("TS_002\t10.012", "TS_002\t40.5")
    deposit.write_bytes("lab_uploads/demo/run_data_map.tsv", data_map.encode())
    ingest = ["ingest", "--config", str(tmp_path / "incoming" / demo.config_key), "--deposit", deposit.uri(""),
              "--staging", str(tmp_path / "staging"), "--db", f"sqlite:///{tmp_path / 'staging.db'}",
              "--dagster-home", str(tmp_path / "home"), "--workers", "1"]
    result = run(ingest, cwd=tmp_path)
    assert result.returncode == 1 and "20999__TS_002" in result.stdout, result.stdout + result.stderr
    promote = ["promote", "--staging", str(tmp_path / "staging"), "--production", str(tmp_path / "production"),
               "--db", f"sqlite:///{tmp_path / 'staging.db'}",
               "--production-db", f"sqlite:///{tmp_path / 'production.db'}",
               "--production-https-prefix", "https://files.example.org", "--dagster-home", str(tmp_path / "home")]
    return tmp_path, deposit, ingest, promote


def test_promote_copies_exactly_the_passing_partitions_then_only_what_changed(ingested):
    tmp_path, deposit, ingest, promote = ingested
    staging, production = open_bucket(str(tmp_path / "staging")), open_bucket(str(tmp_path / "production"))

    dry = run([*promote, "--dry-run"], cwd=tmp_path)
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert "Would promote" in dry.stdout and "20999__TS_003" in dry.stdout
    assert not (tmp_path / "production").exists() and not (tmp_path / "production.db").exists()

    first = run(promote, cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    assert first.stdout.count("REFUSED") == 1
    refused = first.stdout.split("REFUSED")[1].split("\n  acquisition_run")[0]
    assert "20999__TS_002 is not promoted; nothing of it changed in production" in refused
    assert "check voxel_spacings_valid of voxel_spacings failed: " in refused
    assert "voxel spacing must be strictly between 1 and 30" in refused
    assert "4 partitions promoted, 1 refused" in first.stdout

    expected = {key: data for key, data in portal_objects(staging).items()
                if not key.startswith(("_cryoet_assets/", FAILING_RUN))}
    assert portal_objects(production) == expected
    assert any(key.endswith(".zarr/.zattrs") for key in expected)

    staged, promoted = table_rows(f"sqlite:///{tmp_path / 'staging.db'}"), table_rows(
        f"sqlite:///{tmp_path / 'production.db'}")
    staging_root = (tmp_path / "staging").as_uri()
    production_roots = {"s3": (tmp_path / "production").as_uri(), "https": "https://files.example.org"}
    for table, rows in staged.items():
        assert promoted[table].keys() == rows.keys(), table  # the same rows, under staging's ids
        for row_id, row in rows.items():
            # s3 columns name the production bucket; the others (https, key photo URLs) its public URL.
            moved = {
                name: value.replace(staging_root, production_roots["s3" if name.startswith("s3_") else "https"])
                if isinstance(value, str) else value
                for name, value in row.items()
            }
            assert promoted[table][row_id] == moved, (table, row_id)
    [mrc] = {row["https_mrc_file"] for row in promoted["tomogram"].values() if "TS_003" in row["https_mrc_file"]}
    assert mrc == "https://files.example.org/20999/TS_003/Reconstructions/VoxelSpacing10.012/Tomograms/100/TS_003.mrc"
    assert sorted(row["name"] for row in promoted["run"].values()) == ["TS_001", "TS_003"]

    again = run(promote, cwd=tmp_path)
    assert "4 partitions promoted, 1 refused: 0 objects (0.0 MB) copied" in again.stdout, again.stdout
    assert table_rows(f"sqlite:///{tmp_path / 'production.db'}") == promoted
    assert portal_objects(production) == expected

    # A tomogram changed in the deposit and ingested again: only its objects are promoted again.
    before = {info.key: info.etag for info in production.list("")}

    source = "lab_uploads/demo/runs/TS_003/TS_003.mrc"
    data = bytearray(deposit.read_bytes(source))
    data[-4:] = b"\x00\x00\x80\x3f"  # the last voxel becomes 1.0
    deposit.write_bytes(source, bytes(data))
    deposit.write_bytes("lab_uploads/demo/_DONE", b"again")
    assert "20999__TS_003" in run(ingest, cwd=tmp_path).stdout

    second = run(promote, cwd=tmp_path)
    after = {info.key: info.etag for info in production.list("")}
    changed = sorted(key for key in after if before.get(key) != after[key])
    assert changed, second.stdout
    assert all(key.startswith("20999/TS_003/Reconstructions/VoxelSpacing10.012/") for key in changed), changed
    assert any(key.endswith("TS_003.mrc") for key in changed)
    assert after.keys() == before.keys()

    # A staging file edited by hand after its checks ran is not promoted: the run is refused as a whole.
    photo = "20999/TS_001/Reconstructions/VoxelSpacing10.012/Images/100/key-photo-thumbnail.png"
    staging.write_bytes(photo, staging.read_bytes(photo) + b"\0")
    edited = run(promote, cwd=tmp_path)
    assert edited.returncode == 1
    assert "its staging objects are not those its last materialization wrote" in edited.stdout.split(
        "20999__TS_001", 1)[1].split("\n  acquisition_run")[0]
    assert {info.key: info.etag for info in production.list("")} == after


def test_promote_refuses_what_would_damage_staging_or_production(tmp_path: Path):
    staging = tmp_path / "staging"
    staging.mkdir()
    base = ["promote", "--staging", str(staging), "--db", f"sqlite:///{tmp_path / 'staging.db'}",
            "--dagster-home", str(tmp_path / "home")]
    same = run([*base, "--production", f"file://{staging}/", "--production-db", f"sqlite:///{tmp_path / 'p.db'}"],
               cwd=tmp_path)
    assert same.returncode == 1
    assert f"promote: the production bucket is the staging bucket ({staging.as_uri()}); nothing promoted" in same.stderr
    no_db = run([*base, "--production", str(tmp_path / "production"),
                 "--production-db", f"sqlite:///{tmp_path / 'p.db'}"], cwd=tmp_path)
    assert no_db.returncode == 1 and "no portal database there" in no_db.stderr
    assert not (tmp_path / "staging.db").exists()
    bad_url = run([*base, "--production", str(tmp_path / "production"), "--production-db", "nothing://here"],
                  cwd=tmp_path)
    assert bad_url.returncode == 1
    assert "promote: --production-db nothing://here: no SQLAlchemy dialect 'nothing'" in bad_url.stderr
    assert "Traceback" not in same.stderr + no_db.stderr + bad_url.stderr
    assert not (tmp_path / "production").exists() and not (tmp_path / "p.db").exists()
