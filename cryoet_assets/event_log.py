"""Dagster's consolidated SQLite event log with its connections kept open.

`ConsolidatedSqliteEventLogStorage` opens a new SQLite connection, through a new SQLAlchemy engine, for every
event it stores and every query it answers, and asks SQLite whether a table exists before each query of
dynamic partitions or asset checks. A run of an acquisition-run partition makes about a hundred of those calls
(its events, and Dagster checking that the partition exists as each step starts and loads its inputs), each
1.5-3 ms of CPU. This storage keeps one engine per process whose pool holds the connections open, and
remembers the tables it has seen; what it stores and how it is laid out on disk are Dagster's own.

A process forked from one that used the storage (the `ingest` workers, the run launcher's run workers) makes
its own engine on first use; the parent's connections are left alone in the child, never used or closed there.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any

import sqlalchemy
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
    ConsolidatedSqliteEventLogStorage,
)
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

# Connections a forked child inherited from its parent: kept referenced so that the child never closes them.
_INHERITED: list[Any] = []


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """`ConsolidatedSqliteEventLogStorage` (config: `base_dir`) with pooled connections, one engine per process."""

    def __init__(self, base_dir, inst_data=None):
        self._engine_lock = threading.Lock()
        self._engine = None
        self._engine_pid = 0
        self._tables: set[str] = set()
        super().__init__(base_dir, inst_data=inst_data)

    def _pooled_engine(self):
        with self._engine_lock:
            if self._engine_pid != os.getpid():
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
                self._engine_pid = os.getpid()
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
        super().dispose()
