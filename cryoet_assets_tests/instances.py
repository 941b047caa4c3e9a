"""Dagster instances for tests that run the definitions in their own process, and demo deposits ingested once."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

ROOT_DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster.yaml"


def embedded_instance_config() -> dict:
    """Overrides for `dg.instance_for_test` that store events as the embedded default instance does (the
    repository's root dagster.yaml, which `demo` and `ingest` copy): every run's events in one SQLite file under
    the instance's folder, through connections kept open. Dagster's own default (a file per run, a new
    connection per event) costs more for each event and is not what the project runs on."""
    return {"event_log_storage": yaml.safe_load(ROOT_DAGSTER_YAML.read_text())["event_log_storage"]}


class IngestedDemo:
    """The demo deposit, changed or not, ingested once on the embedded default and kept as a copy of its folder.

    Everything an ingest leaves (buckets, portal database, Dagster instance, sensor cursors) records absolute
    paths, so the copy is put back at the folder it was made in (`restore`), for one user at a time, as the
    tests run; each user opens a new instance on it (`instance`). `report` is what the ingest reported.
    """

    def __init__(self, root: Path, copy: Path) -> None:
        self.root, self.copy = root, copy
        self.demo = None
        self.report = None
        self.in_use = False

    def settings(self):
        from cryoet_assets.runner import Settings

        return Settings.embedded(self.root / "buckets")

    @contextlib.contextmanager
    def instance(self, env: pytest.MonkeyPatch) -> Iterator:
        """A test instance on the folder, with the settings exported in `env` meanwhile."""
        import dagster as dg

        from cryoet_assets.defs.resources import forget_connections

        assert not self.in_use, f"{self.root} is in use by another fixture"
        self.in_use = True
        for key, value in self.settings().environment().items():
            env.setenv(key, value)
        forget_connections()  # this process's engines and buckets of what another test left there
        try:
            with dg.instance_for_test(overrides=embedded_instance_config(),
                                      temp_dir=str(self.root / "dagster_home")) as instance:
                yield instance
        finally:
            forget_connections()
            self.in_use = False

    def restore(self) -> None:
        shutil.rmtree(self.root)
        shutil.copytree(self.copy, self.root, symlinks=True)

    @contextlib.contextmanager
    def restored(self, env: pytest.MonkeyPatch) -> Iterator[tuple]:
        """(settings, demo, instance, report) on the folder as the ingest left it."""
        self.restore()
        with self.instance(env) as instance:
            yield self.settings(), self.demo, instance, self.report


def ingest_demo_once(factory: pytest.TempPathFactory, name: str,
                     change: Callable[..., None] | None = None) -> IngestedDemo:
    """Write the demo deposit, let `change(settings, demo)` change it, ingest it and keep a copy of the folder."""
    from cryoet_assets.lib.demo import write_demo
    from cryoet_assets.lib.storage import open_bucket
    from cryoet_assets.runner import ingest

    made = IngestedDemo(factory.mktemp(name), factory.mktemp(f"{name}_copy"))
    (made.root / "dagster_home").mkdir()
    settings = made.settings()
    with pytest.MonkeyPatch.context() as env, made.instance(env) as instance:
        made.demo = write_demo(deposit=open_bucket(settings.deposit_url), configs=open_bucket(settings.configs_url))
        if change is not None:
            change(settings, made.demo)
        made.report = ingest(instance, log=lambda line: None)
    shutil.copytree(made.root, made.copy, symlinks=True, dirs_exist_ok=True)
    return made
