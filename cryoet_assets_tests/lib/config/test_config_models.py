"""The config models follow the portal's JSON schema: same classes, keys, required keys, enums and checks."""

from __future__ import annotations

import copy
import re
from datetime import date
from enum import Enum
from typing import Any

import pytest
import yaml
from config_samples import VALID_YAML, valid_data
from pydantic import BaseModel, ValidationError

from cryoet_assets.lib.config import models
from cryoet_assets.lib.config.models import (
    Alignment,
    Author,
    CameraDetails,
    IngestionConfig,
    RunSource,
    SourceGlob,
    TiltRange,
    Tomogram,
    VoxelSpacingLiteral,
)


def _object_defs(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in schema["$defs"].items() if spec.get("type") == "object"}


def _enum_defs(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in schema["$defs"].items() if "enum" in spec}


def test_every_object_definition_has_a_model_with_the_schema_keys(config_schema: dict[str, Any]) -> None:
    objects = _object_defs(config_schema)
    assert len(objects) == 132
    for name, spec in objects.items():
        model = getattr(models, name, None)
        assert isinstance(model, type) and issubclass(model, BaseModel), f"no model for {name}"
        fields = model.model_fields
        aliases = {info.alias or field for field, info in fields.items()}
        required = {info.alias or field for field, info in fields.items() if info.is_required()}
        assert aliases == set(spec.get("properties", {})), name
        assert required == set(spec.get("required", [])), name
        forbids_extra = model.model_config.get("extra") == "forbid"
        assert forbids_extra == (spec.get("additionalProperties") is False), name


def test_every_enum_definition_has_exactly_the_schema_values(config_schema: dict[str, Any]) -> None:
    enums = _enum_defs(config_schema)
    assert len(enums) == 27
    for name, spec in enums.items():
        enum = getattr(models, name, None)
        assert isinstance(enum, type) and issubclass(enum, Enum), f"no enum for {name}"
        assert [member.value for member in enum] == spec["enum"], name


def test_root_container_forbids_unknown_sections() -> None:
    data = valid_data()
    data["overrides"] = []
    with pytest.raises(ValidationError) as caught:
        IngestionConfig.model_validate(data, by_alias=True, by_name=False)
    assert caught.value.errors()[0]["type"] == "extra_forbidden"
    assert caught.value.errors()[0]["loc"] == ("overrides",)


def test_yaml_keys_are_aliases_and_snake_case_names_are_not_accepted_from_yaml() -> None:
    author = Author.model_validate(
        {"name": "A", "ORCID": "0000-0002-1825-0097"}, by_alias=True, by_name=False
    )
    assert author.orcid == "0000-0002-1825-0097"
    assert author.model_dump(by_alias=True, exclude_none=True) == {
        "name": "A",
        "ORCID": "0000-0002-1825-0097",
    }
    with pytest.raises(ValidationError):
        Author.model_validate({"name": "A", "orcid": "0000-0002-1825-0097"}, by_alias=True, by_name=False)
    assert Author(name="A", orcid="0000-0002-1825-0097").orcid == "0000-0002-1825-0097"


@pytest.mark.parametrize(
    ("orcid", "ok"),
    [
        ("0000-0002-1825-0097", True),
        ("0000-0001-6968-041X", True),
        ("0000-0002-1825", False),
        ("orcid", False),
    ],
)
def test_patterns_are_enforced(orcid: str, ok: bool) -> None:
    if ok:
        assert Author.model_validate({"name": "A", "ORCID": orcid}).orcid == orcid
    else:
        with pytest.raises(ValidationError, match="does not match the pattern"):
            Author.model_validate({"name": "A", "ORCID": orcid})


def test_formatted_strings_are_accepted_where_the_schema_accepts_them() -> None:
    tilt = TiltRange.model_validate({"min": "float {tilt_min}", "max": 60})
    assert (tilt.min, tilt.max) == ("float {tilt_min}", 60)
    with pytest.raises(ValidationError, match="must be at most 90"):
        TiltRange.model_validate({"min": 0, "max": 91})
    with pytest.raises(ValidationError, match=r"or a template \('\{column\}', 'int \{column\}' or"):
        TiltRange.model_validate({"min": "int{", "max": 60})
    literal = VoxelSpacingLiteral.model_validate({"value": ["float {tomo-voxel_spacing}", 13.48]})
    assert literal.value == ["float {tomo-voxel_spacing}", 13.48]
    camera = CameraDetails.model_validate({"manufacturer": "Gatan", "model": "{camera_model}"})
    assert camera.model == "{camera_model}"
    with pytest.raises(ValidationError, match="expected one of 'FALCON IV'"):
        CameraDetails.model_validate({"manufacturer": "Gatan", "model": "K9"})
    data = yaml.safe_load(VALID_YAML)["tomograms"][0]["metadata"]
    data.update(fiducial_alignment_status="{fid}", reconstruction_method=" {method} ")
    tomogram = Tomogram.model_validate(data)
    assert (tomogram.fiducial_alignment_status, tomogram.reconstruction_method) == ("{fid}", " {method} ")
    # Outside tiltseries, tomograms and sources the portal checks formatted strings against the schema's
    # pattern as they are: a frame's dose rate takes only the `float {column}` form.
    assert models.Frame.model_validate({"dose_rate": "float {d}", "is_gain_corrected": False}).dose_rate
    with pytest.raises(ValidationError, match=r"expected a number or a 'float \{column\}' template"):
        models.Frame.model_validate({"dose_rate": "int {d}", "is_gain_corrected": False})


def _number_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[tuple[str, models.Number]]:
    """Every number field reachable from `model`, as (Class.field, Number)."""
    if model in seen:
        return []
    seen.add(model)
    found = []
    for name in model.model_fields:
        key = model.model_fields[name].alias or name
        spec = models.field_spec(model, key)
        if isinstance(spec, models.Number):
            found.append((f"{model.__name__}.{key}", spec))
        elif spec is not None:
            found.extend(_number_fields(spec, seen))
    return found


def _placeholder_region_fields() -> list[tuple[str, models.Number]]:
    """Number fields where the portal swaps formatted strings for placeholders (facts §1.7): the whole
    of `tiltseries` and `tomograms` entries, and every `sources` entry."""
    seen: set[type[BaseModel]] = set()
    fields = _number_fields(models.TiltSeriesEntity, seen) + _number_fields(models.TomogramEntity, seen)
    for name, info in IngestionConfig.model_fields.items():
        entity = models.field_spec(IngestionConfig, info.alias or name)
        source = models.field_spec(entity, "sources") if entity is not None else None
        if source is not None:
            fields += _number_fields(source, seen)
    return fields


def test_every_number_field_under_tiltseries_tomograms_and_sources_takes_all_three_template_forms() -> None:
    fields = _placeholder_region_fields()
    names = [name for name, _ in fields]
    assert {
        "TiltSeries.acceleration_voltage",
        "TiltSeries.frames_count",
        "TiltSeries.tilt_series_quality",
        "TiltRange.min",
        "Tomogram.voxel_spacing",
        "Tomogram.tomogram_version",
        "TomogramOffset.x",
        "TomogramSize.z",
        "VoxelSpacingLiteral.value",
        "AnnotationPointFile.binning",
        "AnnotationSemanticSegmentationMaskFile.mask_label",
    } <= set(names)
    assert len(names) >= 25
    for name, spec in fields:
        for template in ("{col}", " {col} ", "int {col}", "float {col}", "int{col}"):
            assert spec.check(template) == template, (name, template)
        with pytest.raises(Exception, match="or a template"):
            spec.check("int {col} + 1")


@pytest.mark.parametrize("template", ["{col}", "int {col}", "float {col}"])
def test_a_config_with_any_template_form_in_float_and_integer_fields_loads(template: str) -> None:
    data = valid_data()
    tiltseries = data["tiltseries"][0]["metadata"]
    tiltseries["tilt_range"] = {"min": template, "max": template}
    tiltseries["acceleration_voltage"] = template
    tiltseries["tilt_series_quality"] = template
    data["tomograms"][0]["metadata"]["offset"]["x"] = template
    data["voxel_spacings"][0]["sources"][0]["literal"]["value"] = [template]
    data["annotations"][0]["sources"][0]["Point"]["binning"] = template
    config = IngestionConfig.model_validate(data, by_alias=True, by_name=False)
    assert config.tiltseries[0].metadata.tilt_range.min == template
    assert config.tiltseries[0].metadata.tilt_series_quality == template
    assert config.tomograms[0].metadata.offset.x == template
    dumped = config.model_dump(by_alias=True)
    assert dumped["voxel_spacings"][0]["sources"][0]["literal"]["value"] == [template]


def test_numbers_keep_their_type_and_booleans_are_not_numbers() -> None:
    config = IngestionConfig.model_validate(valid_data(), by_alias=True, by_name=False)
    metadata = config.tiltseries[0].metadata
    assert metadata.acceleration_voltage == 300000 and type(metadata.acceleration_voltage) is int
    assert type(metadata.tilt_axis) is float
    assert metadata.tilt_series_quality == "int {quality}"
    with pytest.raises(ValidationError, match="expected a number, got the boolean true"):
        models.Alignment.model_validate({"format": "IMOD", "tilt_offset": True})
    assert models.TomogramOffset.model_validate({"x": 2.0, "y": 0, "z": 0}).x == 2
    with pytest.raises(ValidationError, match="expected an integer, got 2.5"):
        models.TomogramOffset.model_validate({"x": 2.5, "y": 0, "z": 0})


def test_optional_keys_that_the_schema_does_not_make_nullable_reject_null() -> None:
    assert Alignment.model_validate({"format": "IMOD"}).method_type is None
    with pytest.raises(ValidationError, match="must not be null"):
        Alignment.model_validate({"format": "IMOD", "method_type": None})


def test_dates_are_iso_dates_only() -> None:
    stamp = {
        "deposition_date": "2024-01-10",
        "release_date": date(2024, 2, 1),
        "last_modified_date": "2024-02-01",
    }
    dates = models.DateStamp.model_validate(stamp)
    assert (dates.deposition_date, dates.release_date) == (date(2024, 1, 10), date(2024, 2, 1))
    assert dates.yaml_data()["release_date"] == "2024-02-01"
    for bad, reason in [
        ("2024-02-30", "is not a valid date"),
        ("10 Jan 2024", "expected a date (YYYY-MM-DD), got the string '10 Jan 2024'"),
        (20240110, "expected a date (YYYY-MM-DD), got the number 20240110"),
    ]:
        with pytest.raises(ValidationError, match=re.escape(reason)):
            models.DateStamp.model_validate({**stamp, "deposition_date": bad})


def test_enum_fields_hold_plain_strings() -> None:
    config = IngestionConfig.model_validate(valid_data(), by_alias=True, by_name=False)
    assert config.annotations[0].metadata.method_type == "automated"
    dumped = config.model_dump(mode="python", by_alias=True, exclude_none=True)
    assert type(dumped["annotations"][0]["metadata"]["method_type"]) is str


def test_finder_helper_returns_the_one_finder() -> None:
    entry = RunSource.model_validate({"source_glob": {"list_glob": "TS_*"}, "exclude": ["TS_9"]})
    key, finder = entry.finder()
    assert key == "source_glob" and finder == SourceGlob(list_glob="TS_*")
    two = RunSource.model_validate({"source_glob": {"list_glob": "a"}, "literal": {"value": ["b"]}})
    with pytest.raises(ValueError, match=r"exactly one finder, found 2 \(literal, source_glob\)"):
        two.finder()
    shape = models.AnnotationSource.model_validate({"OrientedPoint": {"file_format": "copick"}})
    assert shape.finder()[0] == "OrientedPoint"
    assert models.ANNOTATION_SHAPES[:2] == ("AnnotationCaption", "GlobalCaption")


def _schema_validator(schema: dict[str, Any]) -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    root = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/Container"}
    return jsonschema.Draft201909Validator(root)


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    if value is _DELETE:
        del data[path[-1]]
    else:
        data[path[-1]] = value


_DELETE = object()
MUTATIONS = [
    (("version",), 1.3),
    (("datasets",), []),
    (("runs", 0, "sources", 0, "source_glob", "list_glob"), 5),
    (("runs", 0, "sources", 0, "source_glob", "nope"), "x"),
    (("depositions", 0, "metadata", "authors", 0, "ORCID"), "0000-0002-1825"),
    (("depositions", 0, "metadata", "authors", 0, "ORCID"), "id:0000-0002-1825-0097"),
    (("depositions", 0, "metadata", "deposition_types", 0), "movie"),
    (("depositions", 0, "metadata", "deposition_identifier"), "10000"),
    (("datasets", 0, "metadata", "dataset_title"), _DELETE),
    (("datasets", 0, "metadata", "cell_type", "id"), "XX:1"),
    (("datasets", 0, "metadata", "organism", "taxonomy_id"), 0),
    (("tiltseries", 0, "metadata", "tilt_range", "max"), "float {max}"),
    (("tiltseries", 0, "metadata", "tilt_range", "max"), "int {max}"),
    (("tiltseries", 0, "metadata", "tilt_range", "max"), 95),
    (("tiltseries", 0, "metadata", "tilt_series_quality"), 6),
    (("tiltseries", 0, "metadata", "tilt_series_quality"), "float {q}"),
    (("tiltseries", 0, "metadata", "camera", "model"), "{cam}"),
    (("tiltseries", 0, "metadata", "camera", "model"), "K9"),
    (("tiltseries", 0, "metadata", "camera", "acquire_mode"), None),
    (("tiltseries", 0, "metadata", "is_aligned"), "yes"),
    (("tiltseries", 0, "metadata", "pixel_spacing"), 0),
    (("tomograms", 0, "metadata", "offset", "x"), 1.5),
    (("tomograms", 0, "metadata", "fiducial_alignment_status"), "{status}"),
    (("tomograms", 0, "metadata", "fiducial_alignment_status"), "fiducial"),
    (("annotations", 0, "sources", 0, "Point", "file_format"), "xyz"),
    (("annotations", 0, "sources", 0, "Point", "binning"), -1),
    (("annotations", 0, "metadata", "confidence"), {"precision": 101}),
    (("annotations", 0, "metadata", "annotation_object", "id"), "UniProtKB:P12345"),
    (
        ("annotations", 0, "metadata", "annotation_publications"),
        "EMPIAR-10988, doi:10.1101/2022.04.12.488077",
    ),
    (("annotations", 0, "metadata", "annotation_publications"), "EMPIAR-1098"),
    (("voxel_spacings", 0, "sources", 0, "literal", "value"), ["float {vs}", 4]),
    (("voxel_spacings", 0, "sources", 0, "literal", "value"), ["int {vs}"]),
    (("frames", 0, "metadata", "dose_rate"), True),
    (("frames", 0, "metadata", "dose_rate"), "int {dose}"),
    (("tiltseries", 0, "metadata", "pixel_spacing"), "int {pixel}"),
    (("tomograms", 0, "metadata", "offset", "x"), "float {x}"),
    (("annotations", 0, "sources", 0, "Point", "binning"), "int {binning}"),
    (("standardization_config", "deposition_id"), None),
]


_PLACEHOLDER_PARENTS = {"tiltseries": 0, "tomograms": 0, "sources": 1}
_NUMBER_TEMPLATE = re.compile(r"^(int|float)[ ]*\{[a-zA-Z0-9_-]+\}[ ]*$")


def _with_portal_placeholders(value: Any, depth: int = 0, inside: bool = False) -> Any:
    """`value` as the portal's validator checks it (facts §1.7): under `tiltseries`/`tomograms` (depth 0)
    and `sources` (depth 1), `int {col}` becomes 1 and `float {col}` 1.0 before the schema is applied."""
    if isinstance(value, dict):
        return {
            key: _with_portal_placeholders(
                item, depth + 1, inside or _PLACEHOLDER_PARENTS.get(key) == depth
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_with_portal_placeholders(item, depth, inside) for item in value]
    if inside and isinstance(value, str) and (match := _NUMBER_TEMPLATE.match(value)):
        return 1 if match.group(1) == "int" else 1.0
    return value


def test_models_accept_exactly_what_the_schema_accepts(config_schema: dict[str, Any]) -> None:
    # What the portal's validator accepts: the schema, after its placeholders for `int`/`float` templates.
    # (The models also take a bare `{column}` in those number fields, and do not check the placeholder
    # against a field's bounds: see test_a_config_with_any_template_form_in_float_and_integer_fields_loads.)
    validator = _schema_validator(config_schema)
    base = valid_data()
    cases = [base]
    for path, value in MUTATIONS:
        data = copy.deepcopy(base)
        _set(data, path, value)
        cases.append(data)
    outcomes = []
    for data in cases:
        by_schema = validator.is_valid(_with_portal_placeholders(data))
        try:
            IngestionConfig.model_validate(data, by_alias=True, by_name=False)
            by_models = True
        except ValidationError:
            by_models = False
        outcomes.append(by_schema)
        assert by_models == by_schema, data
    assert outcomes[0] is True and outcomes.count(False) >= 20


def test_reference_configs_are_valid_for_the_schema_and_the_models(
    config_schema: dict[str, Any], reference_configs: list[Any]
) -> None:
    validator = _schema_validator(config_schema)
    for path in reference_configs:
        data = yaml.safe_load(path.read_text())
        assert validator.is_valid(data), path.name
        IngestionConfig.model_validate(data, by_alias=True, by_name=False)
