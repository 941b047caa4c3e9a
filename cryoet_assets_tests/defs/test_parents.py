"""A row whose parent row is not loaded yet makes its step retry, sooner at first, then up to the full wait."""

import dagster as dg
import pytest

from cryoet_assets.defs.parents import require_parent
from cryoet_assets.defs.resources import PortalDatabase


def test_waits_double_from_one_second_up_to_the_configured_wait(tmp_path):
    database = PortalDatabase(staging_url=f"sqlite:///{tmp_path / 'portal.db'}",
                              production_url=f"sqlite:///{tmp_path / 'production.db'}",
                              parent_wait_retries=7, parent_wait_seconds=10.0)
    waits = []
    for attempt in range(6):
        with pytest.raises(dg.RetryRequested) as raised:
            require_parent(database, "dataset", {"id": 20999}, attempt=attempt)
        waits.append(raised.value.seconds_to_wait)
        assert raised.value.max_retries == 7
        assert "dataset {'id': 20999} has no row in the staging database yet" in str(raised.value.__cause__)
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_loaded_parent_lets_the_step_go_on(tmp_path):
    from sqlalchemy import text

    database = PortalDatabase(staging_url=f"sqlite:///{tmp_path / 'portal.db'}",
                              production_url=f"sqlite:///{tmp_path / 'production.db'}")
    with database.staging().begin() as connection:
        connection.execute(text(
            "insert into deposition (id, title, description, deposition_date, release_date, last_modified_date) "
            "values (10999, 't', 'd', '2024-01-01', '2024-01-01', '2024-01-01')"))
    require_parent(database, "deposition", {"id": 10999}, attempt=3)
