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


def test_a_check_waits_for_a_deposition_document_then_reports_it_missing(tmp_path):
    from cryoet_assets.defs.parents import published_depositions
    from cryoet_assets.defs.resources import PortalStorage
    from cryoet_assets.lib.paths import deposition_metadata_path

    storage = PortalStorage(configs_url=str(tmp_path / "configs"), deposit_url=str(tmp_path / "deposit"),
                            staging_url=str(tmp_path / "staging"), production_url=str(tmp_path / "production"))
    database = PortalDatabase(staging_url=f"sqlite:///{tmp_path / 'portal.db'}",
                              production_url=f"sqlite:///{tmp_path / 'production.db'}", parent_wait_retries=3)
    (tmp_path / "staging" / deposition_metadata_path(10999)).parent.mkdir(parents=True)
    (tmp_path / "staging" / deposition_metadata_path(10999)).write_text("{}")

    waits = []
    for attempt in range(3):
        with pytest.raises(dg.RetryRequested) as raised:
            published_depositions(storage, database, [10999, 10998, None], attempt=attempt)
        waits.append(raised.value.seconds_to_wait)
        assert "deposition 10998 has no published metadata in staging yet" in str(raised.value.__cause__)
    assert waits == [1.0, 2.0, 4.0]
    # Its retries spent, the check goes on and reports the deposition as missing.
    assert published_depositions(storage, database, [10999, 10998], attempt=3) == {10999: True, 10998: False}
    assert published_depositions(storage, database, [10999], attempt=0) == {10999: True}
