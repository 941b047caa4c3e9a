from __future__ import annotations

from typing import Any

import pytest

from cryoet_assets.families.dataset.validation import validate_dataset
from cryoet_assets.families.deposition.validation import validate_deposition
from cryoet_assets.families.run.validation import validate_run, validate_voxel_spacings
from cryoet_assets.lib.validation import ValidationOutcome, key_photo_paths

# The same paths the conftest fixtures use; test_photo_paths_come_from_the_document keeps them in step.
DEPOSITION_PATH = "depositions_metadata/10301/deposition_metadata.json"
SNAPSHOT = "depositions_metadata/10301/Images/snapshot.png"
THUMBNAIL = "depositions_metadata/10301/Images/thumbnail.jpg"
DATASET_PATH = "10000/dataset_metadata.json"
RUN_PATH = "10000/TS_026/run_metadata.json"
LENGTHS = "expect_column_value_lengths_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
BETWEEN = "expect_column_values_to_be_between"
NOT_MATCH = "expect_column_values_to_not_match_regex"
PAIR_EQUAL = "expect_column_pair_values_to_be_equal"
PAIR_GREATER = "expect_column_pair_values_a_to_be_greater_than_b"


def _only(outcome: ValidationOutcome, expectation: str, column: str):
    """The single failure of `expectation` on `column`, after checking nothing else failed."""
    failed = {(f.expectation, f.column) for f in outcome.failures}
    assert failed == {(expectation, column)}, outcome.summary()
    return outcome.failures[0]


def test_good_deposition_passes(deposition_doc, good_photos):
    outcome = validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos)
    assert (outcome.passed, outcome.severity, outcome.failures) == (True, None, [])
    assert outcome.suite == "deposition_metadata"
    assert outcome.statistics.evaluated == outcome.statistics.successful > 15


def test_deposition_without_key_photos_set_passes(deposition_doc):
    deposition_doc["key_photos"] = {"snapshot": None, "thumbnail": None}
    assert validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos={}).passed


def _set(key: str, value: Any):
    def change(doc: dict[str, Any]) -> None:
        doc[key] = value

    return change


def _drop(key: str):
    def change(doc: dict[str, Any]) -> None:
        del doc[key]

    return change


def _author(index: int, **fields: Any):
    def change(doc: dict[str, Any]) -> None:
        doc["authors"][index].update(fields)

    return change


def _no_author_flag(flag: str):
    def change(doc: dict[str, Any]) -> None:
        for author in doc["authors"]:
            author[flag] = False

    return change


BAD_DEPOSITIONS = [
    ("empty title", _set("deposition_title", ""), LENGTHS, "deposition_title", "", "error"),
    ("missing description", _drop("deposition_description"), LENGTHS, "deposition_description", "", "error"),
    ("identifier 0", _set("deposition_identifier", 0), LENGTHS, "deposition_identifier", "", "error"),
    ("deposition_id null", _set("deposition_id", None), LENGTHS, "deposition_id", "", "error"),
    ("blank title", _set("deposition_title", "   "), NOT_MATCH, "deposition_title", "   ", "warn"),
    ("authors not a list", _set("authors", "Ada Author"), IN_SET, "authors_type", "string", "error"),
    ("no corresponding author", _no_author_flag("corresponding_author_status"), BETWEEN,
     "corresponding_author_count", 0, "error"),
    ("no primary author", _no_author_flag("primary_author_status"), BETWEEN,
     "primary_author_count", 0, "error"),
    ("key_photos missing", _drop("key_photos"), IN_SET, "key_photos_type", "missing", "error"),
]


@pytest.mark.parametrize(
    ("change", "expectation", "column", "observed", "severity"),
    [case[1:] for case in BAD_DEPOSITIONS],
    ids=[case[0] for case in BAD_DEPOSITIONS],
)
def test_bad_deposition_document_field(
    deposition_doc, good_photos, change, expectation, column, observed, severity
):
    change(deposition_doc)
    outcome = validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos)
    failure = _only(outcome, expectation, column)
    assert failure.where == [DEPOSITION_PATH]
    assert failure.observed == [observed]
    assert (outcome.passed, outcome.severity, failure.severity) == (False, severity, severity)


def test_empty_author_list_fails_count_and_both_roles(deposition_doc, good_photos):
    deposition_doc["authors"] = []
    outcome = validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos)
    assert {f.column for f in outcome.failures} == {
        "author_count",
        "corresponding_author_count",
        "primary_author_count",
    }
    assert outcome.failures_of(BETWEEN, column="author_count")[0].observed == [0]
    assert outcome.severity == "error"


@pytest.mark.parametrize(
    ("author", "expectation", "column", "observed", "severity"),
    [
        ({"name": ""}, LENGTHS, "author_name", "", "error"),
        ({"ORCID": "0000-0002-1825-0097"}, LENGTHS, "author_name", "", "error"),
        ({"name": "  "}, NOT_MATCH, "author_name", "  ", "warn"),
        ("Ben Author", IN_SET, "author_type", "string", "error"),
    ],
    ids=["empty name", "no name", "blank name", "author is a string"],
)
def test_bad_author_is_named_by_its_index(
    deposition_doc, good_photos, author, expectation, column, observed, severity
):
    deposition_doc["authors"][1] = author
    outcome = validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos)
    failure = _only(outcome, expectation, column)
    assert failure.where == [f"{DEPOSITION_PATH}: authors[1]"]
    assert failure.observed == [observed]
    assert outcome.severity == severity


def test_document_that_is_not_an_object_fails_without_crashing(good_photos):
    outcome = validate_deposition(["not", "a", "dict"], path=DEPOSITION_PATH, photos=good_photos)
    assert outcome.failures_of(IN_SET, column="document_type")[0].observed == ["array"]
    assert outcome.severity == "error"


def test_photo_paths_come_from_the_document(deposition_doc):
    assert key_photo_paths(deposition_doc) == {"snapshot": SNAPSHOT, "thumbnail": THUMBNAIL}


def _photo_where(kind: str, path: str) -> str:
    return f"{DEPOSITION_PATH}: key_photos.{kind} ({path})"


def test_missing_photo_names_the_photo(deposition_doc, good_photos):
    del good_photos[THUMBNAIL]
    outcome = validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos)
    failure = _only(outcome, IN_SET, "photo_found")
    assert failure.where == [_photo_where("thumbnail", THUMBNAIL)]
    assert failure.observed == [False]
    assert outcome.severity == "error"
    explicit_none = validate_deposition(
        deposition_doc, path=DEPOSITION_PATH, photos={**good_photos, THUMBNAIL: None}
    )
    assert explicit_none.failures == outcome.failures


def test_truncated_photo_fails_verification(deposition_doc, good_photos, image):
    good_photos[SNAPSHOT] = image()[:100]
    outcome = validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos)
    failure = _only(outcome, IN_SET, "photo_error")
    assert failure.where == [_photo_where("snapshot", SNAPSHOT)]
    assert "Truncated" in failure.observed[0]


def test_small_photo_fails_height_and_width(deposition_doc, good_photos, image):
    good_photos[SNAPSHOT] = image(10, 10)
    outcome = validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos)
    assert {f.column for f in outcome.failures} == {
        "photo_height, photo_min_height",
        "photo_width, photo_min_width",
    }
    height = outcome.failures_of(PAIR_GREATER, column="photo_height, photo_min_height")[0]
    assert height.where == [_photo_where("snapshot", SNAPSHOT)]
    assert height.observed == [[10, 50]]


def test_narrow_photo_fails_width_only(deposition_doc, good_photos, image):
    good_photos[THUMBNAIL] = image(49, 200, "JPEG")
    outcome = validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos)
    failure = _only(outcome, PAIR_GREATER, "photo_width, photo_min_width")
    assert failure.where == [_photo_where("thumbnail", THUMBNAIL)]


def test_bmp_photo_fails_format(deposition_doc, good_photos, image):
    good_photos[SNAPSHOT] = image(100, 100, "BMP")
    outcome = validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos)
    failure = _only(outcome, IN_SET, "photo_format")
    assert failure.observed == ["BMP"]
    assert failure.where == [_photo_where("snapshot", SNAPSHOT)]


def test_gif_photo_at_exact_minimum_passes(deposition_doc, good_photos, image):
    good_photos[SNAPSHOT] = image(50, 50, "GIF")
    assert validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos).passed


def test_several_problems_are_all_reported(deposition_doc, good_photos, image):
    deposition_doc["deposition_title"] = ""
    deposition_doc["authors"][2]["name"] = "   "
    good_photos[SNAPSHOT] = image(100, 100, "BMP")
    outcome = validate_deposition(deposition_doc, path=DEPOSITION_PATH, photos=good_photos)
    assert [(f.column, f.severity) for f in outcome.failures] == [
        ("deposition_title", "error"),
        ("photo_format", "error"),
        ("author_name", "warn"),
    ]
    assert outcome.statistics.unsuccessful == 3
    assert "deposition_title must be non-empty at " + DEPOSITION_PATH in outcome.summary()


def test_good_dataset_passes(dataset_doc, image):
    photos = {"10000/Images/snapshot.png": image()}
    outcome = validate_dataset(dataset_doc, path=DATASET_PATH, photos=photos, deposition_exists=True)
    assert (outcome.passed, outcome.severity, outcome.suite) == (True, None, "dataset_metadata")


def test_dataset_whose_deposition_is_missing_fails(dataset_doc, image):
    photos = {"10000/Images/snapshot.png": image()}
    outcome = validate_dataset(dataset_doc, path=DATASET_PATH, photos=photos, deposition_exists=False)
    failure = _only(outcome, IN_SET, "deposition_exists")
    assert failure.where == [DATASET_PATH]
    assert outcome.severity == "error"


@pytest.mark.parametrize("field", ["dataset_title", "dataset_description", "dataset_identifier"])
def test_dataset_required_fields(dataset_doc, image, field):
    dataset_doc[field] = None
    photos = {"10000/Images/snapshot.png": image()}
    outcome = validate_dataset(dataset_doc, path=DATASET_PATH, photos=photos, deposition_exists=True)
    assert _only(outcome, LENGTHS, field).where == [DATASET_PATH]


def test_dataset_runs_basic_and_photo_checks(dataset_doc):
    dataset_doc["authors"][0]["name"] = ""
    outcome = validate_dataset(dataset_doc, path=DATASET_PATH, photos={}, deposition_exists=True)
    assert {(f.column, tuple(f.where)) for f in outcome.failures} == {
        ("author_name", (f"{DATASET_PATH}: authors[0]",)),
        ("photo_found", (f"{DATASET_PATH}: key_photos.snapshot (10000/Images/snapshot.png)",)),
    }


def test_good_run_passes_with_or_without_timestamp():
    doc = {"run_name": "TS_026", "deposition_id": 10301, "last_updated_at": 1718000000}
    assert validate_run(doc, path=RUN_PATH, dir_name="TS_026", deposition_exists=True).passed
    del doc["last_updated_at"]
    outcome = validate_run(doc, path=RUN_PATH, dir_name="TS_026", deposition_exists=True)
    assert (outcome.passed, outcome.severity, outcome.suite) == (True, None, "run_metadata")


@pytest.mark.parametrize(
    ("doc", "expectation", "column", "observed"),
    [
        ({"run_name": "TS_027"}, PAIR_EQUAL, "run_name, dir_name", [["TS_027", "TS_026"]]),
        ({}, PAIR_EQUAL, "run_name, dir_name", [[None, "TS_026"]]),
        ({"run_name": "TS_026", "last_updated_at": 1718000000.5}, IN_SET, "last_updated_at_type", ["number"]),
        ({"run_name": "TS_026", "last_updated_at": "1718000000"}, IN_SET, "last_updated_at_type", ["string"]),
        # Stricter than the portal, whose isinstance(True, int) lets a boolean through.
        ({"run_name": "TS_026", "last_updated_at": True}, IN_SET, "last_updated_at_type", ["boolean"]),
        ({"run_name": 26}, PAIR_EQUAL, "run_name, dir_name", [[26, "TS_026"]]),
    ],
    ids=["other name", "no name", "float timestamp", "string timestamp", "boolean timestamp", "int name"],
)
def test_bad_run(doc, expectation, column, observed):
    outcome = validate_run(doc, path=RUN_PATH, dir_name="TS_026", deposition_exists=True)
    failure = _only(outcome, expectation, column)
    assert failure.where == [RUN_PATH]
    assert failure.observed == observed
    assert outcome.severity == "error"


def test_run_whose_deposition_is_missing_fails():
    outcome = validate_run({"run_name": "TS_026"}, path=RUN_PATH, dir_name="TS_026", deposition_exists=False)
    assert _only(outcome, IN_SET, "deposition_exists").where == [RUN_PATH]


VS_DIR = "10000/TS_026/Reconstructions/VoxelSpacing"


def _spacings(*names: str) -> ValidationOutcome:
    return validate_voxel_spacings(list(names), where=[f"{VS_DIR}{name}" for name in names])


def test_good_voxel_spacings_pass():
    outcome = _spacings("13.480", "1.002", "29.999", "10.012", "13.999")
    assert (outcome.passed, outcome.severity, outcome.suite) == (True, None, "voxel_spacing_names")
    assert _spacings().passed


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("13.48", {"voxel_spacing_name"}),
        ("13.4800", {"voxel_spacing_name"}),
        ("abc", {"voxel_spacing_name"}),
        ("VoxelSpacing13.480", {"voxel_spacing_name"}),
        ("0.500", {"voxel_spacing"}),
        ("30.500", {"voxel_spacing"}),
        ("30.000", {"voxel_spacing", "voxel_spacing_fraction"}),
        ("1.000", {"voxel_spacing", "voxel_spacing_fraction"}),
    ],
)
def test_bad_voxel_spacing(name, columns):
    outcome = _spacings("13.480", name)
    assert {f.column for f in outcome.failures} == columns
    assert all(f.where == [f"{VS_DIR}{name}"] for f in outcome.failures)
    assert outcome.severity == "error"


@pytest.mark.parametrize(
    "name",
    [
        "14.000",
        "10.000",
        # Literal reading of the portal's `approx(vs % 1, abs=0.001) != 0`: 14.001 % 1 is 0.000999...
        "14.001",
        "1.001",
    ],
)
def test_whole_number_voxel_spacing_is_a_warning(name):
    outcome = _spacings("13.480", name)
    assert not outcome.passed
    assert outcome.severity == "warn"
    assert [(f.column, f.severity, f.where) for f in outcome.failures] == [
        ("voxel_spacing_fraction", "warn", [f"{VS_DIR}{name}"])
    ]


def test_voxel_spacing_names_and_where_must_pair_up():
    with pytest.raises(ValueError, match="2 names but 1 where"):
        validate_voxel_spacings(["13.480", "14.500"], where=["a"])
