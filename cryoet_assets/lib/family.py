"""What an entity family declares about itself; the registry in `cryoet_assets.families` lists them.

Plain Python: a family's Dagster objects live in its own `defs.py`, never here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Level = Literal["deposition", "dataset", "acquisition_run"]


@dataclass(frozen=True)
class Family:
    """One entity family: its name (= its folder under `families/`), partition level, parents and group.

    `parents` are the families whose modules this family's modules may import (run depends on dataset, ...);
    `group` is the Dagster asset group of its assets, selected by the job of its `level`; `models` names the
    module (relative to the family's package) holding its table models, or None if it has no tables; `plan`
    names the module whose `CONTRIBUTOR` (a `RunContributor`) adds the family's entities to each run's plan;
    `rollup_asset` names a run-level asset that every run of a dataset must have materialized before the
    dataset is published again with what its runs give (key photo fallback, file size, run list).
    """

    name: str
    level: Level
    group: str
    parents: tuple[str, ...] = ()
    models: str | None = "models"
    plan: str | None = None
    rollup_asset: str | None = None


class RunContributor(Protocol):
    """A content family's share of a run's plan: the config sources it resolves, per voxel spacing.

    `resolve` gets the `Planner` (its finder context, sources, run data and listings), the run's voxel spacings
    (Å), template variables and parent names, and returns the family's entities as pydantic models; the
    planner stores their JSON under `RunPlan.entities[name]`. Raises PlanError naming the config and field.
    """

    name: str

    def resolve(
        self,
        planner: Any,
        *,
        dataset_id: str,
        run_name: str,
        spacings: list[float],
        variables: Mapping[str, Any],
        parents: Mapping[str, str],
    ) -> list[Any]: ...
