"""Dagster's Postgres event log, with an asset's last materialization only ever replaced by a later one.

The same guard as `cryoet_assets.event_log`'s, for the deployment (`deploy/dagster.yaml`): Dagster stores an
event and then upserts its asset's row in a second transaction, so of two runs materializing partitions of one
asset at once, the earlier event's upsert could land last, and a run reading the row as its inputs'
provenance then showed its partition's downstream assets as unsynced in the UI. Everything else, and the
tables, are `dagster_postgres.PostgresEventLogStorage`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy
from dagster._core.storage.event_log.migration import ASSET_KEY_INDEX_COLS
from dagster._core.storage.event_log.schema import AssetKeyTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from sqlalchemy.dialects import postgresql

from cryoet_assets.event_log import guarded_asset_key


class GuardedPostgresEventLogStorage(PostgresEventLogStorage):
    """`PostgresEventLogStorage` whose asset rows keep their latest materialization. Config: Dagster's
    `postgres_url` or `postgres_db` (as the `storage: postgres:` block takes them)."""

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> GuardedPostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def _store_asset_event(self, conn, event, event_id: int) -> None:
        key = guarded_asset_key(event)
        if key is None:
            super()._store_asset_event(conn, event, event_id)
            return
        values = self._get_asset_entry_values(event, event_id, self.has_secondary_index(ASSET_KEY_INDEX_COLS))
        stored = sqlalchemy.cast(
            sqlalchemy.cast(AssetKeyTable.c.last_materialization, postgresql.JSONB)["storage_id"].astext,
            sqlalchemy.BigInteger,
        )
        conn.execute(
            postgresql.insert(AssetKeyTable)
            .values(asset_key=key, **values)
            .on_conflict_do_update(
                index_elements=[AssetKeyTable.c.asset_key],
                set_=values,
                where=sqlalchemy.or_(AssetKeyTable.c.last_materialization.is_(None), stored < event_id),
            )
        )
