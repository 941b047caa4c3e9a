"""Template formatting, run-map metadata expansion and map file parsing, with their errors."""

from __future__ import annotations

import pytest
from config_samples import VALID_YAML

from cryoet_assets.lib.config import models
from cryoet_assets.lib.config.loader import load_config
from cryoet_assets.lib.config.templates import (
    TemplateError,
    expand_metadata,
    format_template,
    parse_run_map,
    parse_two_column_map,
    template_variables,
)


def test_format_template_fills_plain_names() -> None:
    variables = {"run_name": "TS_01", "int_run_name": 1, "tomo-voxel_spacing": "13.48"}
    assert format_template("{run_name}/{run_name}.mrc", variables, field="g") == "TS_01/TS_01.mrc"
    assert format_template("vs{tomo-voxel_spacing}_{int_run_name:03d}", variables, field="g") == "vs13.48_001"
    assert format_template("no fields {{literal}}", {}, field="g") == "no fields {literal}"
    assert template_variables("{a}/{b}/{a}", field="g") == ["a", "b", "a"]


def test_unknown_variable_names_field_variable_and_the_available_ones() -> None:
    with pytest.raises(TemplateError) as caught:
        format_template(
            "{run_name}/{mapped_tomo_name}.mrc",
            {"run_name": "TS_01", "dataset_name": "10001"},
            field="tomograms[0].sources[0].source_glob.list_glob",
        )
    assert str(caught.value) == (
        "tomograms[0].sources[0].source_glob.list_glob: template '{run_name}/{mapped_tomo_name}.mrc' "
        "uses unknown variable 'mapped_tomo_name'; available variables: dataset_name, run_name"
    )


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{run_name.__class__}", "a template variable is a plain name"),
        ("{run_name[0]}", "a template variable is a plain name"),
        ("{}", "a template variable is a plain name"),
        ("{0}", "a template variable is a plain name"),
        ("{run_name", "is not a valid template"),
        ("{run_name:{width}}", "nests a variable inside a format spec"),
    ],
)
def test_format_template_rejects_anything_but_plain_names(template: str, reason: str) -> None:
    with pytest.raises(TemplateError, match="^runs.glob: ") as caught:
        format_template(template, {"run_name": "TS_01", "width": 3}, field="runs.glob")
    assert reason in str(caught.value)


def test_expand_metadata_casts_and_recurses() -> None:
    metadata = {
        "pixel_spacing": "float {pixel_spacing}",
        "tilt_series_quality": "int {quality}",
        "camera": {"model": "{camera}", "manufacturer": "Gatan"},
        "tilt_range": {"min": "float{min}", "max": 60},
        "notes": ["{camera} detector", 3, None],
        "flag": True,
    }
    row = {"run_name": "TS_01", "pixel_spacing": "3.37", "quality": "4", "camera": "K3", "min": "-60"}
    expanded = expand_metadata(metadata, row, field="tiltseries[0].metadata")
    assert expanded == {
        "pixel_spacing": 3.37,
        "tilt_series_quality": 4,
        "camera": {"model": "K3", "manufacturer": "Gatan"},
        "tilt_range": {"min": -60.0, "max": 60},
        "notes": ["K3 detector", 3, None],
        "flag": True,
    }
    assert type(expanded["tilt_series_quality"]) is int
    assert metadata["pixel_spacing"] == "float {pixel_spacing}", "the input must not be modified"
    assert expand_metadata({"q": "int {q}"}, {"q": "5.0"}, field="m") == {"q": 5}


def test_expand_metadata_of_a_loaded_model() -> None:
    config = load_config(VALID_YAML.encode(), source="valid.yaml")
    expanded = expand_metadata(
        config.tiltseries[0].metadata, {"quality": "5"}, field="tiltseries[0].metadata"
    )
    assert expanded["tilt_series_quality"] == 5
    assert expanded["camera"] == {"manufacturer": "Gatan", "model": "K3"}


def test_templates_in_number_fields_give_the_field_type_whatever_their_form() -> None:
    metadata = {
        "tilt_range": {"min": "int {tilt_min}", "max": "{tilt_max}"},
        "tilt_axis": "float {axis}",
        "tilt_series_quality": "float {quality}",
        "frames_count": "{frames}",
        "total_flux": "int {flux}",
        "tilting_scheme": "{scheme}",
        "camera": {"model": "{camera}"},
    }
    row = {
        "tilt_min": "-60",
        "tilt_max": "60.5",
        "axis": "84.7",
        "quality": "4.0",
        "frames": "41",
        "flux": "120",
        "scheme": "dose-symmetric",
        "camera": "K3",
    }
    expanded = expand_metadata(metadata, row, field="tiltseries[0].metadata", model=models.TiltSeries)
    assert expanded == {
        "tilt_range": {"min": -60.0, "max": 60.5},
        "tilt_axis": 84.7,
        "tilt_series_quality": 4,
        "frames_count": 41,
        "total_flux": 120.0,
        "tilting_scheme": "dose-symmetric",
        "camera": {"model": "K3"},
    }
    assert type(expanded["tilt_range"]["min"]) is float and type(expanded["total_flux"]) is float
    assert type(expanded["tilt_series_quality"]) is int and type(expanded["frames_count"]) is int


def test_a_loaded_config_with_an_int_template_in_a_float_field_resolves_to_floats() -> None:
    text = VALID_YAML.replace(
        "max: 60\n      min: -60", "max: int {tilt_range_max}\n      min: int {tilt_range_min}"
    )
    text = text.replace("voxel_spacing: 13.48", "voxel_spacing: '{vs}'")
    config = load_config(text.encode(), source="portal-style.yaml")
    row = {"run_name": "TS_01", "tilt_range_min": "-54", "tilt_range_max": "51", "quality": "3"}
    row["vs"] = "13.48"
    tiltseries = expand_metadata(config.tiltseries[0].metadata, row, field="tiltseries[0].metadata")
    assert tiltseries["tilt_range"] == {"min": -54.0, "max": 51.0}
    assert all(type(value) is float for value in tiltseries["tilt_range"].values())
    # As the planner does it: the config as plain data, typed by the model class.
    data = config.tomograms[0].metadata.yaml_data()
    tomogram = expand_metadata(data, row, field="tomograms[0].metadata", model=models.Tomogram)
    assert tomogram["voxel_spacing"] == 13.48 and tomogram["offset"] == {"x": 0, "y": 0, "z": 0}


@pytest.mark.parametrize(
    ("metadata", "row", "message"),
    [
        (
            {"tilt_range": {"min": "int {tilt_min}"}},
            {"tilt_min": "-60.5"},
            "tiltseries[0].metadata.tilt_range.min: column 'tilt_min' of template 'int {tilt_min}': "
            "expected an integer, got -60.5",
        ),
        (
            {"tilt_range": {"max": "{tilt_max}"}},
            {"tilt_max": "95"},
            "tiltseries[0].metadata.tilt_range.max: column 'tilt_max' of template '{tilt_max}': "
            "must be at most 90, got 95",
        ),
        (
            {"tilt_series_quality": "float {quality}"},
            {"quality": "4.5"},
            "tiltseries[0].metadata.tilt_series_quality: column 'quality' of template 'float {quality}': "
            "expected an integer, got 4.5",
        ),
        (
            {"pixel_spacing": "{pixel}"},
            {"pixel": "n/a"},
            "tiltseries[0].metadata.pixel_spacing: column 'pixel' of template '{pixel}': "
            "'n/a' is not a number",
        ),
    ],
)
def test_typed_expansion_errors_name_the_field_column_and_reason(
    metadata: dict, row: dict, message: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        expand_metadata(metadata, row, field="tiltseries[0].metadata", model=models.TiltSeries)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("metadata", "row", "message"),
    [
        (
            {"tilt_range": {"min": "float {tilt_min}"}},
            {"run_name": "TS_01"},
            "tiltseries[0].metadata.tilt_range.min: template 'float {tilt_min}' needs column 'tilt_min', "
            "which the run map row does not have; available columns: run_name",
        ),
        (
            {"quality": "int {quality}"},
            {"quality": "good"},
            "tiltseries[0].metadata.quality: column 'quality' holds 'good', which is not an integer "
            "(template 'int {quality}')",
        ),
        (
            {"quality": "int {quality}"},
            {"quality": "4.5"},
            "tiltseries[0].metadata.quality: column 'quality' holds '4.5', which is not an integer "
            "(template 'int {quality}')",
        ),
        (
            {"values": ["float {spacing}"]},
            {"spacing": "n/a"},
            "tiltseries[0].metadata.values[0]: column 'spacing' holds 'n/a', which is not a float "
            "(template 'float {spacing}')",
        ),
    ],
)
def test_expand_metadata_errors_name_the_column_and_field(metadata: dict, row: dict, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        expand_metadata(metadata, row, field="tiltseries[0].metadata")
    assert str(caught.value) == message


def test_parse_run_map_tsv_and_csv() -> None:
    tsv = "run_name\ttilt_series_max_tilt\tdose_rate\nTS_01\t60\t2.5\n\nTS_02\t58\t2.4\n"
    runs = parse_run_map(tsv, filename="run_data_map.tsv")
    assert runs == {
        "TS_01": {"run_name": "TS_01", "tilt_series_max_tilt": "60", "dose_rate": "2.5"},
        "TS_02": {"run_name": "TS_02", "tilt_series_max_tilt": "58", "dose_rate": "2.4"},
    }
    csv_text = '\ufeffrun_name,tomo-voxel_spacing,note\r\npda-1,13.48,"a, quoted note"\r\n'
    assert parse_run_map(csv_text, filename="10014.csv") == {
        "pda-1": {"run_name": "pda-1", "tomo-voxel_spacing": "13.48", "note": "a, quoted note"}
    }


@pytest.mark.parametrize(
    ("text", "filename", "message"),
    [
        ("", "map.tsv", "map.tsv: the run map is empty: it needs a header row with a 'run_name' column"),
        (
            "name,dose\nTS_01,2\n",
            "map.csv",
            "map.csv:1: the header has no 'run_name' column (columns: name, dose; comma-separated)",
        ),
        (
            "run_name,dose\nTS_01,2\n",
            "map.tsv",
            "map.tsv:1: the header has no 'run_name' column (columns: run_name,dose; tab-separated)",
        ),
        (
            "run_name,dose\nTS_01,2\nTS_02,3\nTS_01,4\n",
            "map.csv",
            "map.csv:4: run 'TS_01' is already listed on line 2",
        ),
        (
            "run_name,dose\nTS_01,2,extra\n",
            "map.csv",
            "map.csv:2: the row has 3 values, the header 2 columns",
        ),
        ("run_name,dose,dose\nTS_01,2,3\n", "map.csv", "map.csv:1: duplicate column(s) in the header: dose"),
        ("run_name,dose\n,2\n", "map.csv", "map.csv:2: empty 'run_name'"),
    ],
)
def test_parse_run_map_errors(text: str, filename: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_run_map(text, filename=filename)
    assert str(caught.value) == message


def test_parse_two_column_map() -> None:
    text = "pda2021-02-12-1,tomo_a.rec\n\npda2021-02-12-2, tomo_b.rec,\n"
    assert parse_two_column_map(text, filename="run_tomo_map/10014.csv") == {
        "pda2021-02-12-1": "tomo_a.rec",
        "pda2021-02-12-2": "tomo_b.rec",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("TS_01\n", "tomo.csv:1: expected two columns (run name, mapped name), got 1"),
        ("TS_01,a,b\n", "tomo.csv:1: expected two columns (run name, mapped name), got 3"),
        ("TS_01,a\nTS_01,b\n", "tomo.csv:2: run 'TS_01' is already mapped on line 1"),
        (",a\n", "tomo.csv:1: empty run name"),
    ],
)
def test_parse_two_column_map_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_two_column_map(text, filename="tomo.csv")
    assert str(caught.value) == message
