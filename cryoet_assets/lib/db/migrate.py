"""Bring a portal database to the latest schema with Alembic, without an alembic.ini.

The core revision (deposition, dataset, run, voxel spacing tables) lives here; each entity family keeps the
revisions of its own tables in its folder, branching from the core one, and the caller passes those folders
(`cryoet_assets.families.migration_locations()`): the database is brought to every head.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
CORE_VERSIONS_DIR = MIGRATIONS_DIR / "versions"


def alembic_config(url: str | None = None, *, target_metadata=None, version_locations: Sequence[Path] = ()):
    """An Alembic `Config` whose script location is the migrations folder shipped in this package.

    `version_locations` are the families' revision folders, searched beside the core one. `target_metadata`
    (the families' table models, `cryoet_assets.families.table_metadata()`) is what autogenerate compares
    with; upgrades and downgrades run the migration scripts and do not need it.
    """
    from alembic.config import Config

    config = Config()
    config.attributes["target_metadata"] = target_metadata
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_path_separator", "os")
    locations = [CORE_VERSIONS_DIR, *version_locations]
    config.set_main_option("version_locations", os.pathsep.join(str(path) for path in locations).replace("%", "%%"))
    if url is not None:
        # ConfigParser treats '%' as interpolation, which URL-encoded passwords contain.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Alembic's `op` and `context` are module globals: two migrations in one process must not overlap.
_IN_PROCESS = threading.Lock()
# Any 64-bit number shared by every process that migrates a portal database on the same server.
_ADVISORY_LOCK_KEY = 0x63727965745F6462


def upgrade(url: str, *, revision: str = "heads", version_locations: Sequence[Path] = ()) -> None:
    """Run `alembic upgrade <revision>` (default: every family's head) on the database at `url`.

    Runs started together (the daemon launches a dataset's runs at once) each upgrade the database they
    write: one migrates while the others wait for it (a PostgreSQL advisory lock, a lock file beside a
    SQLite file, a lock within this process), then find the database at its heads.
    """
    from alembic import command

    from cryoet_assets.lib.db import make_engine

    engine = make_engine(url)
    try:
        with _IN_PROCESS, _between_processes(engine), engine.connect() as connection:
            config = alembic_config(version_locations=version_locations)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def _between_processes(engine) -> Iterator[None]:
    """Hold a lock that other processes migrating the same database also take."""
    from sqlalchemy import text

    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("select pg_advisory_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(text("select pg_advisory_unlock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    import fcntl

    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_revisions(url: str) -> tuple[str, ...]:
    """The revisions the database at `url` is at (one per branch), sorted; empty if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    from cryoet_assets.lib.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    finally:
        engine.dispose()


def head_revisions(version_locations: Sequence[Path] = ()) -> tuple[str, ...]:
    """The newest revision of every branch shipped in this package, sorted."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config(version_locations=version_locations)).get_heads()
    if not heads:
        raise RuntimeError(f"no migration revisions found in {CORE_VERSIONS_DIR}")
    return tuple(sorted(heads))
