"""Waiting for a parent row that another partition loads."""

import dagster as dg

from cryoet_assets.defs.resources import PortalDatabase


def require_parent(database: PortalDatabase, table: str, key: dict, *, attempt: int = 0) -> None:
    """Wait (by retrying the step) until the parent row exists: its partition may still be loading.

    `attempt` is the step's retry number: the waits double from 1 s up to `parent_wait_seconds`, so a parent
    that lands a moment later (runs of one dataset launched together) costs about a second, not a full wait.
    """
    from cryoet_assets.lib.db.sync import row_exists

    if not row_exists(database.staging(), table, key):
        error = LookupError(
            f"{table} {key} has no row in the staging database yet: its partition has not been loaded "
            "or its checks failed"
        )
        raise dg.RetryRequested(
            max_retries=database.parent_wait_retries,
            seconds_to_wait=min(database.parent_wait_seconds, 2.0 ** attempt),
        ) from error
