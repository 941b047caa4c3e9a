"""Bring a portal database to the latest schema with Alembic, without an alembic.ini."""

from __future__ import annotations

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None, *, target_metadata=None):
    """An Alembic `Config` whose script location is the migrations folder shipped in this package.

    `target_metadata` (the families' table models, `cryoet_assets.families.table_metadata()`) is what
    autogenerate compares with; upgrades and downgrades run the migration scripts and do not need it.
    """
    from alembic.config import Config

    config = Config()
    config.attributes["target_metadata"] = target_metadata
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser treats '%' as interpolation, which URL-encoded passwords contain.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, *, revision: str = "head") -> None:
    """Run `alembic upgrade <revision>` on the database at `url` (SQLite or Postgres)."""
    from alembic import command

    from cryoet_assets.lib.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at, or None if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    from cryoet_assets.lib.db import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision shipped in this package."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration revisions found in {MIGRATIONS_DIR}")
    return head
