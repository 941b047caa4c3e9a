"""Bring a portal database to the latest schema with Alembic, without an alembic.ini.

The core revision (deposition, dataset, run, voxel spacing tables) lives here; each entity family keeps the
revisions of its own tables in its folder, branching from the core one, and the caller passes those folders
(`cryoet_assets.families.migration_locations()`): the database is brought to every head.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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


def upgrade(url: str, *, revision: str = "heads", version_locations: Sequence[Path] = ()) -> None:
    """Run `alembic upgrade <revision>` (default: every family's head) on the database at `url`."""
    from alembic import command

    from cryoet_assets.lib.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            config = alembic_config(version_locations=version_locations)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


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
