"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cryoet_assets_tests.instances import IngestedDemo, embedded_instance_config, ingest_demo_once

S3BucketFactory = Callable[..., tuple[str, str]]
# The portal's reference files (configs, schemas, files from other software), beside the repository.
REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
NEEDS_REFERENCE = f"needs the portal's reference folder {REFERENCE_DIR}"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The portal's reference folder; a test that asks for it is marked `reference` and skipped without it."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(NEEDS_REFERENCE)
    return REFERENCE_DIR


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "reference_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.reference)


def pytest_terminal_summary(terminalreporter) -> None:
    """One line per reason a test was skipped, with what to provide to run it."""
    reasons = Counter(
        report.longrepr[2].removeprefix("Skipped: ")
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple)
    )
    for reason, count in sorted(reasons.items()):
        hint = (" (copy or link the shared reference folder there; `-m 'not reference'` deselects them)"
                if reason == NEEDS_REFERENCE else "")
        terminalreporter.write_line(f"{count} skipped: {reason}{hint}")


@pytest.fixture(scope="session")
def s3_endpoint_url() -> Iterator[str]:
    """Endpoint of a moto S3 server on loopback, with fake AWS credentials in the environment meanwhile."""
    from moto.server import ThreadedMotoServer

    werkzeug_log = logging.getLogger("werkzeug")
    previous_level = werkzeug_log.level
    werkzeug_log.setLevel(logging.ERROR)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
            env.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()
            werkzeug_log.setLevel(previous_level)


@pytest.fixture(scope="session")
def s3_bucket_url(s3_endpoint_url: str) -> S3BucketFactory:
    """Factory: create a fresh empty S3 bucket and return (`s3://bucket[/prefix]`, endpoint_url)."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint_url, region_name="us-east-1")

    def make(prefix: str = "") -> tuple[str, str]:
        name = f"test-{uuid.uuid4().hex[:20]}"
        client.create_bucket(Bucket=name)
        url = f"s3://{name}/{prefix.strip('/')}" if prefix.strip("/") else f"s3://{name}"
        return url, s3_endpoint_url

    return make


POSTGRES_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[Callable[[], str]]:
    """Factory: a fresh empty Postgres database on 127.0.0.1:5432; every one is dropped when the session ends."""
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make() -> str:
        name = f"cryoet_assets_test_{uuid.uuid4().hex[:12]}"
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        except Exception as exc:
            pytest.fail(f"these tests need PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth): {exc}")
        created.append(name)
        return f"{POSTGRES_SERVER}/{name}"

    try:
        yield make
    finally:
        with admin.connect() as connection:
            for name in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def deployed_home(tmp_path: Path, postgres_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Dagster home holding a copy of deploy/dagster.yaml, its instance in a fresh Postgres database.

    DAGSTER_HOME and DAGSTER_PG_URL are set for the test; the instance's tables are created here, so that
    processes the test starts do not race each other to create them.
    """
    import shutil

    import dagster as dg

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_database())
    dg.DagsterInstance.get().dispose()
    return home


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(settings, demo, instance): the demo deposit on the embedded default, a test Dagster instance storing
    events as the embedded default does (`embedded_instance_config`), no run yet."""
    import dagster as dg

    from cryoet_assets.lib.demo import write_demo
    from cryoet_assets.lib.storage import open_bucket
    from cryoet_assets.runner import Settings

    settings = Settings.embedded(tmp_path)
    for key, value in settings.environment().items():
        monkeypatch.setenv(key, value)
    demo = write_demo(deposit=open_bucket(settings.deposit_url), configs=open_bucket(settings.configs_url))
    with dg.instance_for_test(overrides=embedded_instance_config()) as instance:
        yield settings, demo, instance


@pytest.fixture(scope="session")
def _ingested_demo(tmp_path_factory: pytest.TempPathFactory) -> IngestedDemo:
    made = ingest_demo_once(tmp_path_factory, "ingested_demo")
    assert made.report.success, [(run.job_name, run.partition_key, run.error) for run in made.report.runs]
    return made


@pytest.fixture
def ingested_demo(_ingested_demo: IngestedDemo, monkeypatch: pytest.MonkeyPatch):
    """(settings, demo, instance): `embedded` after `ingest` ran once and succeeded.

    The ingest runs once per session; each test gets the folder it left, as it left it (Dagster instance
    included), and a new instance opened on it.
    """
    with _ingested_demo.restored(monkeypatch) as (settings, demo, instance, _):
        yield settings, demo, instance


@pytest.fixture(scope="module")
def ingested_demo_for_module(_ingested_demo: IngestedDemo):
    """`ingested_demo` shared by the tests of one module, which leave it to each other in file order."""
    with pytest.MonkeyPatch.context() as env, _ingested_demo.restored(env) as (settings, demo, instance, _):
        yield settings, demo, instance


_BAD_TOMOGRAM = "lab_uploads/demo/runs/TS_002/TS_002.mrc"


def _damage_tomogram(damage: Callable[[bytes], bytes]) -> Callable:
    def change(settings, demo) -> None:
        from cryoet_assets.lib.storage import open_bucket

        deposit = open_bucket(settings.deposit_url)
        deposit.write_bytes(_BAD_TOMOGRAM, damage(deposit.read_bytes(_BAD_TOMOGRAM)))

    return change


@pytest.fixture(scope="session")
def _demo_with_a_truncated_tomogram(tmp_path_factory: pytest.TempPathFactory) -> IngestedDemo:
    return ingest_demo_once(tmp_path_factory, "truncated_tomogram",
                            _damage_tomogram(lambda data: data[: len(data) // 2]))


@pytest.fixture
def demo_with_a_truncated_tomogram(_demo_with_a_truncated_tomogram: IngestedDemo,
                                   monkeypatch: pytest.MonkeyPatch):
    """(settings, demo, instance, report): the demo with the second half of TS_002's tomogram
    missing, ingested once per session; each test gets the folder as that ingest left it."""
    with _demo_with_a_truncated_tomogram.restored(monkeypatch) as ingested:
        yield ingested


@pytest.fixture(scope="session")
def _demo_with_a_tomogram_not_mrc(tmp_path_factory: pytest.TempPathFactory) -> IngestedDemo:
    return ingest_demo_once(tmp_path_factory, "tomogram_not_mrc",
                            _damage_tomogram(lambda data: b"%PDF-1.4 not a volume" + bytes(2048)))


@pytest.fixture
def demo_with_a_tomogram_not_mrc(_demo_with_a_tomogram_not_mrc: IngestedDemo, monkeypatch: pytest.MonkeyPatch):
    """(settings, demo, instance, report): the demo with TS_002's tomogram not an MRC file,
    ingested once per session."""
    with _demo_with_a_tomogram_not_mrc.restored(monkeypatch) as ingested:
        yield ingested
