"""Dagster's SQLite run and schedule storages with their connections kept open.

Dagster's `SqliteRunStorage` and `SqliteScheduleStorage` make a new engine and a new SQLite connection for every
call, and the last connection to close checkpoints the WAL into the file and syncs it: each call is a connect,
a commit with `synchronous=FULL` and a checkpoint. The daemon's sensor loop makes about ten such calls a tick
(tick records, cursors, purges), the queued run coordinator one a second, and every run a dozen. These storages
keep one pooled engine per process (`PooledEngine`, also used by `cryoet_assets.event_log`), with
`synchronous=NORMAL` on a file in WAL mode, as Dagster creates it: SQLite then syncs the WAL at checkpoints
instead of at every commit, which SQLite documents as safe from corruption in WAL mode (a power loss or an OS
crash may lose the last commits, a killed process none). What they store, and where, are Dagster's own: without
`base_dir` the files are `history/runs.db` and `schedules/schedules.db` in the instance's folder, where Dagster's
default storages keep them, so an instance made before keeps its history.

A process forked from one that used a storage makes its own engine on first use; the parent's connections are
left alone in the child, never used or closed there.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy
from dagster import Field, StringSource
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData

# Engines a forked child inherited from its parent: kept referenced so that the child never closes them.
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


class PooledEngine:
    """One pooled SQLAlchemy engine per process for the SQLite database at `url`, made on first use."""

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()
        self._engine: sqlalchemy.Engine | None = None
        self._engine_pid = 0

    def _process_lock(self) -> threading.Lock:
        pid = os.getpid()
        if self._lock_pid != pid:
            # A fork copies the lock as it was: held, if one of the parent's other threads held it then.
            self._lock, self._lock_pid = threading.Lock(), pid
        return self._lock

    def _keep_inherited(self) -> None:
        if self._engine is not None and self._engine_pid != os.getpid():
            _INHERITED.append(self._engine)
            self._engine, self._engine_pid = None, 0

    def get(self) -> sqlalchemy.Engine:
        pid = os.getpid()
        if self._engine_pid == pid:
            return self._engine
        with self._process_lock():
            if self._engine_pid != pid:
                self._keep_inherited()
                # The pool hands a connection to one thread at a time; SQLite's own check that a connection stays
                # in the thread that made it would refuse a connection a pool passes on.
                self._engine = sqlalchemy.create_engine(
                    self.url,
                    pool_size=4,
                    max_overflow=8,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                )
                sqlalchemy.event.listen(self._engine, "connect", _sync_at_checkpoints)
                self._engine_pid = pid
            return self._engine

    @contextmanager
    def transaction(self) -> Iterator[sqlalchemy.Connection]:
        """A pooled connection in a transaction, committed when the block ends without an exception."""
        with self.get().connect() as conn, conn.begin():
            yield conn

    def dispose(self) -> None:
        """Close this process's connections (a forked child's inherited ones are left alone)."""
        with self._process_lock():
            self._keep_inherited()
            if self._engine is not None:
                self._engine.dispose()
            self._engine, self._engine_pid = None, 0


class _PooledConnections:
    """What the two storages below add to Dagster's: `connect` through a `PooledEngine`, and a `base_dir`
    that may be left out (then `FOLDER` in the instance's folder, known once the instance registers)."""

    FOLDER = ""

    def __init__(self, conn_string: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._pool = PooledEngine(conn_string) if conn_string else None
        super().__init__(conn_string or "", inst_data)

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        if config_value.get("base_dir"):
            return cls.from_local(inst_data=inst_data, **config_value)
        return cls(None, inst_data)

    def register_instance(self, instance) -> None:
        if self._pool is None:
            made = self.from_local(os.path.join(instance.root_directory, self.FOLDER), inst_data=self._inst_data)
            self._conn_string, self._pool = made._conn_string, made._pool
        super().register_instance(instance)

    @contextmanager
    def connect(self) -> Iterator[sqlalchemy.Connection]:
        with self._pool.transaction() as conn:
            yield conn

    def dispose(self) -> None:
        if self._pool is not None:
            self._pool.dispose()
        super().dispose()


class PooledSqliteRunStorage(_PooledConnections, SqliteRunStorage):
    """`SqliteRunStorage` with pooled connections, one engine per process.

    Config: `base_dir`, optional (default: `history` in the instance's folder, Dagster's default).
    """

    FOLDER = "history"


class PooledSqliteScheduleStorage(_PooledConnections, SqliteScheduleStorage):
    """`SqliteScheduleStorage` (sensor and schedule ticks, cursors) with pooled connections, one engine per process.

    Config: `base_dir`, optional (default: `schedules` in the instance's folder, Dagster's default).
    """

    FOLDER = "schedules"
