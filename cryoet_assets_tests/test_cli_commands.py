"""The console script as a user runs it: the README's demo command and `ingest`, each in its own process."""

import os
import subprocess
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

from cryoet_assets.lib.demo import write_demo
from cryoet_assets.lib.storage import open_bucket
from cryoet_assets_tests.console import SCRIPT, run

REPO = Path(__file__).resolve().parents[1]


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
    # The UI command loads the definitions under the code location name the sensors' state was stored for.
    home = tmp_path / "demo" / "dagster_home"
    assert f"DAGSTER_HOME={home}" in out and f" dev -w {home / 'workspace.yaml'} " in out
    assert "location_name: cryoet_assets" in (home / "workspace.yaml").read_text()
    # The demo's instance is the embedded default: the repository's root dagster.yaml, with every run's events
    # in one SQLite file under the instance folder, which holds them.
    instance_yaml = (home / "dagster.yaml").read_text()
    assert instance_yaml == (REPO / "dagster.yaml").read_text()
    assert yaml.safe_load(instance_yaml)["event_log_storage"] == {
        "module": "cryoet_assets.event_log", "class": "PooledSqliteEventLogStorage"}
    assert [path.name for path in (home / "history" / "runs").iterdir()] == ["event_log.db"]
    env_file = tmp_path / "demo" / ".env"
    assert f"CRYOET_STAGING_URL={tmp_path / 'demo' / 'staging'}" in env_file.read_text()
    assert env_file.stat().st_mode & 0o077 == 0  # it may hold database passwords
    assert f"  cd {tmp_path / 'demo'} && DAGSTER_HOME={home} " in out
    # Progress as plain lines (stdout is not a terminal): each job as it starts, each tomogram's planes.
    assert "  acquisition_run_job  20999__TS_002        started\n" in out
    assert "/lab_uploads/demo/runs/TS_002/TS_002.mrc: 40/40 planes written\n" in out
    assert "Warning" not in result.stderr and "Traceback" not in result.stderr
    # The portal database is whole in its one file: the write-ahead log was folded back in at the end.
    assert (tmp_path / "demo" / "staging.db").is_file()
    assert not (tmp_path / "demo" / "staging.db-wal").exists()


def test_ingest_of_a_broken_config_names_the_field_once_and_loads_nothing(tmp_path):
    # A config that ingests is ingested by the other tests here, a local deposit in
    # test_a_killed_worker_fails_its_run_only_and_a_new_plan_runs_it_again (which then ingests it again).
    deposit = open_bucket(str(tmp_path / "cryoetportal-rawdatasets-dev"))
    configs = open_bucket(str(tmp_path / "incoming"))
    demo = write_demo(deposit=deposit, configs=configs)
    config = tmp_path / "incoming" / demo.config_key
    config.write_text(config.read_text().replace("sample_type: cell_line", "sample_type: spaceship"))
    db = f"sqlite:///{tmp_path / 'portal.db'}"
    ingest = ["ingest", "--config", str(config), "--deposit", deposit.uri(""),
              "--staging", str(tmp_path / "staging"), "--db", db, "--dagster-home", str(tmp_path / "home")]
    result = run(ingest, cwd=tmp_path)
    assert result.returncode == 1
    # Said once, naming the user's file (not a copy), without a traceback.
    assert result.stderr.startswith(f"{config}:")
    assert (result.stdout + result.stderr).count("datasets[0].metadata.sample_type") == 1
    assert "Traceback" not in result.stdout + result.stderr
    # Refused before anything was made: no instance, no staging folder, no database.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cryoetportal-rawdatasets-dev", "incoming"]

    # So is what only a rule of `validate-config` finds, not the schema.
    config.write_text(config.read_text().replace("sample_type: spaceship", "sample_type: cell_line")
                      .replace("value: [20.024]", "value: [-20.024]"))
    ruled = run(ingest, cwd=tmp_path)
    assert ruled.returncode == 1
    assert ruled.stderr.startswith(f"{config}:") and "-20.024" in ruled.stderr and "Traceback" not in ruled.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cryoetportal-rawdatasets-dev", "incoming"]


def test_ingest_refuses_a_database_or_bucket_it_cannot_use_before_making_anything(tmp_path):
    deposit = open_bucket(str(tmp_path / "cryoetportal-rawdatasets-dev"))
    demo = write_demo(deposit=deposit, configs=open_bucket(str(tmp_path / "incoming")))
    config = f"incoming/{demo.config_key}"
    lab_files = {info.key: info.etag for info in deposit.list("")}
    refused = {
        "--db portal.db": (["--staging", "staging", "--db", "portal.db"],
                           "ingest: --db 'portal.db' is not a database URL (e.g. sqlite:///portal.db or "),
        "--db postgres://": (["--staging", "staging", "--db", "postgres://me:secret@127.0.0.1/portal"],
                             "ingest: --db postgres://me:***@127.0.0.1/portal: no SQLAlchemy dialect 'postgres' "),
        "staging inside the deposit": (
            ["--staging", "cryoetportal-rawdatasets-dev/out", "--db", "sqlite:///portal.db"],
            f"ingest: the staging bucket ({(tmp_path / 'cryoetportal-rawdatasets-dev' / 'out').as_uri()}) lies "
            f"inside the deposit bucket ({(tmp_path / 'cryoetportal-rawdatasets-dev').as_uri()}); nothing ingested"),
        "deposit inside staging": (
            ["--staging", ".", "--db", "sqlite:///portal.db"],
            f"ingest: the deposit bucket ({(tmp_path / 'cryoetportal-rawdatasets-dev').as_uri()}) lies inside the "
            f"staging bucket ({tmp_path.as_uri()}); nothing ingested"),
    }
    refused["a SQLite file in no folder"] = (["--staging", "staging", "--db", "sqlite:///no/such/p.db"],
                                           f"ingest: --db sqlite:///no/such/p.db: folder {tmp_path / 'no' / 'such'} "
                                           "does not exist; nothing ingested")
    refused["no deposit folder"] = (["--staging", "staging", "--db", "sqlite:///portal.db", "--deposit", "absent"],
                                    f"ingest: --deposit absent: no folder {tmp_path / 'absent'}; nothing ingested")
    refused["an unknown scheme"] = (["--staging", "ftp://host/staging", "--db", "sqlite:///portal.db"],
                                    "ingest: bucket URL 'ftp://host/staging': only file:// and s3:// URLs or plain "
                                    "paths are supported; nothing ingested")
    for case, (arguments, said) in refused.items():
        result = run(["ingest", "--config", config, "--deposit", "cryoetportal-rawdatasets-dev", *arguments,
                      "--dagster-home", "home"], cwd=tmp_path)
        assert result.returncode == 1, case
        assert result.stderr.startswith(said), (case, result.stderr)
        assert "secret" not in result.stderr and "Traceback" not in result.stderr, case
        assert sorted(path.name for path in tmp_path.iterdir()) == ["cryoetportal-rawdatasets-dev", "incoming"], case
    assert {info.key: info.etag for info in deposit.list("")} == lab_files


def test_an_instance_that_cannot_be_opened_is_named_with_its_error_without_a_traceback(tmp_path):
    deposit = open_bucket(str(tmp_path / "cryoetportal-rawdatasets-dev"))
    demo = write_demo(deposit=deposit, configs=open_bucket(str(tmp_path / "incoming")))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("run_storage:\n  module: no_such_module.storage\n  class: RunStorage\n")
    db = f"sqlite:///{tmp_path / 'portal.db'}"
    result = run(["ingest", "--config", str(tmp_path / "incoming" / demo.config_key), "--deposit", deposit.uri(""),
                  "--staging", str(tmp_path / "staging"), "--db", db, "--dagster-home", str(home)], cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{home / 'dagster.yaml'}: cannot open the Dagster instance: ")
    assert "no_such_module.storage" in result.stderr and "Traceback" not in result.stderr
    assert "Dagster instance:" not in result.stdout  # nothing ran
    assert not (tmp_path / "staging").exists()  # not even the config's copy, which the deposit sensor would read


def test_ingest_into_an_s3_bucket(tmp_path, s3_bucket_url):
    deposit_url, endpoint = s3_bucket_url()
    staging_url, _ = s3_bucket_url("portal")
    demo = write_demo(deposit=open_bucket(deposit_url, endpoint_url=endpoint),
                      configs=open_bucket(str(tmp_path / "incoming")))
    db = f"sqlite:///{tmp_path / 'portal.db'}"
    ingest = ["ingest", "--config", str(tmp_path / "incoming" / demo.config_key), "--deposit", deposit_url,
              "--staging", staging_url, "--db", db, "--s3-endpoint-url", endpoint,
              "--dagster-home", str(tmp_path / "home")]

    refused = run(ingest, cwd=tmp_path)
    assert refused.returncode == 2
    assert f"--staging {staging_url} is an S3 bucket: give --staging-https-prefix" in refused.stderr
    assert not (tmp_path / "home").exists()

    result = run([*ingest, "--staging-https-prefix", "https://files.example.org/portal/"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    staging = open_bucket(staging_url, endpoint_url=endpoint)
    mrc = "20999/TS_002/Reconstructions/VoxelSpacing10.012/Tomograms/100/TS_002.mrc"
    assert staging.size(mrc) == 1024 + 40 * 96 * 128 * 4
    assert staging.read_bytes("20999/dataset_metadata.json").startswith(b"{")
    assert staging.exists("_cryoet_assets/configs/20999.yaml")
    assert f"Outputs in {staging_url}" in result.stdout
    engine = create_engine(db)
    with engine.connect() as connection:
        runs = connection.execute(text("select name, s3_prefix, https_prefix from run order by name")).all()
        tomogram = connection.execute(text(
            "select t.s3_mrc_file, t.https_mrc_file from tomogram t join run r on r.id = t.run_id "
            "where r.name = 'TS_002'")).one()
    engine.dispose()
    assert [tuple(row) for row in runs] == [
        (name, f"{staging_url}/20999/{name}/", f"https://files.example.org/portal/20999/{name}/")
        for name in ("TS_001", "TS_002", "TS_003")
    ]
    assert tuple(tomogram) == (f"{staging_url}/{mrc}", f"https://files.example.org/portal/{mrc}")


def _demo_ingest(tmp_path: Path) -> tuple:
    """The demo's deposit and config in `tmp_path`, and (deposit, db URL, instance folder, `ingest` arguments)
    naming folders and the database as a user in that folder would: relatively, two workers."""
    deposit = open_bucket(str(tmp_path / "cryoetportal-rawdatasets-dev"))
    demo = write_demo(deposit=deposit, configs=open_bucket(str(tmp_path / "incoming")))
    ingest = ["ingest", "--config", f"incoming/{demo.config_key}", "--deposit", "cryoetportal-rawdatasets-dev",
              "--staging", "staging", "--db", "sqlite:///portal.db", "--dagster-home", "home", "--workers", "2"]
    return deposit, f"sqlite:///{tmp_path / 'portal.db'}", tmp_path / "home", ingest


def _start(args: list[str], cwd: Path, **popen) -> subprocess.Popen:
    """The console script started as `console.run` runs it, without waiting for it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRYOET_", "DAGSTER_"))}
    return subprocess.Popen([str(SCRIPT), *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _started_runs(runs_db: Path, job_name: str) -> int:
    """Runs of `job_name` in STARTED state, read from the instance's SQLite run storage without writing to it."""
    import sqlite3

    if not runs_db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{runs_db}?mode=ro", uri=True) as connection:
            return connection.execute("select count(*) from runs where pipeline_name = ? and status = 'STARTED'",
                                      (job_name,)).fetchone()[0]
    except sqlite3.OperationalError:  # its tables are not created yet
        return 0


def test_a_killed_worker_fails_its_run_only_and_a_new_plan_runs_it_again(tmp_path, monkeypatch):
    import signal
    import time

    import dagster as dg

    deposit, db, home, ingest = _demo_ingest(tmp_path)
    cli = _start(ingest, tmp_path)
    killed = None
    deadline = time.monotonic() + 120
    # Once both workers' runs have started, one worker is killed in the middle of its run.
    while killed is None and cli.poll() is None and time.monotonic() < deadline:
        started = _started_runs(home / "history" / "runs.db", "acquisition_run_job")
        if started:
            children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(cli.pid)], capture_output=True,
                                      text=True).stdout.split()
            if started == 2 and children:
                killed = int(children[0])
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    out, err = cli.communicate(timeout=300)
    assert killed is not None, out + err
    assert cli.returncode == 1, out + err
    assert out.count("the process running it died (exit code -9)") == 1
    assert "Checks: 8 passed, 0 warned, 0 failed" in out  # the two other runs went on

    # The killed run is recorded as failed, not left running.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        statuses = sorted(run.status.value for run in instance.get_runs(
            filters=dg.RunsFilter(job_name="acquisition_run_job")))
    assert statuses == ["FAILURE", "SUCCESS", "SUCCESS"]

    # Unchanged, nothing is new; planned again (the deposit's marker rewritten), the failed run runs again.
    assert "nothing new" in run(ingest, cwd=tmp_path).stdout
    deposit.write_bytes("lab_uploads/demo/_DONE", b"")
    again = run(ingest, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("acquisition_run_job  20999__TS_00") == 2  # started and ok, for that run only
    engine = create_engine(db)
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from run")).scalar_one() == 3
        assert connection.execute(text("select count(*) from tomogram")).scalar_one() == 4
        prefixes = connection.execute(text("select s3_prefix from run order by name")).scalars().all()
    engine.dispose()
    # What was relative is absolute wherever it is kept or shown: the rows, the UI's and promote's commands.
    assert prefixes == [f"file://{tmp_path / 'staging'}/20999/{name}/" for name in ("TS_001", "TS_002", "TS_003")]
    settings = (home / ".env").read_text().splitlines()  # the UI started as printed, in home, loads it
    assert f"CRYOET_STAGING_URL={tmp_path / 'staging'}" in settings and f"CRYOET_STAGING_DB_URL={db}" in settings
    assert f"  cd {home} && DAGSTER_HOME={home} " in again.stdout
    assert f"promote --staging {tmp_path / 'staging'} --production {tmp_path / 'staging'}-production " in again.stdout

    # Everything ingested, the same command again runs nothing. With no run to execute it imports none of what
    # only runs need (great_expectations: seconds of CPU): each module it imports is listed on stderr.
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    unchanged = run(ingest, cwd=tmp_path)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert "nothing new: every config and deposit is as this instance last ingested it" in unchanged.stdout
    assert " started\n" not in unchanged.stdout
    assert "Checks:" not in unchanged.stdout and "Outputs in" not in unchanged.stdout  # no summary of nothing
    assert "| cryoet_assets.definitions" in unchanged.stderr and "great_expectations" not in unchanged.stderr


def test_ctrl_c_stops_an_ingest_and_the_same_command_goes_on_from_there(tmp_path):
    import signal
    import time

    _, db, home, ingest = _demo_ingest(tmp_path)
    # A terminal's Ctrl-C reaches every process of the foreground group: the CLI and its run workers.
    cli = _start(ingest, tmp_path, start_new_session=True)
    interrupted = False
    deadline = time.monotonic() + 120
    while not interrupted and cli.poll() is None and time.monotonic() < deadline:
        if _started_runs(home / "history" / "runs.db", "acquisition_run_job") == 2:
            os.killpg(cli.pid, signal.SIGINT)
            interrupted = True
        time.sleep(0.05)
    out, err = cli.communicate(timeout=120)
    assert interrupted, out + err
    assert cli.returncode == 130, out + err
    assert "interrupted: the runs in progress were stopped and recorded as failed (a run that was about to end " \
           "may have ended); no other run was started. Run the same ingest again to go on" in err
    assert "Traceback" not in err

    def acquisition_runs(text: str, status: str) -> set[str]:
        return {line.split()[1] for line in text.splitlines()
                if line.startswith("  acquisition_run_job ") and line.split()[2] == status}

    assert acquisition_runs(out, "FAILED")  # the runs in progress were stopped
    again = run(ingest, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    # What had finished is not run again; the stopped runs and those not started are, then the roll-up.
    expected = {"20999__TS_001", "20999__TS_002", "20999__TS_003"} - acquisition_runs(out, "ok")
    assert acquisition_runs(again.stdout, "started") == acquisition_runs(again.stdout, "ok") == expected
    assert "deposition_job" not in again.stdout and "dataset_job          20999                ok" in again.stdout
    # The roll-up is the dataset's run of this ingest: its partition and config are in the summary.
    assert f"  {'datasets':<17} {1:>3}  20999\n" in again.stdout
    assert f"\nConfigs:\n  {tmp_path / 'staging' / '_cryoet_assets' / 'configs' / '20999.yaml'}  datasets 20999\n" \
        in again.stdout
    engine = create_engine(db)
    with engine.connect() as connection:
        assert connection.execute(text("select count(*) from run")).scalar_one() == 3
        assert connection.execute(text("select count(*) from tomogram")).scalar_one() == 4
        assert connection.execute(text("select count(*) from dataset")).scalar_one() == 1
    engine.dispose()
    assert "nothing new" in run(ingest, cwd=tmp_path).stdout


def test_a_dataset_whose_plan_fails_is_named_and_no_promotion_is_suggested(tmp_path):
    demo = write_demo(deposit=open_bucket(str(tmp_path / "cryoetportal-rawdatasets-dev")),
                      configs=open_bucket(str(tmp_path / "incoming")))
    config = tmp_path / "incoming" / demo.config_key
    config.write_text(config.read_text().replace("source_prefix: lab_uploads/demo", "source_prefix: lab_uploads/none"))
    result = run(["ingest", "--config", str(config), "--deposit", "cryoetportal-rawdatasets-dev", "--staging",
                  "staging", "--db", "sqlite:///portal.db", "--dagster-home", "home"], cwd=tmp_path)
    assert result.returncode == 1
    assert ("  run failed: dataset_plan_job [20999]: ingestion_plan: "
            f"{tmp_path / 'staging' / '_cryoet_assets' / 'configs' / '20999.yaml'}: runs: the finders found no "
            f"acquisition run for dataset 20999 under {tmp_path / 'cryoetportal-rawdatasets-dev'}/lab_uploads/none"
            ) in result.stdout
    assert "Open the same instance in the Dagster UI" in result.stdout and "promote" not in result.stdout
