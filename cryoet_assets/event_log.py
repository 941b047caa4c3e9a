"""Dagster's consolidated SQLite event log with its connections kept open.

`ConsolidatedSqliteEventLogStorage` opens a new SQLite connection, through a new SQLAlchemy engine, for every
event it stores and every query it answers, and asks SQLite whether a table exists before each query of
dynamic partitions or asset checks. A run of an acquisition-run partition makes about a hundred of those calls
(its events, and Dagster checking that the partition exists as each step starts and loads its inputs), each
1.5-3 ms of CPU. This storage keeps one engine per process whose pool holds the connections open, and
remembers the tables it has seen; what it stores and how it is laid out on disk are Dagster's own.

Its connections are those of `cryoet_assets.sqlite_storage.PooledEngine`: they commit with
`PRAGMA synchronous=NORMAL` when the file is in WAL mode, as Dagster creates it (see that module).

Without `base_dir` the file is `history/runs/event_log.db` in the instance's folder, the folder Dagster's
default event log uses, so that the repository's root dagster.yaml can name this storage whatever the
instance's folder is ($DAGSTER_HOME, or the temporary one `dagster dev` makes without it).

A process forked from one that used the storage (the `ingest` workers, the run launcher's run workers) makes
its own engine on first use; the parent's connections are left alone in the child, never used or closed there.

An asset's last materialization (its `asset_keys` row) is only ever replaced by a later one. Dagster stores an
event and updates that row in two transactions, so of two runs materializing partitions of one asset at once,
the one whose event came first could update the row last. A run that then read the row as its inputs'
provenance (Dagster records the asset-wide last materialization there) recorded a materialization older than
its own partition's, and the UI showed that partition's downstream asset as unsynced ("has a new dependency
materialization") though nothing had changed: about one ingest in 25 with two runs side by side.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import sqlalchemy
from dagster import Field, StringSource
from dagster._core.storage.event_log.schema import AssetKeyTable
from dagster._core.storage.event_log.sqlite.consolidated_sqlite_event_log import (
    ConsolidatedSqliteEventLogStorage,
)
from dagster._serdes import ConfigurableClassData

from cryoet_assets.sqlite_storage import PooledEngine


class PooledSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """`ConsolidatedSqliteEventLogStorage` with pooled connections, one engine per process.

    Config: `base_dir`, optional (default: `history/runs` in the instance's folder).
    """

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._pool: PooledEngine | None = None
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

    @property
    def _engines(self) -> PooledEngine:
        if self._pool is None:
            self._pool = PooledEngine(self._conn_string)
        return self._pool

    @contextmanager
    def _connect(self):
        with self._engines.transaction() as conn:
            yield conn

    def has_table(self, table_name: str) -> bool:
        # Tables are added by migrations, never dropped while the instance is open: a table seen stays.
        if table_name in self._tables:
            return True
        engine = self._engines.get()
        with engine.connect() as conn:
            exists = bool(engine.dialect.has_table(conn, table_name))
        if exists:
            self._tables.add(table_name)
        return exists

    def _store_asset_event(self, conn, event, event_id: int) -> None:
        key = guarded_asset_key(event)
        if key is None:
            super()._store_asset_event(conn, event, event_id)
            return
        values = self._get_asset_entry_values(event, event_id, self._has_asset_key_index_cols_on_connection(conn))
        try:
            conn.execute(AssetKeyTable.insert().values(asset_key=key, **values))
        except sqlalchemy.exc.IntegrityError:
            # One statement, so that SQLite's write lock makes the comparison and the update one step.
            stored = sqlalchemy.func.json_extract(AssetKeyTable.c.last_materialization, "$.storage_id")
            conn.execute(
                AssetKeyTable.update()
                .values(**values)
                .where(AssetKeyTable.c.asset_key == key,
                       sqlalchemy.or_(AssetKeyTable.c.last_materialization.is_(None), stored < event_id))
            )

    def dispose(self):
        if self._pool is not None:
            self._pool.dispose()
        if hasattr(self, "_base_dir"):
            super().dispose()


def guarded_asset_key(event) -> str | None:
    """The stored asset key of a step materialization, whose `asset_keys` row only a later materialization may
    replace (see the module's docstring); None for any other event, whose row Dagster updates as it does."""
    dagster_event = event.dagster_event
    if dagster_event and dagster_event.asset_key and dagster_event.is_step_materialization:
        return dagster_event.asset_key.to_string()
    return None
