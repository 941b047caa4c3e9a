"""Dagster's consolidated SQLite event log with its connections kept open.

`ConsolidatedSqliteEventLogStorage` opens a new SQLite connection, through a new SQLAlchemy engine, for every
event it stores and every query it answers, and asks SQLite whether a table exists before each query of
dynamic partitions or asset checks. A run of an acquisition-run partition makes about a hundred of those calls
(its events, and Dagster checking that the partition exists as each step starts and loads its inputs), each
1.5-3 ms of CPU. This storage keeps one engine per process whose pool holds the connections open, and
remembers the tables it has seen; what it stores and how it is laid out on disk are Dagster's own.

Its connections commit with `PRAGMA synchronous=NORMAL` when the file is in WAL mode, as Dagster creates it:
SQLite then syncs the WAL to disk at checkpoints instead of at every commit, which SQLite documents as safe
from corruption in WAL mode; a power loss or an OS crash may lose the last commits, a killed process none.

Without `base_dir` the file is `history/runs/event_log.db` in the instance's folder, the folder Dagster's
default event log uses, so that the repository's root dagster.yaml can name this storage whatever the
instance's folder is ($DAGSTER_HOME, or the temporary one `dagster dev` makes without it).

A process forked from one that used the storage (the `ingest` workers, the run launcher's run workers) makes
its own engine on first use; the parent's connections are left alone in the child, never used or closed there.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any

import sqlalchemy
from dagster import Field, StringSource
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
    ConsolidatedSqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData

# Connections a forked child inherited from its parent: kept referenced so that the child never closes them.
_INHERITED: list[Any] = []


def _sync_at_checkpoints(dbapi_connection, _record) -> None:
    """`synchronous=NORMAL` on a new connection to a file in WAL mode (in another journal mode SQLite's
    default stays: NORMAL is not safe from corruption there)."""
    cursor = dbapi_connection.cursor()
    try:
        if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """`ConsolidatedSqliteEventLogStorage` with pooled connections, one engine per process.

    Config: `base_dir`, optional (default: `history/runs` in the instance's folder).
    """

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._engine_lock = threading.Lock()
        self._lock_pid = os.getpid()
        self._engine = None
        self._engine_pid = 0
        self._tables: set[str] = set()
        self._inst_data = inst_data
        if base_dir is not None:
            super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}

    def register_instance(self, instance) -> None:
        if not hasattr(self, "_base_dir"):  # no base_dir configured: the instance's folder is known now
            super().__init__(os.path.join(instance.root_directory, "history", "runs"), inst_data=self._inst_data)
        super().register_instance(instance)

    def _pooled_engine(self):
        pid = os.getpid()
        if self._engine_pid == pid:
            return self._engine
        if self._lock_pid != pid:
            # A fork copies the lock as it was: held, if one of the parent's other threads held it then.
            self._engine_lock, self._lock_pid = threading.Lock(), pid
        with self._engine_lock:
            if self._engine_pid != pid:
                if self._engine is not None:
                    _INHERITED.append(self._engine)
                # The pool hands a connection to one thread at a time; SQLite's own check that a connection stays
                # in the thread that made it would refuse a connection a pool passes on.
                self._engine = sqlalchemy.create_engine(
                    self._conn_string,
                    pool_size=4,
                    max_overflow=8,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                )
                sqlalchemy.event.listen(self._engine, "connect", _sync_at_checkpoints)
                self._engine_pid = pid
            return self._engine

    @contextmanager
    def _connect(self):
        with self._pooled_engine().connect() as conn, conn.begin():
            yield conn

    def has_table(self, table_name: str) -> bool:
        # Tables are added by migrations, never dropped while the instance is open: a table seen stays.
        if table_name in self._tables:
            return True
        engine = self._pooled_engine()
        with engine.connect() as conn:
            exists = bool(engine.dialect.has_table(conn, table_name))
        if exists:
            self._tables.add(table_name)
        return exists

    def dispose(self):
        with self._engine_lock:
            if self._engine is not None and self._engine_pid == os.getpid():
                self._engine.dispose()
            self._engine, self._engine_pid = None, 0
        if hasattr(self, "_base_dir"):
            super().dispose()
