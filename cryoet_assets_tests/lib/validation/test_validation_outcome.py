from __future__ import annotations

import json

import numpy as np

from cryoet_assets.lib.validation.outcome import Failure, Statistics, ValidationOutcome, jsonable


def _outcome(*failures: Failure) -> ValidationOutcome:
    severity = None
    if failures:
        severity = "error" if any(f.severity == "error" for f in failures) else "warn"
    return ValidationOutcome(
        suite="dataset_metadata",
        passed=not failures,
        severity=severity,
        statistics=Statistics(evaluated=10, successful=10 - len(failures), unsuccessful=len(failures)),
        failures=list(failures),
    )


def test_passing_summary_is_one_line():
    assert _outcome().summary() == "dataset_metadata: passed, 10 expectations"


def test_failing_summary_names_reason_and_items_and_counts_the_rest():
    failures = [
        Failure("expect_x", "author_name", [f"10000/dataset_metadata.json: authors[{i}]"], "name empty", [""])
        for i in range(5)
    ]
    summary = _outcome(*failures).summary()
    assert "\n" not in summary
    assert summary.startswith("dataset_metadata: failed (error), 5 of 10 expectations: name empty at ")
    assert "10000/dataset_metadata.json: authors[2]" in summary
    assert "authors[3]" not in summary and summary.endswith("; and 2 more")


def test_to_metadata_is_plain_json_even_with_numpy_and_nan_observed():
    failure = Failure(
        "expect_column_values_to_be_between",
        "voxel_spacing",
        ["a", "b"],
        "out of range",
        [np.float64(40.5), float("nan"), np.int64(3), (1, 2), object],
        severity="warn",
    )
    meta = _outcome(failure).to_metadata()
    assert json.loads(json.dumps(meta)) == meta
    assert meta["severity"] == "warn"
    assert meta["statistics"] == {"evaluated": 10, "successful": 9, "unsuccessful": 1}
    assert meta["failures"][0]["observed"] == [40.5, None, 3, [1, 2], str(object)]
    assert meta["failures"][0]["where"] == ["a", "b"]


def test_failures_of_filters_by_expectation_and_column():
    a = Failure("expect_a", "x", ["w"], "r")
    b = Failure("expect_a", "y", ["w"], "r")
    outcome = _outcome(a, b)
    assert outcome.failures_of("expect_a") == [a, b]
    assert outcome.failures_of("expect_a", column="y") == [b]
    assert outcome.failures_of("expect_b") == []


def test_jsonable_keeps_plain_values():
    assert jsonable({"a": [1, "b", None, True, 2.5]}) == {"a": [1, "b", None, True, 2.5]}


def test_summary_names_each_failed_rule_with_its_counts():
    counted = Failure("expect_column_values_to_be_between", "voxel_spacing", ["20999/TS_002"], "out of range",
                      [40.5], expected={"max_value": 30.0}, failed_count=1, checked_count=2)
    uncounted = Failure("tomogram_standardized", None, ["TS_003.mrc"], "could not be standardized: truncated")
    summary = _outcome(counted, uncounted).summary()
    assert summary == (
        "dataset_metadata: failed (error), 2 of 10 expectations: out of range at 20999/TS_002 "
        "(expect_column_values_to_be_between on voxel_spacing: 1 of 2 failed); "
        "could not be standardized: truncated at TS_003.mrc (tomogram_standardized)"
    )
    meta = counted.to_metadata()
    assert (meta["expected"], meta["failed_count"], meta["checked_count"]) == ({"max_value": 30.0}, 1, 2)
