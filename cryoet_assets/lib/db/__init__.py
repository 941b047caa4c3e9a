"""The portal database: models, migrations, transactional row sync and row builders."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite, foreign keys are enforced and transactions take the write lock at BEGIN.

    Several processes may write one SQLite file at once (runs executed in parallel): a transaction that
    read before writing could otherwise fail with "database is locked" at its first write, at once, while
    one that asks for the lock at BEGIN waits for it (up to 60 s). WAL lets readers go on meanwhile.
    """
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite delays BEGIN until the first write and ignores PRAGMA foreign_keys inside a transaction;
    # driving transactions ourselves makes reads part of the transaction and lets the PRAGMA take effect.
    in_memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
