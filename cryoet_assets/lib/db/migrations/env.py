"""Alembic environment for the portal database; run through `cryoet_assets.lib.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from cryoet_assets.lib.db import make_engine

config = context.config
# The table models live in the families; whoever migrates passes their metadata (autogenerate needs it).
target_metadata = config.attributes.get("target_metadata")
MIGRATION_LOCK_KEY = 0x63727965  # any constant shared by every process migrating this database


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Serializes concurrent upgrades (several processes starting at once); released at commit.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            _configure_and_run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; pass a database URL")
run_migrations_online()
