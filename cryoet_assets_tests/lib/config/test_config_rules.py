"""Rules beyond the schema: each broken config gives the issue it should, valid configs give none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from config_samples import VALID_YAML, broken, line_of

from cryoet_assets.lib.config.loader import ConfigIssue, load_config, load_config_file
from cryoet_assets.lib.config.rules import check_rules

SOURCE = "configs/test.yaml"


def rule_issues(data: bytes) -> list[ConfigIssue]:
    return check_rules(load_config(data, source=SOURCE), source=SOURCE)


def pairs(change: Callable[[dict[str, Any]], Any]) -> list[tuple[str, str]]:
    return [(issue.yaml_path, issue.message) for issue in rule_issues(broken(change))]


def test_valid_config_passes() -> None:
    assert rule_issues(VALID_YAML.encode()) == []


def test_reference_configs_pass(reference_configs: list[Path]) -> None:
    for path in reference_configs:
        assert check_rules(load_config_file(path), source=str(path)) == [], path.name


@pytest.mark.parametrize(
    ("glob", "reason"),
    [
        ("../x/*", "'../x/*' has a '..' component: a config must not reach outside its bucket root"),
        ("/etc/*", "'/etc/*' is an absolute path: paths and globs must be relative to the bucket root"),
        (
            "tomos/../../x",
            "'tomos/../../x' has a '..' component: a config must not reach outside its bucket root",
        ),
        (
            "C:\\data\\*",
            "'C:\\\\data\\\\*' is an absolute path: paths and globs must be relative to the bucket root",
        ),
        (
            "s3://other-bucket/*",
            "'s3://other-bucket/*' is a URL: paths and globs must be relative to the bucket root",
        ),
    ],
)
def test_globs_must_stay_inside_the_bucket_root(glob: str, reason: str) -> None:
    def change(data: dict) -> None:
        data["runs"][0]["sources"][0]["source_glob"]["list_glob"] = glob

    data = broken(change)
    (issue,) = rule_issues(data)
    assert issue.yaml_path == "runs[0].sources[0].source_glob.list_glob"
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

    found = dict(pairs(change))
    assert set(found) == {
        "standardization_config.source_prefix",
        "standardization_config.run_to_tomo_map_csv",
        "collection_metadata[0].sources[0].source_multi_glob.list_globs[1]",
        "annotations[0].sources[0].Point.glob_string",
        "tomograms[0].sources[0].destination_glob.list_glob",
        "dataset_keyphotos[0].sources[0].literal.value.snapshot",
    }
    assert found["annotations[0].sources[0].Point.glob_string"].endswith(
        "is an absolute path: paths and globs must be relative to the bucket root"
    )


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

    found = pairs(change)
    assert [path for path, _ in found] == [
        "depositions[0].sources[0].literal.value[1]",
        "depositions[0].sources[0].literal.value[2]",
        "datasets[0].sources[0].literal.value[0]",
        "datasets[0].sources[0].literal.value[2]",
        "runs[0].sources[0].literal.value[1]",
    ]
    messages = [message for _, message in found]
    assert messages[0] == "a deposition literal must be an integer, got True"
    assert messages[1] == "a deposition literal must be an integer, got '10000'"
    assert messages[2] == "a dataset literal must be a string such as '10001' (quote it), got 10001"
    assert messages[3].startswith("dataset id 'bad name' is not a safe name")
    assert messages[4].startswith("run name '../TS_02' is not a safe name")


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

    assert pairs(no_mdoc) == [("tiltseries", "a tiltseries block requires a collection_metadata block")]


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
