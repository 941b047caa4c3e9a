"""Config rules beyond the schema's structure (the portal validator's offline checks) and the online hook."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from cryoet_assets.lib.config.loader import ConfigIssue, YamlPath, format_yaml_path
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
_DOI = re.compile(r"^(doi:)?(10\.[0-9]{4,9}/\S+)$")
_DATABASE_ENTRY = re.compile(r"^(EMPIAR-[0-9]+|EMD-[0-9]+|PDB-[0-9a-zA-Z]+)$")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")


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


def check_rules(
    config: IngestionConfig, *, source: str, network: NetworkRules | None = None
) -> list[ConfigIssue]:
    """Every rule violation of a structurally valid config; online checks only when `network` is given."""
    checker = _Checker(config, source=source)
    checker.run()
    if network is not None:
        _NetworkChecks(checker, network).run()
    return sorted(checker.issues, key=lambda issue: (issue.line or 0, issue.yaml_path))


class _Checker:
    def __init__(self, config: IngestionConfig, *, source: str) -> None:
        self.config = config
        self.source = source
        self.issues: list[ConfigIssue] = []

    def add(self, path: YamlPath, message: str) -> None:
        self.issues.append(
            ConfigIssue(self.source, format_yaml_path(path), self.config.line_of(path), message)
        )

    def run(self) -> None:
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

    def check_sections(self) -> None:
        config = self.config
        if config.collection_metadata and not config.frames:
            self.add(
                ("collection_metadata",),
                "a collection_metadata block requires a frames block "
                "(use a literal source with value [default] when there are no frame files)",
            )
        if config.tiltseries and not config.collection_metadata:
            self.add(("tiltseries",), "a tiltseries block requires a collection_metadata block")

    def check_standardization_config(self) -> None:
        settings = self.config.standardization_config
        for key in MAP_FILE_KEYS:
            value = getattr(settings, key)
            if value:
                self.check_relative(("standardization_config", key), value)

    def check_relative(self, path: YamlPath, value: str) -> None:
        """A glob or path must stay inside the bucket root it is resolved against."""
        if value.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(value):
            self.add(
                path, f"{value!r} is an absolute path: paths and globs must be relative to the bucket root"
            )
        elif "://" in value:
            self.add(path, f"{value!r} is a URL: paths and globs must be relative to the bucket root")
        elif ".." in re.split(r"[\\/]", value):
            self.add(path, f"{value!r} has a '..' component: a config must not reach outside its bucket root")
        try:
            template_variables(value, field=format_yaml_path(path))
        except TemplateError as exc:
            self.add(path, str(exc).split(": ", 1)[1])

    def check_regex(self, path: YamlPath, value: str) -> None:
        try:
            re.compile(value)
        except re.error as exc:
            self.add(path, f"{value!r} is not a valid regular expression: {exc}")

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

    def check_source(self, path: YamlPath, entry: SourceEntry, *, section: str) -> None:
        finders = entry.finders()
        given_filters = [key for key in sorted(FILTER_KEYS) if getattr(entry, key, None) is not None]
        allowed = ", ".join(
            info.alias or name for name, info in type(entry).model_fields.items() if name not in FILTER_KEYS
        )
        if not finders:
            if given_filters:
                self.add(path, f"{' and '.join(given_filters)} given without a finder (one of: {allowed})")
            else:
                self.add(path, f"the source entry has no finder: give exactly one of {allowed}")
        elif len(finders) > 1:
            keys = ", ".join(key for key, _ in finders)
            self.add(path, f"the source entry has {len(finders)} finders ({keys}): exactly one is allowed")
        self.check_filters(path, entry)
        for key, finder in finders:
            where = (*path, key)
            if key in ("source_glob", "destination_glob", "tomogram_header"):
                self.check_relative((*where, "list_glob"), finder.list_glob)
                for regex_key in ("match_regex", "name_regex"):
                    regex = getattr(finder, regex_key, None)
                    if regex is not None:
                        self.check_regex((*where, regex_key), regex)
            elif key == "source_multi_glob":
                for number, glob in enumerate(finder.list_globs):
                    self.check_relative((*where, "list_globs", number), glob)
            elif key == "literal":
                self.check_literal(where, finder, section=section)

    def check_literal(self, path: YamlPath, literal: Any, *, section: str) -> None:
        if isinstance(literal, KeyPhotoLiteral):
            for kind in ("snapshot", "thumbnail"):
                value = getattr(literal.value, kind)
                if value and ".." in re.split(r"[\\/]", value):
                    self.add((*path, "value", kind), f"{value!r} has a '..' component")
            return
        for number, value in enumerate(literal.value):
            where = (*path, "value", number)
            if section == "datasets":
                if not isinstance(value, str):
                    self.add(
                        where, f"a dataset literal must be a string such as '10001' (quote it), got {value!r}"
                    )
                    continue
                self.check_safe_name(where, value, what="dataset id")
            elif section == "depositions":
                if isinstance(value, bool) or not isinstance(value, int):
                    self.add(where, f"a deposition literal must be an integer, got {value!r}")
            elif section == "runs":
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    self.check_safe_name(where, str(value), what="run name")
                else:
                    self.add(where, f"a run literal must be a name, got {value!r}")
            elif isinstance(value, str) and ("/" in value or "\\" in value):
                self.check_relative(where, value)

    def check_safe_name(self, path: YamlPath, value: str, *, what: str) -> None:
        try:
            check_name(value, what=what)
        except UnsafeNameError as exc:
            self.add(path, str(exc))

    def check_annotation_sources(self, path: YamlPath, sources: Sequence[AnnotationSource]) -> None:
        shapes_at: dict[str, list[int]] = {}
        for number, entry in enumerate(sources):
            where = (*path, "sources", number)
            shapes = entry.finders()
            given_filters = [key for key in sorted(FILTER_KEYS) if getattr(entry, key) is not None]
            if not shapes:
                if given_filters:
                    self.add(where, f"{' and '.join(given_filters)} given without an annotation shape")
                else:
                    self.add(where, "the annotation source has no shape (Point, OrientedPoint, ...)")
            elif len(shapes) > 1:
                keys = ", ".join(key for key, _ in shapes)
                self.add(where, f"the annotation source has {len(shapes)} shapes ({keys}): one per entry")
            self.check_filters(where, entry)
            for shape, spec in shapes:
                shapes_at.setdefault(shape, []).append(number)
                self.check_shape((*where, shape), spec)
        for shape, numbers in shapes_at.items():
            if len(numbers) > 1 and any(sources[number].parent_filters is None for number in numbers):
                for number in numbers[1:]:
                    self.add(
                        (*path, "sources", number, shape),
                        f"shape {shape!r} is already used by sources[{numbers[0]}] of this annotation: "
                        "repeat a shape only with parent_filters on each entry",
                    )

    def check_shape(self, path: YamlPath, spec: Any) -> None:
        if spec.glob_string is not None and spec.glob_strings is not None:
            self.add(path, "give glob_string or glob_strings, not both")
        if spec.glob_string is not None:
            self.check_relative((*path, "glob_string"), spec.glob_string)
        for number, glob in enumerate(spec.glob_strings or []):
            self.check_relative((*path, "glob_strings", number), glob)
        mesh = getattr(spec, "mesh_source_path", None)
        if mesh is not None:
            self.check_relative((*path, "mesh_source_path"), mesh)

    def check_annotations(self) -> None:
        first_use: dict[str, int] = {}
        for index, entity in enumerate(self.config.annotations or []):
            meta = entity.metadata
            base = ("annotations", index, "metadata")
            ingest_id = meta.annotation_ingest_id
            id_path = (*base, "annotation_ingest_id")
            if not ingest_id.strip():
                self.add(id_path, "annotation_ingest_id must not be empty")
            else:
                self.check_safe_name(id_path, ingest_id, what="annotation_ingest_id")
                if ingest_id in first_use:
                    first = first_use[ingest_id]
                    self.add(
                        id_path, f"annotation_ingest_id {ingest_id!r} is already used by annotations[{first}]"
                    )
                else:
                    first_use[ingest_id] = index
            if meta.method_type == "automated" and meta.ground_truth_status is True:
                self.add(
                    (*base, "ground_truth_status"),
                    "an annotation with method_type automated cannot have ground_truth_status true",
                )
            confidence = meta.confidence
            if confidence is not None and not confidence.ground_truth_used:
                for key in ("precision", "recall"):
                    if getattr(confidence, key) is not None:
                        self.add(
                            (*base, "confidence", key),
                            f"{key} needs confidence.ground_truth_used (what it was measured against)",
                        )
            for number, link in enumerate(meta.files or []):
                if link.glob_string is not None:
                    self.check_relative((*base, "files", number, "glob_string"), link.glob_string)
                for glob_number, glob in enumerate(link.glob_strings or []):
                    self.check_relative((*base, "files", number, "glob_strings", glob_number), glob)

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
                        (*base, "dates", "deposition_date"),
                        f"deposition_date {dates.deposition_date} is after release_date {dates.release_date}",
                    )

    def check_authors(self, path: YamlPath, authors: Sequence[Author]) -> None:
        if not any(author.primary_author_status for author in authors):
            self.add(path, "needs at least one author with primary_author_status: true")
        if not any(author.corresponding_author_status for author in authors):
            self.add(path, "needs at least one author with corresponding_author_status: true")

    def check_datasets(self) -> None:
        for index, entity in enumerate(self.config.datasets):
            meta = entity.metadata
            if meta is None:
                continue
            required = SAMPLE_TYPE_REQUIRES.get(meta.sample_type)
            if required is not None and getattr(meta, required) is None:
                self.add(
                    ("datasets", index, "metadata", required),
                    f"sample_type {meta.sample_type!r} requires {required}",
                )

    def check_frames(self) -> None:
        for index, entity in enumerate(self.config.frames or []):
            meta = entity.metadata
            if meta is not None and _is_number(meta.dose_rate) and meta.dose_rate <= 0:
                self.add(
                    ("frames", index, "metadata", "dose_rate"), f"dose_rate must be > 0, got {meta.dose_rate}"
                )

    def check_tiltseries(self) -> None:
        for index, entity in enumerate(self.config.tiltseries or []):
            meta = entity.metadata
            if meta is None:
                continue
            low, high = meta.tilt_range.min, meta.tilt_range.max
            if _is_number(low) and _is_number(high) and low > high:
                self.add(
                    ("tiltseries", index, "metadata", "tilt_range"),
                    f"tilt_range min {low} is greater than max {high}",
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
            self.checker.add(path, f"{kind} {value!r}: {reason}")

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
