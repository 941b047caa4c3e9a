"""Databases for the db tests: a migrated SQLite file and a throwaway Postgres database on 127.0.0.1:5432."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from cryoet_assets.lib.db import make_engine, migrate
from cryoet_assets.lib.db.models import Base

POSTGRES_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated Postgres database for this test session, dropped at the end."""
    name = f"cryoet_assets_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"the db tests need PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth): {exc}")
    url = f"{POSTGRES_SERVER}/{name}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database migrated to head, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'portal.db'}"
        migrate.upgrade(url)
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
