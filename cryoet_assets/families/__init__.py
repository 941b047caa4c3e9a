"""The registry of entity families: adding a family is its folder under `families/` plus one line here.

Plain Python (no Dagster): `definitions.py` imports each family's `defs` module and `defs/jobs.py` builds one
job per partition level from it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from cryoet_assets.families import dataset, deposition, run, tomogram
from cryoet_assets.lib.family import Family, Level, RunContributor

if TYPE_CHECKING:
    from sqlalchemy import MetaData

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
