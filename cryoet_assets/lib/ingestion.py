"""Finding, loading and planning the ingestion configs kept in a configs bucket."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryoet_assets.lib.config.loader import ConfigError, ConfigIssue, load_config
from cryoet_assets.lib.config.rules import config_issues
from cryoet_assets.lib.family import RunContributor
from cryoet_assets.lib.plan import ConfigProvenance, DatasetPlan, PlanError, Planner
from cryoet_assets.lib.storage import Bucket, ObjectInfo

CONFIG_SUFFIXES = (".yaml", ".yml")
SKIPPED_WORDS = ("draft", "template")


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config, its provenance, its content as a plain dict and its warnings (one line each)."""

    provenance: ConfigProvenance
    data: dict[str, Any]
    warnings: tuple[str, ...] = ()

    def planner(self, *, deposit: Bucket, output: Bucket, contributors: Sequence[RunContributor]) -> Planner:
        """A Planner of this config; `contributors` as for `Planner` (none needed to list dataset ids)."""
        return Planner(
            self.data, provenance=self.provenance, deposit=deposit, output=output, contributors=contributors
        )


def config_objects(bucket: Bucket) -> list[ObjectInfo]:
    """The ingestion configs in a configs bucket, skipping drafts and templates as the portal does."""
    found = []
    for info in bucket.list(""):
        name = info.key.rsplit("/", 1)[-1]
        if name.endswith(CONFIG_SUFFIXES) and not any(word in name for word in SKIPPED_WORDS):
            found.append(info)
    return sorted(found, key=lambda info: info.key)


def load_config_object(bucket: Bucket, key: str) -> LoadedConfig:
    """Load and validate one config; raises ConfigError listing every error with file and YAML path.

    Warnings (rules with no portal source, facts §1.7) never refuse a config; they are kept, as
    `validate-config` prints them, for the curator to see at ingest.
    """
    data = bucket.read_bytes(key)
    source = bucket.uri(key)
    found: list[ConfigIssue] = []
    config = load_config(data, source=source, warnings=found)
    found += config_issues(config, source=source)
    errors = [issue for issue in found if issue.is_error]
    if errors:
        raise ConfigError(errors)
    return LoadedConfig(
        provenance=ConfigProvenance(path=source, sha256=hashlib.sha256(data).hexdigest()),
        data=config.model_dump(mode="json", by_alias=True, exclude_unset=True),
        warnings=tuple(str(issue) for issue in found),
    )


def find_dataset_config(dataset_id: str, *, configs: Bucket, deposit: Bucket, output: Bucket) -> LoadedConfig:
    """The one valid config that names `dataset_id`; the error lists broken configs that might have."""
    owners: list[LoadedConfig] = []
    broken: list[str] = []
    for info in config_objects(configs):
        try:
            loaded = load_config_object(configs, info.key)
            names = loaded.planner(deposit=deposit, output=output, contributors=()).dataset_ids()
        except (ConfigError, PlanError, ValueError) as exc:
            broken.append(str(exc).replace("\n", "\n    "))
            continue
        if dataset_id in names:
            owners.append(loaded)
    if len(owners) > 1:
        names = ", ".join(loaded.provenance.path for loaded in owners)
        raise PlanError(f"dataset {dataset_id} is named by several configs ({names}); keep one per dataset")
    if not owners:
        detail = "".join(f"\n  invalid config:\n    {text}" for text in broken)
        raise PlanError(f"no valid ingestion config in {configs.uri('')} names dataset {dataset_id}{detail}")
    return owners[0]


def deposition_plans(staging: Bucket, deposition_id: int) -> list[DatasetPlan]:
    """Materialized plans that name a deposition, its home dataset's plan first."""
    from cryoet_assets.lib.documents import stored_values

    plans = []
    for value in stored_values(staging, "ingestion_plan"):
        plan = DatasetPlan.model_validate(value)
        if any(dep.id == deposition_id for dep in plan.depositions):
            plans.append(plan)
    return sorted(plans, key=lambda plan: (plan.deposition_id != deposition_id, plan.dataset_id))
