from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from cryoet_assets.families import migration_locations
from cryoet_assets.lib.db import make_engine, migrate
from cryoet_assets.lib.db.models import Base

PORTAL_TABLES = {
    "deposition",
    "deposition_author",
    "deposition_type",
    "dataset",
    "dataset_author",
    "dataset_funding",
    "run",
    "tomogram_voxel_spacing",
    "tomogram",
    "tomogram_author",
}


def _diffs(engine: Engine, metadata: sa.MetaData) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def test_migrated_schema_equals_models(engine: Engine) -> None:
    assert _diffs(engine, Base.metadata) == []
    assert set(sa.inspect(engine).get_table_names()) >= PORTAL_TABLES


def test_comparison_sees_a_difference(engine: Engine) -> None:
    # Guards the parity test: a model that drifts from the migration must be reported.
    drifted = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["run"].append_column(sa.Column("extra", sa.String(), nullable=True))
    diffs = _diffs(engine, drifted)
    assert [d[0] for d in diffs] == ["add_column"]
    assert diffs[0][3].name == "extra"


def test_foreign_keys_cascade_to_parents(engine: Engine) -> None:
    inspector = sa.inspect(engine)
    expected = {
        ("deposition_author", "deposition_id", "deposition"),
        ("deposition_type", "deposition_id", "deposition"),
        ("dataset", "deposition_id", "deposition"),
        ("dataset_author", "dataset_id", "dataset"),
        ("dataset_funding", "dataset_id", "dataset"),
        ("run", "dataset_id", "dataset"),
        ("tomogram_voxel_spacing", "run_id", "run"),
        ("tomogram", "deposition_id", "deposition"),
        ("tomogram", "run_id", "run"),
        ("tomogram", "tomogram_voxel_spacing_id", "tomogram_voxel_spacing"),
        ("tomogram_author", "tomogram_id", "tomogram"),
    }
    found = set()
    for table in {table for table, _, _ in expected}:
        for fk in inspector.get_foreign_keys(table):
            (column,) = fk["constrained_columns"]
            assert fk["referred_columns"] == ["id"]
            assert fk["options"].get("ondelete") == "CASCADE", (table, column)
            found.add((table, column, fk["referred_table"]))
    assert found == expected


def test_upgrade_again_is_a_no_op_at_head(db_url: str) -> None:
    heads = migrate.head_revisions(migration_locations())
    assert heads == ("0002_tomograms",)
    assert migrate.current_revisions(db_url) == heads
    migrate.upgrade(db_url, version_locations=migration_locations())
    assert migrate.current_revisions(db_url) == heads


def test_each_family_keeps_its_revisions_in_its_folder_branching_from_the_core() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config(version_locations=migration_locations()))
    tomograms = scripts.get_revision("0002_tomograms")
    assert Path(tomograms.path).parent.parts[-3:] == ("families", "tomogram", "migrations")
    assert tomograms.down_revision == "0001_portal_core"
    assert Path(scripts.get_revision("0001_portal_core").path).parent == migrate.CORE_VERSIONS_DIR
    # Without the families' folders only the core revision is known.
    assert migrate.head_revisions() == ("0001_portal_core",)


def test_upgrade_needs_no_ini_and_no_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = migrate.alembic_config()
    assert config.config_file_name is None
    assert Path(config.get_main_option("script_location")) == migrate.MIGRATIONS_DIR
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert migrate.current_revisions(url) == ()
    migrate.upgrade(url, version_locations=migration_locations())
    engine = make_engine(url)
    try:
        assert _diffs(engine, Base.metadata) == []
    finally:
        engine.dispose()
    assert list(elsewhere.iterdir()) == []


def _upgrade_in_a_process(url: str) -> None:
    migrate.upgrade(url, version_locations=migration_locations())


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def test_processes_upgrading_a_new_database_at_once_all_succeed(backend, tmp_path, postgres_database) -> None:
    """The daemon launches a dataset's runs together: each upgrades the portal database it writes first."""
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'portal.db'}" if backend == "sqlite" else postgres_database()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_upgrade_in_a_process, args=(url,)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    assert migrate.current_revisions(url) == migrate.head_revisions(migration_locations())
