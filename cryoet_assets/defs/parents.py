"""Waiting for a parent row that another partition loads."""

import dagster as dg

from cryoet_assets.defs.resources import PortalDatabase, PortalStorage


def require_parent(database: PortalDatabase, table: str, key: dict, *, attempt: int = 0) -> None:
    """Wait (by retrying the step) until the parent row exists: its partition may still be loading.

    `attempt` is the step's retry number: the waits double from 1 s up to `parent_wait_seconds`, so a parent
    that lands a moment later (runs of one dataset launched together) costs about a second, not a full wait.
    """
    from cryoet_assets.lib.db.sync import row_exists

    if not row_exists(database.staging(), table, key):
        raise retry_step(database, attempt) from LookupError(
            f"{table} {key} has no row in the staging database yet: its partition has not been loaded "
            "or its checks failed"
        )


def retry_step(database: PortalDatabase, attempt: int) -> dg.RetryRequested:
    """Retry the step after 1, 2, 4 … seconds, at most `parent_wait_seconds`, `parent_wait_retries` times."""
    return dg.RetryRequested(
        max_retries=database.parent_wait_retries,
        seconds_to_wait=min(database.parent_wait_seconds, 2.0 ** attempt),
    )


def published_depositions(
    storage: PortalStorage, database: PortalDatabase, deposition_ids, *, attempt: int = 0
) -> dict:
    """{deposition id: whether its `deposition_metadata.json` is in staging}, waiting for any that is not.

    Under the daemon the deposition's run starts with its datasets' and runs' (one sensor tick requests them
    all), so a check that needs its document retries, with the waits of `require_parent`, before it reports
    the deposition as missing.
    """
    from cryoet_assets.lib.paths import deposition_metadata_path

    staging = storage.staging()
    found = {dep: staging.exists(deposition_metadata_path(dep)) for dep in deposition_ids if dep is not None}
    missing = sorted(str(dep) for dep, exists in found.items() if not exists)
    if missing and attempt < database.parent_wait_retries:
        raise retry_step(database, attempt) from LookupError(
            f"deposition {', '.join(missing)} has no published metadata in staging yet"
        )
    return found
