"""The ingestion plan: a config's finders resolved against the deposit into depositions, datasets and runs.

The containers (deposition, dataset, run, voxel spacing) are resolved here; the content of a run (tomograms,
...) comes from the run contributors of the families, passed in by the caller.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from cryoet_assets.lib.config.models import ENTITY_SECTIONS
from cryoet_assets.lib.config.templates import (
    TemplateError,
    expand_metadata,
    parse_run_map,
    parse_two_column_map,
)
from cryoet_assets.lib.finders import FinderContext, FinderError, Found, resolve_sources
from cryoet_assets.lib.family import RunContributor
from cryoet_assets.lib.keys import acquisition_run_key, check_name
from cryoet_assets.lib.paths import dataset_dir, deposition_dir, run_dir, voxel_spacing_name
from cryoet_assets.lib.mrc_header import header_voxel_size
from cryoet_assets.lib.storage import Bucket, UnsafePathError

KEY_PHOTO_NAMES = ("snapshot", "thumbnail")
# The config sections the planner reads. `key_images` is not one: key images are generated from each
# tomogram, and the images a config's `key_images` sources name are not read.
INGESTED_SECTIONS = frozenset({
    "depositions", "deposition_keyphotos", "datasets", "dataset_keyphotos", "runs", "voxel_spacings", "tomograms",
})
MAPPED_NAME_FILES = {
    "run_to_tomo_map_csv": "mapped_tomo_name",
    "run_to_frame_map_csv": "mapped_frame_name",
    "run_to_ts_map_csv": "mapped_ts_name",
}


class PlanError(ValueError):
    """A config that cannot be resolved against its deposit."""


class ConfigProvenance(BaseModel):
    """Which config file a plan came from."""

    path: str
    sha256: str


class DepositionPlan(BaseModel):
    id: int
    metadata: dict[str, Any] = Field(default_factory=dict)
    key_photos: dict[str, str | None] = Field(default_factory=dict)


class RunPlan(BaseModel):
    name: str
    partition_key: str
    source_path: str | None
    variables: dict[str, Any] = Field(default_factory=dict)
    voxel_spacings: list[float] = Field(default_factory=list)
    # What each content family found for the run (e.g. entities["tomogram"]), as its plan models' JSON.
    entities: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    source_file_count: int = 0
    content_version: str = ""


class DatasetPlan(BaseModel):
    """Everything the dataset- and run-level assets of one dataset need, resolved once."""

    dataset_id: str
    deposition_id: int
    config: ConfigProvenance
    source_path: str | None
    metadata: dict[str, Any] = Field(default_factory=dict)
    key_photos: dict[str, str | None] = Field(default_factory=dict)
    depositions: list[DepositionPlan] = Field(default_factory=list)
    runs: list[RunPlan] = Field(default_factory=list)
    not_ingested: dict[str, int] = Field(default_factory=dict)
    version: str = ""

    def run(self, run_name: str) -> RunPlan:
        """The run called `run_name`, or a PlanError naming the dataset."""
        for run in self.runs:
            if run.name == run_name:
                return run
        raise PlanError(f"dataset {self.dataset_id} has no run {run_name!r} in its plan ({self.config.path})")


def digest(value: Any) -> str:
    """Stable short hash of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def entity_variables(kind: str, found: Found, *, output_path: str) -> dict[str, Any]:
    """Template variables an entity gives its children (facts §1.3)."""
    variables: dict[str, Any] = {
        f"{kind}_name": found.name,
        f"{kind}_path": found.path or "",
        f"{kind}_output_path": output_path,
    }
    try:
        variables[f"int_{kind}_name"] = int(found.name)
    except ValueError:
        pass
    return variables


class Planner:
    """Resolves one parsed config (as a plain dict) against a deposit bucket and the staging bucket."""

    def __init__(
        self,
        config: dict[str, Any],
        *,
        provenance: ConfigProvenance,
        deposit: Bucket,
        output: Bucket,
        contributors: Sequence[RunContributor],
    ):
        """`contributors` are the content families' run-level plan contributors (the registry's
        `run_contributors()`); each one's entities land in `RunPlan.entities[contributor.name]`."""
        self.config = config
        self.contributors = tuple(contributors)
        self.provenance = provenance
        self.deposit = deposit
        self.output = output
        standardization = config["standardization_config"]
        self.deposition_id = int(standardization["deposition_id"])
        self.source_prefix = str(standardization["source_prefix"]).strip("/")
        self._run_data: dict[str, dict[str, str]] | None = None
        self._mapped: dict[str, dict[str, str]] | None = None

    def context(self, *, variables: dict[str, Any], parents: dict[str, str], field: str) -> FinderContext:
        return FinderContext(
            deposit=self.deposit,
            source_prefix=self.source_prefix,
            output=self.output,
            variables={"output_path": "", **variables},
            parents=parents,
            field=field,
        )

    def sources(self, sources: list[Any], *, context: FinderContext) -> list[Found]:
        """resolve_sources, with finder errors prefixed by the config file they come from."""
        try:
            return resolve_sources(sources, context=context)
        except (FinderError, UnsafePathError, TemplateError) as exc:
            raise PlanError(f"{self.provenance.path}: {exc}") from exc

    def _resolve(self, section: str, *, variables: dict[str, Any], parents: dict[str, str]) -> list[tuple[int, Found]]:
        found: list[tuple[int, Found]] = []
        for index, entity in enumerate(self.config.get(section) or []):
            context = self.context(variables=variables, parents=parents, field=f"{section}[{index}].sources")
            found.extend((index, item) for item in self.sources(entity.get("sources") or [], context=context))
        return found

    def depositions(self) -> list[tuple[DepositionPlan, dict[str, Any]]]:
        plans = []
        for index, found in self._resolve("depositions", variables={}, parents={}):
            dep_id = int(check_name(found.name, what="deposition id"))
            variables = entity_variables("deposition", found, output_path=deposition_dir(dep_id))
            variables["deposition_id"] = dep_id
            metadata = (self.config["depositions"][index].get("metadata") or {})
            photos = self._key_photos("deposition_keyphotos", variables=variables, parents={"deposition": str(dep_id)})
            plans.append((DepositionPlan(id=dep_id, metadata=metadata, key_photos=photos), variables))
        if not plans:
            raise PlanError(f"{self.provenance.path}: depositions: the finders found no deposition")
        return plans

    def datasets(self) -> list[tuple[int, Found, dict[str, Any], DepositionPlan]]:
        """Every dataset the config names, with the deposition it hangs under."""
        out = []
        for deposition, dep_vars in self.depositions():
            for index, found in self._resolve(
                "datasets", variables=dep_vars, parents={"deposition": str(deposition.id)}
            ):
                dataset_id = check_name(found.name, what="dataset id")
                variables = {**dep_vars, **entity_variables("dataset", found, output_path=dataset_dir(dataset_id))}
                out.append((index, found, variables, deposition))
        return out

    def dataset_ids(self) -> list[str]:
        return sorted({found.name for _, found, _, _ in self.datasets()})

    def plan(self, dataset_id: str) -> DatasetPlan:
        """Resolve the dataset `dataset_id`: its metadata, key photos, depositions and runs."""
        matches = [item for item in self.datasets() if item[1].name == dataset_id]
        if not matches:
            raise PlanError(f"{self.provenance.path}: datasets: no dataset {dataset_id!r} is found by this config")
        index, found, variables, deposition = matches[0]
        parents = {"deposition": str(deposition.id), "dataset": dataset_id}
        runs = self._runs(dataset_id, variables=variables, parents=parents)
        plan = DatasetPlan(
            dataset_id=dataset_id,
            deposition_id=deposition.id,
            config=self.provenance,
            source_path=found.path,
            metadata=self.config["datasets"][index].get("metadata") or {},
            key_photos=self._key_photos("dataset_keyphotos", variables=variables, parents=parents),
            depositions=[dep for dep, _ in self.depositions()],
            runs=runs,
            not_ingested=not_ingested_sections(self.config),
        )
        plan.version = digest(plan.model_dump(exclude={"version"}))
        return plan

    def _key_photos(self, section: str, *, variables: dict[str, Any], parents: dict[str, str]) -> dict[str, str | None]:
        photos: dict[str, str | None] = {name: None for name in KEY_PHOTO_NAMES}
        for _, found in self._resolve(section, variables=variables, parents=parents):
            if found.name not in photos:
                raise PlanError(
                    f"{self.provenance.path}: {section}: unknown key photo {found.name!r} "
                    f"(expected one of {', '.join(KEY_PHOTO_NAMES)})"
                )
            photos[found.name] = found.path
        return photos

    def _runs(self, dataset_id: str, *, variables: dict[str, Any], parents: dict[str, str]) -> list[RunPlan]:
        runs: list[RunPlan] = []
        seen: set[str] = set()
        for _, found in self._resolve("runs", variables=variables, parents=parents):
            if found.name in seen:
                continue
            seen.add(found.name)
            run_name = check_name(found.name, what="run name")
            run_vars = {
                **variables,
                **entity_variables("run", found, output_path=run_dir(dataset_id, run_name)),
                **self.run_data(run_name),
                **self.mapped_names(run_name),
            }
            run_parents = {**parents, "run": run_name}
            spacings = self._voxel_spacings(run_name, variables=run_vars, parents=run_parents)
            listing = self.listing(found.path)
            run = RunPlan(
                name=run_name,
                partition_key=acquisition_run_key(dataset_id, run_name),
                source_path=found.path,
                variables=_json_safe(run_vars),
                voxel_spacings=spacings,
                entities={
                    contributor.name: [
                        entity.model_dump()
                        for entity in contributor.resolve(
                            self,
                            dataset_id=dataset_id,
                            run_name=run_name,
                            spacings=spacings,
                            variables=run_vars,
                            parents=run_parents,
                        )
                    ]
                    for contributor in self.contributors
                },
                source_file_count=len(listing),
            )
            run.content_version = digest([run.model_dump(exclude={"content_version"}), listing, self.provenance.sha256])
            runs.append(run)
        if not runs:
            raise PlanError(
                f"{self.provenance.path}: runs: the finders found no acquisition run for dataset {dataset_id} "
                f"under {self.deposit.uri(self.source_prefix)}"
            )
        return runs

    def _voxel_spacings(self, run_name: str, *, variables: dict[str, Any], parents: dict[str, str]) -> list[float]:
        values: list[float] = []
        for index, entity in enumerate(self.config.get("voxel_spacings") or []):
            field = f"voxel_spacings[{index}].sources"
            context = self.context(variables=variables, parents=parents, field=field)
            for source in entity.get("sources") or []:
                for raw in self._spacing_values(source, run_name=run_name, context=context, field=field):
                    try:
                        value = round(float(raw), 3)
                    except (TypeError, ValueError):
                        raise PlanError(
                            f"{self.provenance.path}: {field}: voxel spacing {raw!r} of run {run_name} "
                            "is not a number"
                        ) from None
                    if value not in values:
                        values.append(value)
        return sorted(values)

    def _spacing_values(self, source: dict[str, Any], *, run_name: str, context: FinderContext, field: str):
        """Raw voxel spacings of one source: names found by its finder, or MRC header voxel sizes."""
        if header := source.get("tomogram_header"):
            # The files to read are found like a source_glob; the spacing comes from each file's header.
            as_glob = {**source, "source_glob": {k: v for k, v in header.items() if k != "header_key"}}
            del as_glob["tomogram_header"]
            found = self.sources([as_glob], context=context)
            try:
                return [header_voxel_size(self.deposit, item.path) for item in found if item.path]
            except (OSError, ValueError) as exc:
                raise PlanError(f"{self.provenance.path}: {field}.tomogram_header: {exc}") from exc
        found = self.sources([source], context=context)
        try:
            return [expand_metadata(item.name, self.run_data(run_name), field=field) for item in found]
        except TemplateError as exc:
            raise PlanError(f"{self.provenance.path}: {exc}") from exc

    def listing(self, path: str | None) -> list[tuple[str, str]]:
        """(key, etag) of the run's source: every object under its folder, or the file itself."""
        if not path:
            return []
        listing = [(info.key, info.etag) for info in self.deposit.list(path)]
        if not listing and (info := self.deposit.info(path)):
            listing.append((info.key, info.etag))
        return listing

    def _map_text(self, name: str) -> str:
        key = f"{self.source_prefix}/{name}" if self.source_prefix else name
        try:
            return self.deposit.read_text(key)
        except FileNotFoundError:
            raise PlanError(
                f"{self.provenance.path}: standardization_config: map file {self.deposit.uri(key)} does not exist"
            ) from None

    def run_data(self, run_name: str) -> dict[str, str]:
        if self._run_data is None:
            name = self.config["standardization_config"].get("run_data_map_file")
            self._run_data = parse_run_map(self._map_text(name), filename=name) if name else {}
        return dict(self._run_data.get(run_name, {}))

    def mapped_names(self, run_name: str) -> dict[str, str]:
        if self._mapped is None:
            self._mapped = {}
            standardization = self.config["standardization_config"]
            for option, variable in MAPPED_NAME_FILES.items():
                if name := standardization.get(option):
                    self._mapped[variable] = parse_two_column_map(self._map_text(name), filename=name)
        return {variable: mapping[run_name] for variable, mapping in self._mapped.items() if run_name in mapping}


def not_ingested_sections(config: dict[str, Any]) -> dict[str, int]:
    """Entity sections of `config` that this project does not ingest yet, with how many sources each has.

    `config` is the config as plain data (YAML keys). Sections are those of the config schema's `Container`
    (facts §1.1); a section with no entry is left out. The order is the schema's.
    """
    counts = {}
    for section in ENTITY_SECTIONS:
        entries = config.get(section) or []
        if section not in INGESTED_SECTIONS and entries:
            counts[section] = sum(len(entry.get("sources") or []) for entry in entries)
    return counts


def describe_not_ingested(counts: dict[str, int]) -> str:
    """`tiltseries (1 source), frames (2 sources)`, or `none`."""
    if not counts:
        return "none"
    return ", ".join(f"{section} ({n} source{'' if n == 1 else 's'})" for section, n in counts.items())


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
            for key, value in values.items()}


def spacing_names(plan: RunPlan) -> list[str]:
    return [voxel_spacing_name(value) for value in plan.voxel_spacings]
