"""Config rules beyond the schema's structure (the portal validator's offline checks) and the online hook.

`RULES` is the audit table: every rule, whether it refuses a config (ERROR) or is only reported
(WARNING), and the portal rule or schema constraint it mirrors. A rule is an ERROR only when the portal
itself refuses such a config: its validator (facts §1.7, the ingestion config JSON schema) or its
ingestion, which compiles the regexes and formats the templates of a config (facts §1.2, §1.3).
Rules with no such source are WARNINGs: they never block ingestion (the few that guard this platform,
paths and names, are enforced again where ingestion reads the bucket and builds partition keys).

Template variables (facts §1.3): a glob or `filter_value` is formatted with the variables of the
entity's ancestors (facts §2.1) and, under a run, with the columns of `run_data_map_file`. Those
columns are only known at ingest time, when the map is read from the deposit, so a name that is not
built in is an error only when it cannot be a column (no `run_data_map_file`, or not under a run);
otherwise it is accepted, with a warning when it looks like a misspelt built-in name. Metadata
templates (tomogram, tilt series and frame metadata, voxel spacing literals) are filled from the run
map alone, so they need a `run_data_map_file`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryoet_assets.lib.config.loader import (
    ERROR,
    SUPPORTED_VERSIONS,
    WARNING,
    ConfigIssue,
    YamlPath,
    format_yaml_path,
)
from cryoet_assets.lib.config.models import (
    ENTITY_SECTIONS,
    FILTER_KEYS,
    AnnotationSource,
    Author,
    IngestionConfig,
    KeyPhotoLiteral,
    SourceEntry,
)
from cryoet_assets.lib.config.templates import TemplateError, template_variables
from cryoet_assets.lib.keys import UnsafeNameError, check_name


@dataclass(frozen=True)
class Rule:
    """One offline rule: its severity and the portal rule or schema constraint it mirrors."""

    severity: str
    source: str


RULES: dict[str, Rule] = {
    # Errors: the portal refuses such a config.
    "frames-for-collection-metadata": Rule(
        ERROR, "facts §1.7 Container: collection_metadata present => frames block required"
    ),
    "one-finder": Rule(
        ERROR, "facts §1.7 Sources: exactly one finder per source entry; filters without a finder rejected"
    ),
    "dataset-literal-type": Rule(ERROR, "facts §1.7 Sources: dataset literal values must be str"),
    "deposition-literal-type": Rule(
        ERROR, "facts §1.7 Sources: deposition literal values must be int (bool rejected)"
    ),
    "one-shape": Rule(
        ERROR, "facts §1.7 Annotation sources: one shape per entry; filters without a shape rejected"
    ),
    "glob-string-or-strings": Rule(
        ERROR, "facts §1.7 Annotation sources: not both glob_string and glob_strings"
    ),
    "repeated-shape": Rule(
        ERROR, "facts §1.7 Annotation sources: same shape twice in one annotation unless parent_filters set"
    ),
    "annotation-ingest-id": Rule(
        ERROR,
        "facts §1.7: annotation_ingest_id required and unique within the file; only ids that cannot be "
        "safe names are rejected",
    ),
    "automated-ground-truth": Rule(
        ERROR, "facts §1.7 Annotation: method_type automated => ground_truth_status not true"
    ),
    "confidence-ground-truth": Rule(
        ERROR, "facts §1.7 Annotation: confidence precision/recall need ground_truth_used"
    ),
    "authors": Rule(
        ERROR, "facts §1.7 Authors: >=1 primary_author_status and >=1 corresponding_author_status"
    ),
    "dates": Rule(ERROR, "facts §1.7 Dates: deposition_date <= release_date"),
    "sample-type": Rule(ERROR, "facts §1.7 Dataset: sample_type implies tissue/cell_strain/cell_type/..."),
    "dose-rate": Rule(ERROR, "facts §1.7: frames dose_rate > 0"),
    "tilt-range": Rule(ERROR, "facts §1.7: tilt_range min <= max"),
    "regex": Rule(
        ERROR,
        "facts §1.2/§1.5: the portal's finders compile match_regex, name_regex, exclude and "
        "parent_filters regexes (re.search / re.match)",
    ),
    "template-syntax": Rule(ERROR, "facts §1.3: the portal formats globs with str.format"),
    "template-variable": Rule(
        ERROR, "facts §1.3/§2.1: glob variables are the ancestors' {type}_name/_path/_id/_output_path, ..."
    ),
    "metadata-template-column": Rule(
        ERROR, "facts §1.3: metadata templates are filled from run_data_map_file columns"
    ),
    "voxel-spacing-minimum": Rule(
        ERROR,
        "schema Tomogram.voxel_spacing minimum 0.001 (config and metadata-files schemas): every voxel "
        "spacing becomes its tomograms' voxel_spacing; facts §1.4 names its folder with 3 decimals",
    ),
    "network": Rule(
        ERROR, "facts §1.7 network checks: ORCIDs, DOIs, database entries, ontology terms, key photo URLs"
    ),
    # Warnings: reported by validate-config, never blocking.
    "collection-metadata-for-tiltseries": Rule(
        WARNING,
        "facts §1.7 Container: tiltseries => collection_metadata, unless the dataset id is in the "
        "portal's exclusions (so not an absolute rule)",
    ),
    "voxel-spacing-range": Rule(
        WARNING,
        "facts §4.2 VoxelSpacing: 1 < vs < 30 is a data-validation check after ingestion (the validation "
        "gate refuses it); the portal's config validator accepts any value",
    ),
    "template-variable-spelling": Rule(
        WARNING, "none: a name close to a built-in variable, accepted as a possible run_data_map column"
    ),
    "config-version": Rule(
        WARNING, "none: the schema's version is any string; this platform knows 1.0.0 to 1.3.0"
    ),
    "path-inside-bucket": Rule(
        WARNING,
        "none (platform policy): paths and globs relative to their bucket root; ingestion refuses to "
        "read outside it",
    ),
    "safe-name": Rule(
        WARNING,
        "none (platform policy): dataset ids and run names become partition keys and folder names; "
        "ingestion refuses unsafe ones",
    ),
    "duplicate-key": Rule(
        WARNING, "none: YAML wants unique keys, but the portal's loader keeps the last value (loader.py)"
    ),
}

# Sample types that imply a dataset metadata block (the sample's ontology term must be given).
SAMPLE_TYPE_REQUIRES = {
    "organism": "tissue",
    "organoid": "tissue",
    "tissue": "tissue",
    "cell_line": "cell_strain",
    "primary_cell_culture": "cell_type",
    "organelle": "cell_component",
    "virus": "cell_component",
}
AUTHORED_SECTIONS = ("datasets", "depositions", "tomograms", "annotations")
MAP_FILE_KEYS = (
    "source_prefix",
    "run_data_map_file",
    "run_to_frame_map_csv",
    "run_to_tomo_map_csv",
    "run_to_ts_map_csv",
)
MAPPED_NAMES = {
    "run_to_tomo_map_csv": "mapped_tomo_name",
    "run_to_frame_map_csv": "mapped_frame_name",
    "run_to_ts_map_csv": "mapped_ts_name",
}
# The portal's importer tree (facts §2.1): the ancestors whose variables a section's templates see.
_RUN = ("deposition", "dataset", "run")
SECTION_ANCESTORS: dict[str, tuple[str, ...]] = {
    "depositions": (),
    "deposition_keyphotos": ("deposition",),
    "datasets": ("deposition",),
    "dataset_keyphotos": ("deposition", "dataset"),
    "runs": ("deposition", "dataset"),
    "gains": _RUN,
    "collection_metadata": _RUN,
    "frames": _RUN,
    "tiltseries": _RUN,
    "alignments": _RUN,
    "identified_objects": _RUN,
    "voxel_spacings": _RUN,
    "ctfs": (*_RUN, "tiltseries"),
    "rawtilts": (*_RUN, "tiltseries"),
    "annotations": (*_RUN, "voxel_spacing"),
    "tomograms": (*_RUN, "voxel_spacing"),
    "key_images": (*_RUN, "voxel_spacing", "tomogram"),
}
# Importers with an identifier, which gives them a `{type}_id` variable (facts §1.3).
_IDENTIFIED = ("tomogram", "tiltseries", "alignment", "annotation")
# Sections whose metadata the portal fills from the run map (facts §1.3).
TEMPLATED_METADATA = ("tomograms", "tiltseries", "frames")
# The portal's data-validation range for voxel spacings (facts §4.2), in Å, exclusive.
VOXEL_SPACING_RANGE = (1.0, 30.0)
VOXEL_SPACING_MINIMUM = 0.001
_DOI = re.compile(r"^(doi:)?(10\.[0-9]{4,9}/\S+)$")
_DATABASE_ENTRY = re.compile(r"^(EMPIAR-[0-9]+|EMD-[0-9]+|PDB-[0-9a-zA-Z]+)$")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


def type_variables(kind: str) -> list[str]:
    """The template variables one importer type gives its descendants (facts §1.3)."""
    names = [f"{kind}_name", f"{kind}_path", f"{kind}_output_path", f"int_{kind}_name"]
    if kind in _IDENTIFIED or kind == "deposition":
        names.append(f"{kind}_id")
    return names


def known_variables(config: IngestionConfig, section: str, *, own: str | None = None) -> list[str]:
    """Built-in template variables of a glob in `section` (plus those of the entity itself, `own`).

    Run-map columns are not included: they are only known once the map is read at ingest time.
    """
    kinds = [*SECTION_ANCESTORS.get(section, ()), *([own] if own else [])]
    names = ["output_path", *(name for kind in kinds for name in type_variables(kind))]
    if "run" in kinds:
        settings = config.standardization_config
        names.extend(name for key, name in MAPPED_NAMES.items() if getattr(settings, key))
    return sorted(set(names))


class NetworkRules(Protocol):
    """Online checks (off by default). Each returns None when the identifier checks out, else the reason."""

    def check_orcid(self, orcid: str) -> str | None:
        """Does this ORCID exist?"""
        ...

    def check_doi(self, doi: str) -> str | None:
        """Does this DOI (without `doi:` prefix) resolve?"""
        ...

    def check_database_entry(self, entry: str) -> str | None:
        """Does this EMPIAR-/EMD-/PDB- entry exist?"""
        ...

    def check_ontology_term(self, term_id: str, name: str) -> str | None:
        """Does this ontology term exist and carry this name?"""
        ...

    def check_image_url(self, url: str) -> str | None:
        """Does this key photo URL serve a PNG, JPEG or GIF image?"""
        ...


def config_issues(
    config: IngestionConfig, *, source: str, network: NetworkRules | None = None
) -> list[ConfigIssue]:
    """Every rule violation (errors and warnings, see RULES) of a structurally valid config, by line.

    Online checks run only when `network` is given.
    """
    checker = _Checker(config, source=source)
    checker.run()
    if network is not None:
        _NetworkChecks(checker, network).run()
    return sorted(checker.issues, key=lambda issue: (issue.line or 0, issue.yaml_path))


def check_rules(
    config: IngestionConfig, *, source: str, network: NetworkRules | None = None
) -> list[ConfigIssue]:
    """The errors of `config_issues`: the violations that refuse a config (ingestion stops on them)."""
    return [issue for issue in config_issues(config, source=source, network=network) if issue.is_error]


def check_warnings(config: IngestionConfig, *, source: str) -> list[ConfigIssue]:
    """The warnings of `config_issues`: reported by validate-config, never blocking."""
    return [issue for issue in config_issues(config, source=source) if not issue.is_error]


class _Checker:
    def __init__(self, config: IngestionConfig, *, source: str) -> None:
        self.config = config
        self.source = source
        self.issues: list[ConfigIssue] = []
        self.run_map = config.standardization_config.run_data_map_file

    def add(self, rule: str, path: YamlPath, message: str) -> None:
        severity = RULES[rule].severity
        line = self.config.line_of(path)
        self.issues.append(ConfigIssue(self.source, format_yaml_path(path), line, message, severity, rule))

    def run(self) -> None:
        self.check_version()
        self.check_sections()
        self.check_standardization_config()
        for section in ENTITY_SECTIONS:
            for index, entity in enumerate(getattr(self.config, section) or []):
                sources = getattr(entity, "sources", None) or []
                if section == "annotations":
                    self.check_annotation_sources((section, index), sources)
                else:
                    for number, entry in enumerate(sources):
                        self.check_source((section, index, "sources", number), entry, section=section)
        self.check_annotations()
        self.check_authors_and_dates()
        self.check_datasets()
        self.check_frames()
        self.check_tiltseries()
        self.check_metadata_templates()
        self.check_voxel_spacings()

    def check_version(self) -> None:
        version = self.config.version
        if version not in SUPPORTED_VERSIONS:
            self.add(
                "config-version",
                ("version",),
                f"config version {version!r} is not one this platform knows "
                f"({', '.join(SUPPORTED_VERSIONS)}): it is read as those versions are",
            )

    def check_sections(self) -> None:
        config = self.config
        if config.collection_metadata and not config.frames:
            self.add(
                "frames-for-collection-metadata",
                ("collection_metadata",),
                "a collection_metadata block requires a frames block "
                "(use a literal source with value [default] when there are no frame files)",
            )
        if config.tiltseries and not config.collection_metadata:
            self.add(
                "collection-metadata-for-tiltseries",
                ("tiltseries",),
                "a tiltseries block without a collection_metadata block (mdoc files): the portal requires "
                "one unless the dataset is in its validation exclusions (facts §1.7)",
            )

    def check_standardization_config(self) -> None:
        settings = self.config.standardization_config
        for key in MAP_FILE_KEYS:
            value = getattr(settings, key)
            if value:
                self.check_inside_bucket(("standardization_config", key), value)

    def check_inside_bucket(self, path: YamlPath, value: str) -> None:
        """A glob or path should stay inside the bucket root it is resolved against."""
        if value.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(value):
            reason = "is an absolute path"
        elif "://" in value:
            reason = "is a URL"
        elif ".." in re.split(r"[\\/]", value):
            reason = "has a '..' component"
        else:
            return
        self.add(
            "path-inside-bucket",
            path,
            f"{value!r} {reason}: paths and globs must be relative to the bucket root "
            "(ingestion refuses to read outside it)",
        )

    def check_template(self, path: YamlPath, value: str, *, section: str, own: str | None = None) -> None:
        """A glob or filter formatted with the variables of `section`'s ancestors (facts §1.3)."""
        try:
            names = template_variables(value, field=format_yaml_path(path))
        except TemplateError as exc:
            self.add("template-syntax", path, str(exc).split(": ", 1)[1])
            return
        known = known_variables(self.config, section, own=own)
        under_run = "run" in SECTION_ANCESTORS.get(section, ())
        for name in dict.fromkeys(names):
            if name in known:
                continue
            if under_run and self.run_map:
                close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
                if close:
                    self.add(
                        "template-variable-spelling",
                        path,
                        f"{value!r} uses {{{name}}}, which is not a built-in variable (did you mean "
                        f"{{{close[0]}}}?): it must be a column of run_data_map_file {self.run_map!r}, "
                        "which is only read at ingest time",
                    )
                continue
            if not under_run:
                why = f"run_data_map columns are only available under a run, not in {section}"
            else:
                why = (
                    "run_data_map columns are only known at ingest time, and this config has no "
                    "run_data_map_file"
                )
            self.add(
                "template-variable",
                path,
                f"{value!r} uses unknown variable {{{name}}}; known variables: {', '.join(known)}; {why}",
            )

    def check_regex(self, path: YamlPath, value: str) -> None:
        try:
            re.compile(value)
        except re.error as exc:
            self.add("regex", path, f"{value!r} is not a valid regular expression: {exc}")

    def check_filters(self, path: YamlPath, entry: SourceEntry) -> None:
        for number, regex in enumerate(getattr(entry, "exclude", None) or []):
            self.check_regex((*path, "exclude", number), regex)
        filters = getattr(entry, "parent_filters", None)
        if filters is None:
            return
        for mode in ("include", "exclude"):
            parents = getattr(filters, mode)
            if parents is None:
                continue
            for parent, regexes in parents:
                for number, regex in enumerate(regexes or []):
                    self.check_regex((*path, "parent_filters", mode, parent, number), regex)

    def check_glob(self, path: YamlPath, value: str, *, section: str, own: str | None = None) -> None:
        self.check_inside_bucket(path, value)
        self.check_template(path, value, section=section, own=own)

    def check_source(self, path: YamlPath, entry: SourceEntry, *, section: str) -> None:
        finders = entry.finders()
        given_filters = [key for key in sorted(FILTER_KEYS) if getattr(entry, key, None) is not None]
        allowed = ", ".join(
            info.alias or name for name, info in type(entry).model_fields.items() if name not in FILTER_KEYS
        )
        if not finders:
            if given_filters:
                message = f"{' and '.join(given_filters)} given without a finder (one of: {allowed})"
            else:
                message = f"the source entry has no finder: give exactly one of {allowed}"
            self.add("one-finder", path, message)
        elif len(finders) > 1:
            keys = ", ".join(key for key, _ in finders)
            message = f"the source entry has {len(finders)} finders ({keys}): exactly one is allowed"
            self.add("one-finder", path, message)
        self.check_filters(path, entry)
        for key, finder in finders:
            where = (*path, key)
            if key in ("source_glob", "destination_glob", "tomogram_header"):
                self.check_glob((*where, "list_glob"), finder.list_glob, section=section)
                for regex_key in ("match_regex", "name_regex"):
                    regex = getattr(finder, regex_key, None)
                    if regex is not None:
                        self.check_regex((*where, regex_key), regex)
            elif key == "source_multi_glob":
                for number, glob in enumerate(finder.list_globs):
                    self.check_glob((*where, "list_globs", number), glob, section=section)
            elif key == "literal":
                self.check_literal(where, finder, section=section)

    def check_literal(self, path: YamlPath, literal: Any, *, section: str) -> None:
        if isinstance(literal, KeyPhotoLiteral):
            for kind in ("snapshot", "thumbnail"):
                value = getattr(literal.value, kind)
                if value and ".." in re.split(r"[\\/]", value):
                    self.add(
                        "path-inside-bucket",
                        (*path, "value", kind),
                        f"{value!r} has a '..' component (ingestion refuses such a path)",
                    )
            return
        for number, value in enumerate(literal.value):
            where = (*path, "value", number)
            if section == "datasets":
                if not isinstance(value, str):
                    self.add(
                        "dataset-literal-type",
                        where,
                        f"a dataset literal must be a string such as '10001' (quote it), got {value!r}",
                    )
                    continue
                self.check_safe_name(where, value, what="dataset id")
            elif section == "depositions":
                if isinstance(value, bool) or not isinstance(value, int):
                    message = f"a deposition literal must be an integer, got {value!r}"
                    self.add("deposition-literal-type", where, message)
            elif section == "runs":
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    self.check_safe_name(where, str(value), what="run name")
                else:
                    self.add("safe-name", where, f"a run literal should be a name, got {value!r}")
            elif isinstance(value, str) and ("/" in value or "\\" in value):
                self.check_inside_bucket(where, value)

    def check_safe_name(self, path: YamlPath, value: str, *, what: str, rule: str = "safe-name") -> None:
        try:
            check_name(value, what=what)
        except UnsafeNameError as exc:
            self.add(rule, path, str(exc))

    def check_annotation_sources(self, path: YamlPath, sources: Sequence[AnnotationSource]) -> None:
        shapes_at: dict[str, list[int]] = {}
        for number, entry in enumerate(sources):
            where = (*path, "sources", number)
            shapes = entry.finders()
            given_filters = [key for key in sorted(FILTER_KEYS) if getattr(entry, key) is not None]
            if not shapes:
                if given_filters:
                    message = f"{' and '.join(given_filters)} given without an annotation shape"
                else:
                    message = "the annotation source has no shape (Point, OrientedPoint, ...)"
                self.add("one-shape", where, message)
            elif len(shapes) > 1:
                keys = ", ".join(key for key, _ in shapes)
                message = f"the annotation source has {len(shapes)} shapes ({keys}): one per entry"
                self.add("one-shape", where, message)
            self.check_filters(where, entry)
            for shape, spec in shapes:
                shapes_at.setdefault(shape, []).append(number)
                self.check_shape((*where, shape), spec)
        for shape, numbers in shapes_at.items():
            if len(numbers) > 1 and any(sources[number].parent_filters is None for number in numbers):
                for number in numbers[1:]:
                    self.add(
                        "repeated-shape",
                        (*path, "sources", number, shape),
                        f"shape {shape!r} is already used by sources[{numbers[0]}] of this annotation: "
                        "repeat a shape only with parent_filters on each entry",
                    )

    def check_shape(self, path: YamlPath, spec: Any) -> None:
        if spec.glob_string is not None and spec.glob_strings is not None:
            self.add("glob-string-or-strings", path, "give glob_string or glob_strings, not both")
        if spec.glob_string is not None:
            self.check_glob((*path, "glob_string"), spec.glob_string, section="annotations")
        for number, glob in enumerate(spec.glob_strings or []):
            self.check_glob((*path, "glob_strings", number), glob, section="annotations")
        mesh = getattr(spec, "mesh_source_path", None)
        if mesh is not None:
            self.check_glob((*path, "mesh_source_path"), mesh, section="annotations", own="annotation")
        filter_value = getattr(spec, "filter_value", None)
        if filter_value is not None:
            where = (*path, "filter_value")
            self.check_template(where, filter_value, section="annotations", own="annotation")

    def check_annotations(self) -> None:
        first_use: dict[str, int] = {}
        for index, entity in enumerate(self.config.annotations or []):
            meta = entity.metadata
            base = ("annotations", index, "metadata")
            ingest_id = meta.annotation_ingest_id
            id_path = (*base, "annotation_ingest_id")
            if not ingest_id.strip():
                self.add("annotation-ingest-id", id_path, "annotation_ingest_id must not be empty")
            else:
                self.check_safe_name(
                    id_path, ingest_id, what="annotation_ingest_id", rule="annotation-ingest-id"
                )
                if ingest_id in first_use:
                    first = first_use[ingest_id]
                    self.add(
                        "annotation-ingest-id",
                        id_path,
                        f"annotation_ingest_id {ingest_id!r} is already used by annotations[{first}]",
                    )
                else:
                    first_use[ingest_id] = index
            if meta.method_type == "automated" and meta.ground_truth_status is True:
                self.add(
                    "automated-ground-truth",
                    (*base, "ground_truth_status"),
                    "an annotation with method_type automated cannot have ground_truth_status true",
                )
            confidence = meta.confidence
            if confidence is not None and not confidence.ground_truth_used:
                for key in ("precision", "recall"):
                    if getattr(confidence, key) is not None:
                        self.add(
                            "confidence-ground-truth",
                            (*base, "confidence", key),
                            f"{key} needs confidence.ground_truth_used (what it was measured against)",
                        )
            for number, link in enumerate(meta.files or []):
                if link.glob_string is not None:
                    self.check_inside_bucket((*base, "files", number, "glob_string"), link.glob_string)
                for glob_number, glob in enumerate(link.glob_strings or []):
                    self.check_inside_bucket((*base, "files", number, "glob_strings", glob_number), glob)
        for index, entity in enumerate(self.config.identified_objects or []):
            meta = entity.metadata
            if meta is not None and meta.filter_value is not None:
                path = ("identified_objects", index, "metadata", "filter_value")
                self.check_template(
                    path, meta.filter_value, section="identified_objects", own="identified_object"
                )

    def check_authors_and_dates(self) -> None:
        for section in AUTHORED_SECTIONS:
            for index, entity in enumerate(getattr(self.config, section) or []):
                meta = entity.metadata
                if meta is None:
                    continue
                base = (section, index, "metadata")
                self.check_authors((*base, "authors"), meta.authors)
                dates = meta.dates
                if dates.deposition_date > dates.release_date:
                    self.add(
                        "dates",
                        (*base, "dates", "deposition_date"),
                        f"deposition_date {dates.deposition_date} is after release_date {dates.release_date}",
                    )

    def check_authors(self, path: YamlPath, authors: Sequence[Author]) -> None:
        if not any(author.primary_author_status for author in authors):
            self.add("authors", path, "needs at least one author with primary_author_status: true")
        if not any(author.corresponding_author_status for author in authors):
            self.add("authors", path, "needs at least one author with corresponding_author_status: true")

    def check_datasets(self) -> None:
        for index, entity in enumerate(self.config.datasets):
            meta = entity.metadata
            if meta is None:
                continue
            required = SAMPLE_TYPE_REQUIRES.get(meta.sample_type)
            if required is not None and getattr(meta, required) is None:
                self.add(
                    "sample-type",
                    ("datasets", index, "metadata", required),
                    f"sample_type {meta.sample_type!r} requires {required}",
                )

    def check_frames(self) -> None:
        for index, entity in enumerate(self.config.frames or []):
            meta = entity.metadata
            if meta is not None and _is_number(meta.dose_rate) and meta.dose_rate <= 0:
                self.add(
                    "dose-rate",
                    ("frames", index, "metadata", "dose_rate"),
                    f"dose_rate must be > 0, got {meta.dose_rate}",
                )

    def check_tiltseries(self) -> None:
        for index, entity in enumerate(self.config.tiltseries or []):
            meta = entity.metadata
            if meta is None:
                continue
            low, high = meta.tilt_range.min, meta.tilt_range.max
            if _is_number(low) and _is_number(high) and low > high:
                self.add(
                    "tilt-range",
                    ("tiltseries", index, "metadata", "tilt_range"),
                    f"tilt_range min {low} is greater than max {high}",
                )

    def check_metadata_templates(self) -> None:
        """Metadata templates are filled from the run map only, so they need one (facts §1.3)."""
        if self.run_map:
            return
        for section in TEMPLATED_METADATA:
            for index, entity in enumerate(getattr(self.config, section) or []):
                if entity.metadata is not None:
                    self._metadata_templates((section, index, "metadata"), entity.metadata.yaml_data())
        for path, value in self._voxel_spacing_literals():
            if isinstance(value, str):
                self._metadata_templates(path, value)

    def _metadata_templates(self, path: YamlPath, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                self._metadata_templates((*path, key), item)
        elif isinstance(value, list):
            for number, item in enumerate(value):
                self._metadata_templates((*path, number), item)
        elif isinstance(value, str) and "{" in value:
            try:
                names = template_variables(value, field=format_yaml_path(path))
            except TemplateError:
                names = []
            if names:
                self.add(
                    "metadata-template-column",
                    path,
                    f"{value!r} is filled from the run_data_map_file column {names[0]!r}, "
                    "but this config has no run_data_map_file",
                )

    def _voxel_spacing_literals(self) -> Iterator[tuple[YamlPath, Any]]:
        for index, entity in enumerate(self.config.voxel_spacings):
            for number, entry in enumerate(entity.sources):
                if entry.literal is not None:
                    for position, value in enumerate(entry.literal.value):
                        path = ("voxel_spacings", index, "sources", number, "literal", "value", position)
                        yield path, value

    def check_voxel_spacings(self) -> None:
        low, high = VOXEL_SPACING_RANGE
        spacings = list(self._voxel_spacing_literals())
        for index, entity in enumerate(self.config.tomograms or []):
            if entity.metadata is not None:
                path = ("tomograms", index, "metadata", "voxel_spacing")
                spacings.append((path, entity.metadata.voxel_spacing))
        for path, value in spacings:
            if not _is_number(value):
                continue
            if value < VOXEL_SPACING_MINIMUM:
                self.add(
                    "voxel-spacing-minimum",
                    path,
                    f"voxel spacing {value} Å is below the portal's minimum of {VOXEL_SPACING_MINIMUM} Å",
                )
            elif not low < value < high:
                self.add(
                    "voxel-spacing-range",
                    path,
                    f"voxel spacing {value} Å is outside the portal's range ({low:g} Å, {high:g} Å), "
                    "exclusive: the validation gate will refuse its tomograms and annotations (facts §4.2)",
                )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _NetworkChecks:
    """Calls the online hook once per distinct identifier and reports at its first YAML path."""

    def __init__(self, checker: _Checker, network: NetworkRules) -> None:
        self.checker = checker
        self.network = network
        self.seen: set[tuple[str, str]] = set()

    def ask(self, kind: str, value: str, path: YamlPath, call: Any, *args: str) -> None:
        if (kind, value) in self.seen:
            return
        self.seen.add((kind, value))
        reason = call(*args)
        if reason:
            self.checker.add("network", path, f"{kind} {value!r}: {reason}")

    def run(self) -> None:
        config = self.checker.config
        for section in AUTHORED_SECTIONS:
            for index, entity in enumerate(getattr(config, section) or []):
                meta = entity.metadata
                if meta is None:
                    continue
                base = (section, index, "metadata")
                for number, author in enumerate(meta.authors):
                    if author.orcid:
                        where = (*base, "authors", number, "ORCID")
                        self.ask("ORCID", author.orcid, where, self.network.check_orcid, author.orcid)
                refs = getattr(meta, "cross_references", None)
                if refs is not None:
                    self.references((*base, "cross_references", "publications"), refs.publications)
                    entries = refs.related_database_entries
                    self.references((*base, "cross_references", "related_database_entries"), entries)
                if section == "annotations":
                    self.references((*base, "annotation_publications"), meta.annotation_publications)
                    term = meta.annotation_object
                    self.term((*base, "annotation_object"), term.id, term.name)
        for index, entity in enumerate(config.datasets):
            meta = entity.metadata
            if meta is None:
                continue
            base = ("datasets", index, "metadata")
            for key in ("assay", "cell_component", "cell_strain", "cell_type", "tissue", "disease"):
                block = getattr(meta, key)
                if block is not None:
                    self.term((*base, key), block.id, block.name)
            stage = meta.development_stage
            if stage.id and stage.id != "unknown":
                self.term((*base, "development_stage"), stage.id, stage.name)
            if meta.organism is not None and meta.organism.taxonomy_id is not None:
                taxon = f"NCBITaxon:{meta.organism.taxonomy_id}"
                self.term((*base, "organism"), taxon, meta.organism.name)
        for path, url in self.key_photo_urls():
            self.ask("key photo", url, path, self.network.check_image_url, url)

    def references(self, path: YamlPath, text: str | None) -> None:
        for item in (part.strip() for part in (text or "").split(",")):
            doi = _DOI.match(item)
            if doi:
                self.ask("DOI", doi.group(2), path, self.network.check_doi, doi.group(2))
            elif _DATABASE_ENTRY.match(item):
                self.ask("entry", item, path, self.network.check_database_entry, item)

    def term(self, path: YamlPath, term_id: str | None, name: str | None) -> None:
        if term_id:
            self.ask("term", term_id, path, self.network.check_ontology_term, term_id, name or "")

    def key_photo_urls(self) -> Iterator[tuple[YamlPath, str]]:
        config = self.checker.config
        for section in ("dataset_keyphotos", "deposition_keyphotos"):
            for index, entity in enumerate(getattr(config, section) or []):
                for number, entry in enumerate(entity.sources):
                    if entry.literal is None:
                        continue
                    for kind in ("snapshot", "thumbnail"):
                        url = getattr(entry.literal.value, kind)
                        if url and url.startswith(("http://", "https://")):
                            yield (section, index, "sources", number, "literal", "value", kind), url
