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
    with pytest.raises(ValidationError, match=r"expected a number or a 'float \{column\}' template"):
        TiltRange.model_validate({"min": "int {tilt_min}", "max": 60})
    with pytest.raises(ValidationError, match="must be at most 90"):
        TiltRange.model_validate({"min": 0, "max": 91})
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
    (("standardization_config", "deposition_id"), None),
]


def test_models_accept_exactly_what_the_schema_accepts(config_schema: dict[str, Any]) -> None:
    validator = _schema_validator(config_schema)
    base = valid_data()
    cases = [base]
    for path, value in MUTATIONS:
        data = copy.deepcopy(base)
        _set(data, path, value)
        cases.append(data)
    outcomes = []
    for data in cases:
        by_schema = validator.is_valid(data)
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
