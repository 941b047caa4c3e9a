"""The tomogram family's share of a run's plan: the config's `tomograms` sources per voxel spacing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from cryoet_assets.lib.config.models import Tomogram
from cryoet_assets.lib.config.templates import TemplateError, expand_metadata
from cryoet_assets.lib.paths import voxel_spacing_dir, voxel_spacing_name
from cryoet_assets.lib.plan import PlanError, Planner, RunPlan, digest


class TomogramPlan(BaseModel):
    """One tomogram source found for a run at one voxel spacing, with its templated config metadata."""

    voxel_spacing: float
    source_path: str
    config_index: int
    metadata: dict[str, Any] = Field(default_factory=dict)
    source_version: str = ""


class TomogramContributor:
    """Resolves the config's `tomograms` entries for a run, per voxel spacing (facts §1.3)."""

    name = "tomogram"

    def resolve(
        self,
        planner: Planner,
        *,
        dataset_id: str,
        run_name: str,
        spacings: list[float],
        variables: Mapping[str, Any],
        parents: Mapping[str, str],
    ) -> list[TomogramPlan]:
        """Tomogram sources per voxel spacing of the run (tomograms are the voxel spacings' children)."""
        found: list[TomogramPlan] = []
        for spacing in spacings:
            name = voxel_spacing_name(spacing)
            vs_vars = {
                **variables,
                "voxel_spacing_name": name,
                "voxel_spacing_output_path": voxel_spacing_dir(dataset_id, run_name, spacing),
            }
            vs_parents = {**parents, "voxel_spacing": name}
            for index, entity in enumerate(planner.config.get("tomograms") or []):
                field = f"tomograms[{index}]"
                context = planner.context(variables=vs_vars, parents=vs_parents, field=f"{field}.sources")
                items = [item for item in planner.sources(entity.get("sources") or [], context=context) if item.path]
                if not items:
                    continue
                try:
                    metadata = expand_metadata(
                        entity.get("metadata") or {},
                        planner.run_data(run_name),
                        field=f"{field}.metadata",
                        model=Tomogram,
                    )
                except TemplateError as exc:
                    raise PlanError(f"{planner.provenance.path}: {exc}") from exc
                for item in items:
                    found.append(
                        TomogramPlan(
                            voxel_spacing=spacing,
                            source_path=item.path,
                            config_index=index,
                            metadata=metadata,
                            source_version=digest([planner.listing(item.path), spacing, metadata]),
                        )
                    )
        return found


CONTRIBUTOR = TomogramContributor()


def run_tomograms(run: RunPlan) -> list[TomogramPlan]:
    """The tomogram sources the plan found for `run`, in plan order."""
    return [TomogramPlan.model_validate(entity) for entity in run.entities.get(CONTRIBUTOR.name, [])]
