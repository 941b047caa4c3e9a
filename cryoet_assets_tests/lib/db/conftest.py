"""Databases for the db tests: a migrated SQLite file and a throwaway Postgres database on 127.0.0.1:5432."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from cryoet_assets.families import migration_locations, table_metadata
from cryoet_assets.lib.db import make_engine, migrate
from cryoet_assets.lib.db.models import Base

# The db tests sync rows by table name: load every family's table models onto Base.metadata.
table_metadata()


@pytest.fixture(scope="session")
def postgres_url(postgres_database) -> str:
    """A fresh, migrated Postgres database for this test session, dropped at the end."""
    url = postgres_database()
    migrate.upgrade(url, version_locations=migration_locations())
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database migrated to head, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'portal.db'}"
        migrate.upgrade(url, version_locations=migration_locations())
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on `db_url`, made the way the database IO manager makes it."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()
