"""Rules beyond the schema: each broken config gives the issue it should, valid configs give none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from config_samples import VALID_YAML, broken, line_of

from cryoet_assets.lib.config.loader import ConfigIssue, load_config, load_config_file
from cryoet_assets.lib.config.rules import RULES, check_rules, check_warnings, config_issues

SOURCE = "configs/test.yaml"


def rule_issues(data: bytes) -> list[ConfigIssue]:
    return check_rules(load_config(data, source=SOURCE), source=SOURCE)


def warning_issues(data: bytes) -> list[ConfigIssue]:
    return check_warnings(load_config(data, source=SOURCE), source=SOURCE)


def pairs(change: Callable[[dict[str, Any]], Any]) -> list[tuple[str, str]]:
    return [(issue.yaml_path, issue.message) for issue in rule_issues(broken(change))]


def warning_pairs(change: Callable[[dict[str, Any]], Any]) -> list[tuple[str, str]]:
    return [(issue.yaml_path, issue.message) for issue in warning_issues(broken(change))]


def test_valid_config_passes() -> None:
    assert rule_issues(VALID_YAML.encode()) == []


def test_reference_configs_pass(reference_configs: list[Path]) -> None:
    for path in reference_configs:
        assert config_issues(load_config_file(path), source=str(path)) == [], path.name


_OUTSIDE = "paths and globs must be relative to the bucket root (ingestion refuses to read outside it)"


@pytest.mark.parametrize(
    ("glob", "reason"),
    [
        ("../x/*", f"'../x/*' has a '..' component: {_OUTSIDE}"),
        ("/etc/*", f"'/etc/*' is an absolute path: {_OUTSIDE}"),
        ("tomos/../../x", f"'tomos/../../x' has a '..' component: {_OUTSIDE}"),
        ("C:\\data\\*", f"'C:\\\\data\\\\*' is an absolute path: {_OUTSIDE}"),
        ("s3://other-bucket/*", f"'s3://other-bucket/*' is a URL: {_OUTSIDE}"),
    ],
)
def test_globs_outside_the_bucket_root_are_warnings(glob: str, reason: str) -> None:
    # No portal rule: a platform policy, enforced again when ingestion reads the bucket (test_plan.py).
    def change(data: dict) -> None:
        data["runs"][0]["sources"][0]["source_glob"]["list_glob"] = glob

    data = broken(change)
    assert rule_issues(data) == []
    (issue,) = warning_issues(data)
    assert (issue.yaml_path, issue.rule) == ("runs[0].sources[0].source_glob.list_glob", "path-inside-bucket")
    assert issue.message == reason
    assert issue.line == line_of(data, "list_glob: " + glob[:5])


def test_every_kind_of_path_is_checked() -> None:
    def change(data: dict) -> None:
        data["standardization_config"]["source_prefix"] = "../elsewhere"
        data["standardization_config"]["run_to_tomo_map_csv"] = "/maps/tomo.csv"
        data["collection_metadata"][0]["sources"][0] = {"source_multi_glob": {"list_globs": ["ok/*", "../*"]}}
        data["annotations"][0]["sources"][0]["Point"]["glob_string"] = "/etc/passwd"
        data["annotations"][1]["sources"][0]["SemanticSegmentationMask"]["glob_strings"] = None
        data["tomograms"][0]["sources"][0] = {"destination_glob": {"list_glob": "{run_output_path}/../../*"}}
        data["dataset_keyphotos"] = [
            {"sources": [{"literal": {"value": {"snapshot": "cryoetportal-rawdatasets-dev/../x.png"}}}]}
        ]

    assert pairs(change) == []
    found = dict(warning_pairs(change))
    assert set(found) == {
        "standardization_config.source_prefix",
        "standardization_config.run_to_tomo_map_csv",
        "collection_metadata[0].sources[0].source_multi_glob.list_globs[1]",
        "annotations[0].sources[0].Point.glob_string",
        "tomograms[0].sources[0].destination_glob.list_glob",
        "dataset_keyphotos[0].sources[0].literal.value.snapshot",
    }
    point = found["annotations[0].sources[0].Point.glob_string"]
    assert point == f"'/etc/passwd' is an absolute path: {_OUTSIDE}"


def test_malformed_glob_template_and_regex() -> None:
    def change(data: dict) -> None:
        glob = data["runs"][0]["sources"][0]["source_glob"]
        glob["list_glob"] = "tomograms/{run_name"
        glob["name_regex"] = "(.*"

    found = dict(pairs(change))
    assert found["runs[0].sources[0].source_glob.list_glob"].startswith(
        "'tomograms/{run_name' is not a valid template"
    )
    assert found["runs[0].sources[0].source_glob.name_regex"].startswith(
        "'(.*' is not a valid regular expression: missing ), unterminated subpattern"
    )


def test_two_finders_in_one_source() -> None:
    def change(data: dict) -> None:
        data["runs"][0]["sources"][0]["literal"] = {"value": ["TS_1"]}

    assert pairs(change) == [
        (
            "runs[0].sources[0]",
            "the source entry has 2 finders (literal, source_glob): exactly one is allowed",
        )
    ]


def test_filters_without_a_finder() -> None:
    def change(data: dict) -> None:
        data["frames"][0]["sources"] = [
            {"parent_filters": {"include": {"run": ["^TS_1$"]}}, "exclude": ["x"]}
        ]
        data["gains"] = [{"sources": [{}]}]

    assert pairs(change) == [
        (
            "frames[0].sources[0]",
            "exclude and parent_filters given without a finder "
            "(one of: destination_glob, literal, source_glob, source_multi_glob)",
        ),
        (
            "gains[0].sources[0]",
            "the source entry has no finder: give exactly one of "
            "destination_glob, literal, source_glob, source_multi_glob",
        ),
    ]


def test_literal_types_of_datasets_depositions_and_runs() -> None:
    def change(data: dict) -> None:
        data["datasets"][0]["sources"][0]["literal"]["value"] = [10001, "ok_1", "bad name"]
        data["depositions"][0]["sources"][0]["literal"]["value"] = [10000, True, "10000"]
        data["runs"][0]["sources"][0] = {"literal": {"value": ["TS_01", "../TS_02"]}}

    assert pairs(change) == [
        ("depositions[0].sources[0].literal.value[1]", "a deposition literal must be an integer, got True"),
        (
            "depositions[0].sources[0].literal.value[2]",
            "a deposition literal must be an integer, got '10000'",
        ),
        (
            "datasets[0].sources[0].literal.value[0]",
            "a dataset literal must be a string such as '10001' (quote it), got 10001",
        ),
    ]
    # Names that cannot be partition keys are this platform's policy, not the portal's: warnings.
    unsafe = warning_pairs(change)
    assert [path for path, _ in unsafe] == [
        "datasets[0].sources[0].literal.value[2]",
        "runs[0].sources[0].literal.value[1]",
    ]
    assert unsafe[0][1].startswith("dataset id 'bad name' is not a safe name")
    assert unsafe[1][1].startswith("run name '../TS_02' is not a safe name")


def test_annotation_source_shapes() -> None:
    def change(data: dict) -> None:
        sources = data["annotations"][0]["sources"]
        sources[0]["OrientedPoint"] = {"file_format": "copick", "glob_string": "a.json"}
        sources.append({"parent_filters": {"include": {"run": ["TS_1"]}}})
        mask = data["annotations"][1]["sources"][0]["SemanticSegmentationMask"]
        mask["glob_strings"] = ["labels/a.mrc"]

    assert pairs(change) == [
        (
            "annotations[0].sources[0]",
            "the annotation source has 2 shapes (OrientedPoint, Point): one per entry",
        ),
        ("annotations[0].sources[1]", "parent_filters given without an annotation shape"),
        ("annotations[1].sources[0].SemanticSegmentationMask", "give glob_string or glob_strings, not both"),
    ]


def test_same_shape_twice_needs_parent_filters() -> None:
    second = {"Point": {"file_format": "csv", "glob_string": "other/{run_name}.csv"}}

    def twice(data: dict) -> None:
        data["annotations"][0]["sources"].append(second)

    assert pairs(twice) == [
        (
            "annotations[0].sources[1].Point",
            "shape 'Point' is already used by sources[0] of this annotation: "
            "repeat a shape only with parent_filters on each entry",
        )
    ]

    def filtered(data: dict) -> None:
        sources = data["annotations"][0]["sources"]
        sources[0]["parent_filters"] = {"include": {"run": ["^TS_1$"]}}
        sources.append({**second, "parent_filters": {"exclude": {"run": ["^TS_1$"]}}})

    assert pairs(filtered) == []


def test_duplicate_annotation_ingest_id() -> None:
    data = VALID_YAML.replace("annotation_ingest_id: membrane-1", "annotation_ingest_id: ribosome-1")
    (issue,) = rule_issues(data.encode())
    assert issue.yaml_path == "annotations[1].metadata.annotation_ingest_id"
    assert issue.message == "annotation_ingest_id 'ribosome-1' is already used by annotations[0]"
    assert issue.line == [n for n, line in enumerate(data.splitlines(), 1) if "ribosome-1" in line][1]


@pytest.mark.parametrize("ingest_id", ["a/b-1", "../up-1", "with space-1", ""])
def test_unsafe_annotation_ingest_id(ingest_id: str) -> None:
    def change(data: dict) -> None:
        data["annotations"][0]["metadata"]["annotation_ingest_id"] = ingest_id

    ((path, message),) = pairs(change)
    assert path == "annotations[0].metadata.annotation_ingest_id"
    expected = (
        "must not be empty" if not ingest_id else f"annotation_ingest_id {ingest_id!r} is not a safe name"
    )
    assert expected in message


def test_portal_style_ingest_ids_are_accepted() -> None:
    def change(data: dict) -> None:
        data["annotations"][0]["metadata"]["annotation_ingest_id"] = "byu_kaggle_flagellar_motor_10485"

    assert pairs(change) == []


def test_annotation_method_and_confidence_rules() -> None:
    def change(data: dict) -> None:
        data["annotations"][0]["metadata"]["ground_truth_status"] = True
        data["annotations"][1]["metadata"]["confidence"] = {"precision": 90, "recall": 80}

    assert pairs(change) == [
        (
            "annotations[0].metadata.ground_truth_status",
            "an annotation with method_type automated cannot have ground_truth_status true",
        ),
        (
            "annotations[1].metadata.confidence.precision",
            "precision needs confidence.ground_truth_used (what it was measured against)",
        ),
        (
            "annotations[1].metadata.confidence.recall",
            "recall needs confidence.ground_truth_used (what it was measured against)",
        ),
    ]

    def measured(data: dict) -> None:
        data["annotations"][1]["metadata"]["confidence"] = {
            "precision": 90,
            "ground_truth_used": "manual picks",
        }

    assert pairs(measured) == []


def test_authors_need_primary_and_corresponding() -> None:
    def change(data: dict) -> None:
        data["tomograms"][0]["metadata"]["authors"] = [{"name": "Solo", "primary_author_status": True}]
        data["datasets"][0]["metadata"]["authors"] = [{"name": "Other", "corresponding_author_status": True}]

    assert pairs(change) == [
        ("datasets[0].metadata.authors", "needs at least one author with primary_author_status: true"),
        ("tomograms[0].metadata.authors", "needs at least one author with corresponding_author_status: true"),
    ]


def test_deposition_date_after_release_date() -> None:
    data = VALID_YAML.replace("deposition_date: '2024-01-10'", "deposition_date: '2024-03-01'")
    issues = rule_issues(data.encode())
    assert {issue.yaml_path for issue in issues} == {
        f"{section}.metadata.dates.deposition_date"
        for section in ("depositions[0]", "datasets[0]", "tomograms[0]", "annotations[0]", "annotations[1]")
    }
    assert {issue.message for issue in issues} == {
        "deposition_date 2024-03-01 is after release_date 2024-02-01"
    }
    assert {issue.line for issue in issues} == {line_of(data, "deposition_date:")}


@pytest.mark.parametrize(
    ("sample_type", "required"),
    [("cell_line", "cell_strain"), ("tissue", "tissue"), ("organism", "tissue"), ("virus", "cell_component")],
)
def test_sample_type_implications(sample_type: str, required: str) -> None:
    def change(data: dict) -> None:
        data["datasets"][0]["metadata"]["sample_type"] = sample_type

    assert pairs(change) == [
        (f"datasets[0].metadata.{required}", f"sample_type {sample_type!r} requires {required}")
    ]


def test_primary_cell_culture_requires_cell_type() -> None:
    def change(data: dict) -> None:
        del data["datasets"][0]["metadata"]["cell_type"]

    assert pairs(change) == [
        ("datasets[0].metadata.cell_type", "sample_type 'primary_cell_culture' requires cell_type")
    ]


def test_dose_rate_and_tilt_range() -> None:
    def change(data: dict) -> None:
        data["frames"][0]["metadata"]["dose_rate"] = 0
        data["tiltseries"][0]["metadata"]["tilt_range"] = {"min": 30, "max": -30}

    assert pairs(change) == [
        ("frames[0].metadata.dose_rate", "dose_rate must be > 0, got 0"),
        ("tiltseries[0].metadata.tilt_range", "tilt_range min 30 is greater than max -30"),
    ]


def test_section_dependencies() -> None:
    assert pairs(lambda data: data.pop("frames")) == [
        (
            "collection_metadata",
            "a collection_metadata block requires a frames block "
            "(use a literal source with value [default] when there are no frame files)",
        )
    ]

    def no_mdoc(data: dict) -> None:
        data.pop("collection_metadata")

    assert pairs(no_mdoc) == []
    assert warning_pairs(no_mdoc) == [
        (
            "tiltseries",
            "a tiltseries block without a collection_metadata block (mdoc files): the portal requires one "
            "unless the dataset is in its validation exclusions (facts §1.7)",
        )
    ]


class RecordingNetwork:
    """An online-check service stand-in that rejects the identifiers it is told to and records every call."""

    def __init__(self, bad: set[str]) -> None:
        self.bad = bad
        self.calls: list[tuple[str, str]] = []

    def _answer(self, kind: str, value: str) -> str | None:
        self.calls.append((kind, value))
        return "not found" if value in self.bad else None

    def check_orcid(self, orcid: str) -> str | None:
        return self._answer("orcid", orcid)

    def check_doi(self, doi: str) -> str | None:
        return self._answer("doi", doi)

    def check_database_entry(self, entry: str) -> str | None:
        return self._answer("entry", entry)

    def check_ontology_term(self, term_id: str, name: str) -> str | None:
        return self._answer("term", f"{term_id}={name}")

    def check_image_url(self, url: str) -> str | None:
        return self._answer("image", url)


def test_network_hook_is_off_by_default_and_called_once_per_identifier() -> None:
    def change(data: dict) -> None:
        data["datasets"][0]["metadata"]["cross_references"] = {
            "publications": "doi:10.1101/2022.04.12.488077",
            "related_database_entries": "EMPIAR-10988, EMD-14404",
        }
        data["dataset_keyphotos"] = [
            {
                "sources": [
                    {"literal": {"value": {"snapshot": "https://example.org/s.png", "thumbnail": None}}}
                ]
            }
        ]

    config = load_config(broken(change), source=SOURCE)
    assert check_rules(config, source=SOURCE) == []
    network = RecordingNetwork(bad={"0000-0002-1825-0097", "EMD-14404"})
    issues = check_rules(config, source=SOURCE, network=network)
    assert [(issue.yaml_path, issue.message) for issue in issues] == [
        ("datasets[0].metadata.authors[0].ORCID", "ORCID '0000-0002-1825-0097': not found"),
        ("datasets[0].metadata.cross_references.related_database_entries", "entry 'EMD-14404': not found"),
    ]
    assert network.calls.count(("orcid", "0000-0002-1825-0097")) == 1
    assert ("doi", "10.1101/2022.04.12.488077") in network.calls
    assert ("term", "GO:0022626=cytosolic ribosome") in network.calls
    assert ("term", "NCBITaxon:4896=Schizosaccharomyces pombe") in network.calls
    assert ("image", "https://example.org/s.png") in network.calls
    assert not any(value.startswith("unknown") for _, value in network.calls)


def _set_in(*path: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return change


def _many(*changes: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for one in changes:
            one(data)

    return change


def _no_run_map(data: dict[str, Any]) -> None:
    del data["standardization_config"]["run_data_map_file"]


_RUN_GLOB = ("runs", 0, "sources", 0, "source_glob")
_TOMO_GLOB = ("tomograms", 0, "sources", 0, "source_glob", "list_glob")
_VS_VALUE = ("voxel_spacings", 0, "sources", 0, "literal", "value")
_MASK = ("annotations", 1, "sources", 0, "SemanticSegmentationMask")
_POINT = {"Point": {"file_format": "csv", "glob_string": "other/{run_name}.csv"}}
_NEW_DATES = {
    "deposition_date": "2024-03-01",
    "last_modified_date": "2024-02-01",
    "release_date": "2024-02-01",
}
_ORIENTED = {"file_format": "copick", "glob_string": "a"}
_SOLO = [{"name": "Solo", "primary_author_status": True}]
_DUPLICATE_KEY = VALID_YAML.replace(
    "  source_prefix: lab/deposit\n", "  source_prefix: lab/deposit\n  source_prefix: lab/other\n"
).encode()

# One broken config per rule of RULES, and the YAML path its issue must name.
RULE_CASES: dict[str, tuple[Callable[[dict[str, Any]], Any] | bytes, str]] = {
    "frames-for-collection-metadata": (lambda data: data.pop("frames"), "collection_metadata"),
    "one-finder": (
        _set_in("runs", 0, "sources", 0, "literal", value={"value": ["TS_1"]}),
        "runs[0].sources[0]",
    ),
    "dataset-literal-type": (
        _set_in("datasets", 0, "sources", 0, "literal", "value", value=[10001]),
        "datasets[0].sources[0].literal.value[0]",
    ),
    "deposition-literal-type": (
        _set_in("depositions", 0, "sources", 0, "literal", "value", value=[True]),
        "depositions[0].sources[0].literal.value[0]",
    ),
    "one-shape": (
        _set_in("annotations", 0, "sources", 0, "OrientedPoint", value=_ORIENTED),
        "annotations[0].sources[0]",
    ),
    "glob-string-or-strings": (
        _set_in(*_MASK, "glob_strings", value=["labels/a.mrc"]),
        "annotations[1].sources[0].SemanticSegmentationMask",
    ),
    "repeated-shape": (
        lambda data: data["annotations"][0]["sources"].append(_POINT),
        "annotations[0].sources[1].Point",
    ),
    "annotation-ingest-id": (
        _set_in("annotations", 1, "metadata", "annotation_ingest_id", value="ribosome-1"),
        "annotations[1].metadata.annotation_ingest_id",
    ),
    "automated-ground-truth": (
        _set_in("annotations", 0, "metadata", "ground_truth_status", value=True),
        "annotations[0].metadata.ground_truth_status",
    ),
    "confidence-ground-truth": (
        _set_in("annotations", 1, "metadata", "confidence", value={"precision": 90}),
        "annotations[1].metadata.confidence.precision",
    ),
    "authors": (
        _set_in("tomograms", 0, "metadata", "authors", value=_SOLO),
        "tomograms[0].metadata.authors",
    ),
    "dates": (
        _set_in("depositions", 0, "metadata", "dates", value=_NEW_DATES),
        "depositions[0].metadata.dates.deposition_date",
    ),
    "sample-type": (
        _set_in("datasets", 0, "metadata", "sample_type", value="cell_line"),
        "datasets[0].metadata.cell_strain",
    ),
    "dose-rate": (_set_in("frames", 0, "metadata", "dose_rate", value=-1), "frames[0].metadata.dose_rate"),
    "tilt-range": (
        _set_in("tiltseries", 0, "metadata", "tilt_range", value={"min": 30, "max": -30}),
        "tiltseries[0].metadata.tilt_range",
    ),
    "regex": (_set_in(*_RUN_GLOB, "name_regex", value="(.*"), "runs[0].sources[0].source_glob.name_regex"),
    "template-syntax": (
        _set_in(*_TOMO_GLOB, value="tomograms/{run_name"),
        "tomograms[0].sources[0].source_glob.list_glob",
    ),
    "template-variable": (
        _many(_no_run_map, _set_in(*_TOMO_GLOB, value="tomograms/{run_nam}.rec")),
        "tomograms[0].sources[0].source_glob.list_glob",
    ),
    "metadata-template-column": (_no_run_map, "frames[0].metadata.dose_rate"),
    "voxel-spacing-minimum": (
        _set_in(*_VS_VALUE, value=[0.0004]),
        "voxel_spacings[0].sources[0].literal.value[0]",
    ),
    "network": (lambda data: None, "datasets[0].metadata.authors[0].ORCID"),
    "collection-metadata-for-tiltseries": (lambda data: data.pop("collection_metadata"), "tiltseries"),
    "voxel-spacing-range": (
        _set_in(*_VS_VALUE, value=[13.48, 35]),
        "voxel_spacings[0].sources[0].literal.value[1]",
    ),
    "template-variable-spelling": (
        _set_in(*_TOMO_GLOB, value="tomograms/{run_nam}.rec"),
        "tomograms[0].sources[0].source_glob.list_glob",
    ),
    "config-version": (_set_in("version", value="1.4.0"), "version"),
    "path-inside-bucket": (
        _set_in(*_RUN_GLOB, "list_glob", value="../x/*"),
        "runs[0].sources[0].source_glob.list_glob",
    ),
    "safe-name": (
        _set_in("runs", 0, "sources", 0, value={"literal": {"value": ["TS 01"]}}),
        "runs[0].sources[0].literal.value[0]",
    ),
    "duplicate-key": (_DUPLICATE_KEY, ""),
}


def test_every_rule_names_its_source_and_has_a_case() -> None:
    assert set(RULE_CASES) == set(RULES)
    for name, rule in RULES.items():
        assert rule.severity in ("error", "warning"), name
        if rule.severity == "error":
            assert rule.source.startswith(("facts §", "schema ")), name
        else:
            assert rule.source, name


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rule_reports_its_yaml_path_with_its_severity(name: str) -> None:
    change, yaml_path = RULE_CASES[name]
    data = change if isinstance(change, bytes) else broken(change)
    warnings: list[ConfigIssue] = []
    config = load_config(data, source=SOURCE, warnings=warnings)
    network = RecordingNetwork(bad={"0000-0002-1825-0097"}) if name == "network" else None
    issues = warnings + config_issues(config, source=SOURCE, network=network)
    found = [issue for issue in issues if issue.rule == name]
    assert found, issues
    assert found[0].yaml_path == yaml_path
    assert found[0].line is not None and found[0].file == SOURCE
    assert {issue.severity for issue in found} == {RULES[name].severity}
    errors = check_rules(config, source=SOURCE, network=network)
    if RULES[name].severity == "error":
        # Refused: ingestion loads configs through check_rules and stops on any of its issues.
        assert any(issue.rule == name and issue.yaml_path == yaml_path for issue in errors)
    else:
        # Reported, but the config loads and passes every error rule.
        assert errors == []


def test_unknown_template_variable_lists_the_known_ones() -> None:
    change = _many(_no_run_map, _set_in(*_TOMO_GLOB, value="tomograms/{run_nam}.rec"))
    data = broken(change)
    (issue,) = [issue for issue in rule_issues(data) if issue.rule == "template-variable"]
    assert issue.line == line_of(data, "{run_nam}")
    assert issue.message == (
        "'tomograms/{run_nam}.rec' uses unknown variable {run_nam}; known variables: dataset_name, "
        "dataset_output_path, dataset_path, deposition_id, deposition_name, deposition_output_path, "
        "deposition_path, int_dataset_name, int_deposition_name, int_run_name, int_voxel_spacing_name, "
        "output_path, run_name, run_output_path, run_path, voxel_spacing_name, voxel_spacing_output_path, "
        "voxel_spacing_path; run_data_map columns are only known at ingest time, and this config has no "
        "run_data_map_file"
    )


def test_run_map_columns_are_not_known_above_a_run() -> None:
    data = broken(_set_in(*_RUN_GLOB, "list_glob", value="{run_name}/*.rec"))
    (issue,) = rule_issues(data)
    assert issue.yaml_path == "runs[0].sources[0].source_glob.list_glob"
    assert issue.message.startswith("'{run_name}/*.rec' uses unknown variable {run_name}; known variables: ")
    assert issue.message.endswith("; run_data_map columns are only available under a run, not in runs")


def test_a_possible_run_map_column_is_accepted_when_the_config_has_a_run_map() -> None:
    # `{grid}` can only be a column of the run map, which is read at ingest time: nothing to report.
    config = load_config(broken(_set_in(*_TOMO_GLOB, value="{grid}/{run_name}.rec")), source=SOURCE)
    assert config_issues(config, source=SOURCE) == []
    # A misspelt built-in name is accepted too, with a warning.
    (issue,) = warning_issues(broken(_set_in(*_TOMO_GLOB, value="tomograms/{run_nam}.rec")))
    assert issue.message == (
        "'tomograms/{run_nam}.rec' uses {run_nam}, which is not a built-in variable "
        "(did you mean {run_name}?): it must be a column of run_data_map_file 'run_data_map.tsv', which is only read at ingest time"
    )


def test_variables_of_every_ancestor_and_of_the_entity_itself() -> None:
    def change(data: dict) -> None:
        _no_run_map(data)  # so that any name that is not built in is an error
        data["frames"][0]["metadata"]["dose_rate"] = 1.5
        data["tiltseries"][0]["metadata"]["tilt_series_quality"] = 4
        data["tomograms"][0]["sources"][0]["source_glob"]["list_glob"] = (
            "{deposition_id}/{dataset_name}/{run_name}/VS{voxel_spacing_name}/{int_run_name}.rec"
        )
        data["annotations"][0]["sources"][0]["Point"]["filter_value"] = "{annotation_id}-{run_name}"
        ctf_glob = {"source_glob": {"list_glob": "{tiltseries_name}/{run_output_path}.txt"}}
        data["ctfs"] = [{"metadata": {"format": "CTFFIND"}, "sources": [ctf_glob]}]
        data["standardization_config"]["run_to_tomo_map_csv"] = "tomo_map.csv"
        data["rawtilts"] = [{"sources": [{"source_glob": {"list_glob": "{mapped_tomo_name}.rawtlt"}}]}]
        data["gains"] = [{"sources": [{"source_glob": {"list_glob": "{mapped_frame_name}_gain.mrc"}}]}]
        data["collection_metadata"][0]["sources"][0]["source_glob"]["list_glob"] = "{annotation_id}.mdoc"

    # The run_to_frame map is not configured, and annotations are not ancestors of collection_metadata.
    assert [(path, message.split(";")[0]) for path, message in pairs(change)] == [
        (
            "collection_metadata[0].sources[0].source_glob.list_glob",
            "'{annotation_id}.mdoc' uses unknown variable {annotation_id}",
        ),
        (
            "gains[0].sources[0].source_glob.list_glob",
            "'{mapped_frame_name}_gain.mrc' uses unknown variable {mapped_frame_name}",
        ),
    ]


def test_metadata_templates_need_a_run_map() -> None:
    def change(data: dict) -> None:
        _no_run_map(data)
        data["tomograms"][0]["metadata"]["voxel_spacing"] = "float {vs}"
        data["voxel_spacings"][0]["sources"][0]["literal"]["value"] = ["float {tomo-voxel_spacing}"]

    found = pairs(change)
    assert found == [
        (
            "voxel_spacings[0].sources[0].literal.value[0]",
            "'float {tomo-voxel_spacing}' is filled from the run_data_map_file column 'tomo-voxel_spacing', "
            "but this config has no run_data_map_file",
        ),
        (
            "frames[0].metadata.dose_rate",
            "'float {dose_rate}' is filled from the run_data_map_file column 'dose_rate', "
            "but this config has no run_data_map_file",
        ),
        (
            "tiltseries[0].metadata.tilt_series_quality",
            "'int {quality}' is filled from the run_data_map_file column 'quality', "
            "but this config has no run_data_map_file",
        ),
        (
            "tomograms[0].metadata.voxel_spacing",
            "'float {vs}' is filled from the run_data_map_file column 'vs', "
            "but this config has no run_data_map_file",
        ),
    ]


@pytest.mark.parametrize(
    ("spacing", "reported"), [(1.0, True), (1.001, False), (29.999, False), (30, True), (0, None)]
)
def test_voxel_spacings_outside_the_portal_range(spacing: float, reported: bool | None) -> None:
    data = broken(_set_in(*_VS_VALUE, value=[13.48, spacing]))
    path = "voxel_spacings[0].sources[0].literal.value[1]"
    if reported is None:
        assert pairs(_set_in(*_VS_VALUE, value=[13.48, spacing])) == [
            (path, "voxel spacing 0 Å is below the portal's minimum of 0.001 Å")
        ]
        return
    assert rule_issues(data) == []
    warnings = warning_issues(data)
    if not reported:
        assert warnings == []
        return
    (issue,) = warnings
    assert (issue.yaml_path, issue.line) == (path, line_of(data, f"- {spacing}"))
    assert issue.message == (
        f"voxel spacing {spacing} Å is outside the portal's range (1 Å, 30 Å), exclusive: "
        "the validation gate will refuse its tomograms and annotations (facts §4.2)"
    )
