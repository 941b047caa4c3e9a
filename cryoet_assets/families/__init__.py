"""The registry of entity families: adding a family is its folder under `families/` plus one line here.

Plain Python (no Dagster): `definitions.py` imports each family's `defs` module and `defs/jobs.py` builds one
job per partition level from it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryoet_assets.families import dataset, deposition, run, tomogram
from cryoet_assets.lib.family import Family, Level, RunContributor

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from cryoet_assets.lib.promotion.rows import RowScope

FAMILIES: tuple[Family, ...] = (deposition.FAMILY, dataset.FAMILY, run.FAMILY, tomogram.FAMILY)


def family(name: str) -> Family:
    """The registered family called `name`; KeyError naming the known ones otherwise."""
    for item in FAMILIES:
        if item.name == name:
            return item
    raise KeyError(f"no family {name!r}; registered: {', '.join(f.name for f in FAMILIES)}")


def families_at(level: Level) -> tuple[Family, ...]:
    """The families whose assets are partitioned by `level`, in registry order."""
    return tuple(item for item in FAMILIES if item.level == level)


def module_name(item: Family, module: str) -> str:
    """Dotted name of `module` (e.g. "defs") inside the family's package."""
    return f"{__name__}.{item.name}.{module}"


def run_contributors() -> list[RunContributor]:
    """The families' run-level plan contributors, in registry order, for the `Planner`."""
    return [
        importlib.import_module(module_name(item, item.plan)).CONTRIBUTOR for item in FAMILIES if item.plan
    ]


def table_metadata() -> MetaData:
    """The portal's tables: every family's table models imported onto the shared declarative base."""
    from cryoet_assets.lib.db.models import Base

    for item in FAMILIES:
        if item.models:
            importlib.import_module(module_name(item, item.models))
    return Base.metadata


def migration_locations() -> list[Path]:
    """The families' Alembic revision folders (`<family>/migrations/`), for `lib.db.migrate`."""
    here = Path(__file__).parent
    return [here / item.name / "migrations" for item in FAMILIES if (here / item.name / "migrations").is_dir()]


def level_tables(level: Level) -> tuple[str, ...]:
    """Names of the tables that the table models of the families at `level` define, in registry order."""
    from cryoet_assets.lib.db.models import Base

    table_metadata()
    modules = {module_name(item, item.models) for item in families_at(level) if item.models}
    return tuple(
        mapper.local_table.name
        for mapper in sorted(Base.registry.mappers, key=lambda m: m.local_table.name)
        if mapper.class_.__module__ in modules
    )


def partition_rows(level: Level, key: str) -> RowScope:
    """The rows one partition owns in a portal database: its container's row and its families' tables.

    A deposition partition owns its `deposition` row, a dataset its `dataset` row, an acquisition run its `run`
    row; with each, the rows of the tables its level's families define that hang from it (facts §5).
    Raises ValueError for a key that is not a valid partition key of `level`.
    """
    from cryoet_assets.lib.keys import check_name, parse_acquisition_run_key
    from cryoet_assets.lib.promotion.rows import RowScope

    root: dict[str, Any]
    if level == "acquisition_run":
        dataset_id, run_name = parse_acquisition_run_key(key)
        table, root = "run", {"dataset_id": int(dataset_id), "name": run_name}
    else:
        table, root = level, {"id": int(check_name(key, what=f"{level} id"))}
    return RowScope(root_table=table, root=root, tables=level_tables(level))
