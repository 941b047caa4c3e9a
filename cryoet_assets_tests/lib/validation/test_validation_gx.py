from __future__ import annotations

import subprocess
import sys

import great_expectations.expectations as gxe
import pytest

from cryoet_assets.lib.validation.gx import (
    PassedSuites,
    expectation_digest,
    reusing,
    rows_frame,
    run_suite,
    suite_digest,
)

ROWS = [
    {"where": "doc.json", "title": "Ribosomes", "count": 3},
    {"where": "doc.json: authors[0]", "name": "  "},
    {"where": "doc.json: authors[1]", "name": ""},
    {"where": "doc.json: authors[2]", "name": "Cy"},
]


def _frame():
    return rows_frame(ROWS, columns=["where", "title", "count", "name"])


def test_passing_suite_has_no_severity_and_counts_every_expectation():
    outcome = run_suite(
        "t",
        _frame(),
        [
            gxe.ExpectColumnValueLengthsToBeBetween(column="title", min_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="count", min_value=1),
        ],
        where_column="where",
    )
    assert (outcome.passed, outcome.severity, outcome.failures) == (True, None, [])
    assert (outcome.statistics.evaluated, outcome.statistics.successful) == (2, 2)


def test_failures_name_rows_by_where_column_and_keep_observed_values_aligned():
    outcome = run_suite(
        "t",
        _frame(),
        [
            gxe.ExpectColumnValuesToMatchRegex(
                column="name", regex=r"\S", description="name must be non-blank"
            )
        ],
        where_column="where",
    )
    [failure] = outcome.failures
    assert failure.expectation == "expect_column_values_to_match_regex"
    assert failure.column == "name"
    assert failure.reason == "name must be non-blank"
    assert failure.where == ["doc.json: authors[0]", "doc.json: authors[1]"]
    assert failure.observed == ["  ", ""]
    assert (outcome.passed, outcome.severity) == (False, "error")


def test_warning_only_failures_fail_with_warn_severity_and_errors_sort_first():
    warn = gxe.ExpectColumnValuesToNotMatchRegex(column="name", regex=r"^\s+$", severity="warning")
    crit = gxe.ExpectColumnValuesToBeBetween(column="count", min_value=5)
    only_warn = run_suite("t", _frame(), [warn], where_column="where")
    assert (only_warn.passed, only_warn.severity) == (False, "warn")
    assert only_warn.failures[0].severity == "warn"
    both = run_suite("t", _frame(), [warn, crit], where_column="where")
    assert both.severity == "error"
    assert [f.severity for f in both.failures] == ["error", "warn"]
    assert both.statistics.unsuccessful == 2
    assert both.failures[0].reason == "expect_column_values_to_be_between did not hold"


def test_expectation_that_raises_is_a_failure_saying_why():
    # Comparing strings to a numeric bound raises inside GX; the outcome carries the message.
    outcome = run_suite(
        "t", _frame(), [gxe.ExpectColumnValuesToBeBetween(column="title", min_value=1)], where_column="where"
    )
    [failure] = outcome.failures
    assert not outcome.passed
    assert "could not be evaluated" in failure.reason and "same type" in failure.reason
    assert failure.where == []


def test_same_expectation_objects_can_be_run_twice():
    expectations = [gxe.ExpectColumnValueLengthsToBeBetween(column="name", min_value=1)]
    first = run_suite("t", _frame(), expectations, where_column="where")
    second = run_suite("t", _frame(), expectations, where_column="where")
    assert first == second
    assert first.failures[0].where == ["doc.json: authors[1]"]


def test_programming_errors_are_clear():
    frame = _frame()
    with pytest.raises(ValueError, match="names column 'nmae'"):
        run_suite("t", frame, [gxe.ExpectColumnValuesToNotBeNull(column="nmae")], where_column="where")
    with pytest.raises(ValueError, match="no where column 'item'"):
        run_suite("t", frame, [], where_column="item")
    with pytest.raises(ValueError, match="severity 'info'"):
        info = gxe.ExpectColumnValuesToNotBeNull(column="name", severity="info")
        run_suite("t", frame, [info], where_column="where")
    with pytest.raises(ValueError, match=r"columns \['tilte'\]"):
        rows_frame([{"where": "x", "tilte": "T"}], columns=["where", "title"])


def test_rows_frame_keeps_python_values():
    frame = _frame()
    assert frame.loc[0, "count"] == 3 and type(frame.loc[0, "count"]) is int
    assert frame["name"].isna().tolist() == [True, False, False, False]


def test_failures_count_the_rows_that_broke_the_rule_among_those_it_checked():
    outcome = run_suite(
        "t",
        _frame(),
        [gxe.ExpectColumnValuesToMatchRegex(column="name", regex=r"\S", description="name must be non-blank")],
        where_column="where",
    )
    [failure] = outcome.failures
    # Three rows have a name (the document row has none and is not checked); two of them are blank.
    assert (failure.failed_count, failure.checked_count) == (2, 3)
    assert failure.expected == {"regex": r"\S"}
    assert failure.rule() == "expect_column_values_to_match_regex on name: 2 of 3 failed"
    assert outcome.summary() == (
        "t: failed (error), 1 of 1 expectations: name must be non-blank at doc.json: authors[0], "
        "doc.json: authors[1] (expect_column_values_to_match_regex on name: 2 of 3 failed)"
    )


def test_a_rule_that_raised_has_no_counts():
    outcome = run_suite(
        "t", _frame(), [gxe.ExpectColumnValuesToBeBetween(column="title", min_value=1)], where_column="where"
    )
    [failure] = outcome.failures
    assert (failure.failed_count, failure.checked_count) == (None, None)
    assert failure.rule() == "expect_column_values_to_be_between on title"
    assert failure.expected == {"min_value": 1.0}


def _rules():
    return [
        gxe.ExpectColumnValueLengthsToBeBetween(column="title", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="count", min_value=1),
    ]


def test_a_suite_that_passed_on_the_same_frame_is_reused_and_any_change_evaluates_it_again():
    with reusing(PassedSuites()) as first:
        evaluated = run_suite("t", _frame(), _rules(), where_column="where")
    assert evaluated.passed and first.reused == 0
    [(digest, count)] = first.passed.items()
    assert (digest, count) == (suite_digest("t", _frame(), _rules(), where_column="where"), 2)

    with reusing(PassedSuites(known=first.passed)) as second:
        reused = run_suite("t", _frame(), _rules(), where_column="where")
    assert second.reused == 1 and second.passed == first.passed
    assert (reused.passed, reused.statistics, reused.failures) == (True, evaluated.statistics, [])

    # One cell, one rule's bound, or the suite's name changed: GX would see something else, so it runs.
    changed = rows_frame([{**ROWS[0], "count": 0}, *ROWS[1:]], columns=["where", "title", "count", "name"])
    stricter = [_rules()[0], gxe.ExpectColumnValuesToBeBetween(column="count", min_value=4)]
    for name, frame, rules in [("t", changed, _rules()), ("t", _frame(), stricter), ("u", _frame(), _rules())]:
        with reusing(PassedSuites(known=first.passed)) as again:
            outcome = run_suite(name, frame, rules, where_column="where")
        assert again.reused == 0
        assert outcome.passed is (name == "u")  # count 0 < 1 and 3 < 4 fail
        assert again.passed == ({} if not outcome.passed else {suite_digest(name, frame, rules, where_column="where"): 2})


def test_failed_suites_are_never_remembered_and_outside_reusing_nothing_is_recorded():
    failing = [gxe.ExpectColumnValuesToMatchRegex(column="name", regex=r"\S")]
    with reusing(PassedSuites()) as suites:
        assert not run_suite("t", _frame(), failing, where_column="where").passed
    assert suites.passed == {} and suites.reused == 0
    assert run_suite("t", _frame(), _rules(), where_column="where").passed  # no memo in effect: plain run


def _memo(known: set[str] = frozenset()) -> PassedSuites:
    return PassedSuites(lookup=lambda digests: digests & known)


def test_an_expectation_passed_on_the_same_column_values_is_reused_whatever_else_the_frame_holds():
    with reusing(_memo()) as first:
        assert run_suite("t", _frame(), _rules(), where_column="where").passed
    digests = {expectation_digest(_frame(), rule) for rule in _rules()}
    assert first.passed_expectations == digests and None not in digests
    assert first.expectations_reused == 0

    # Another partition's frame: other suite name, other where and name cells, the same title and count.
    other = rows_frame([{**row, "where": f"other/{row['where']}"} | ({"name": "Di"} if "name" in row else {})
                        for row in ROWS], columns=["where", "title", "count", "name"])
    with reusing(_memo(digests)) as second:
        outcome = run_suite("u", other, _rules(), where_column="where")
    assert (outcome.passed, outcome.statistics.evaluated, outcome.statistics.successful) == (True, 2, 2)
    assert second.expectations_reused == 2 and second.passed_expectations == set()


def test_an_expectation_whose_columns_changed_is_evaluated_again_and_a_failure_is_never_remembered():
    digests = {expectation_digest(_frame(), rule) for rule in _rules()}
    changed = rows_frame([{**ROWS[0], "count": 0}, *ROWS[1:]], columns=["where", "title", "count", "name"])
    with reusing(_memo(digests)) as memo:
        outcome = run_suite("t", changed, _rules(), where_column="where")
    assert memo.expectations_reused == 1  # the title rule; the count rule saw 0 and failed
    assert [f.rule() for f in outcome.failures] == ["expect_column_values_to_be_between on count: 1 of 1 failed"]
    assert outcome.failures[0].where == ["doc.json"] and outcome.failures[0].observed == [0]
    assert (outcome.statistics.evaluated, outcome.statistics.unsuccessful) == (2, 1)
    assert memo.passed_expectations == set()


def test_a_reused_expectation_is_not_evaluated_and_table_expectations_are_never_reused():
    failing = gxe.ExpectColumnValuesToMatchRegex(column="name", regex=r"\S")
    table = gxe.ExpectTableRowCountToBeBetween(min_value=10)
    assert expectation_digest(_frame(), table) is None
    with reusing(_memo({expectation_digest(_frame(), failing)})) as memo:
        outcome = run_suite("t", _frame(), [failing, table], where_column="where")
    # The lookup vouched for the regex rule, so only the table rule ran, and failed.
    assert memo.expectations_reused == 1
    assert [f.expectation for f in outcome.failures] == ["expect_table_row_count_to_be_between"]


def _files(mrc: str, named: str | None):
    return rows_frame([{"where": "t.json", "mrc_files": mrc, "mrc_file_name": named},
                       {"where": "t.json: authors[0]"}], columns=["where", "mrc_files", "mrc_file_name"])


def test_a_pair_equality_rule_is_reused_on_other_values_that_are_equal_in_the_same_rows():
    rule = gxe.ExpectColumnPairValuesToBeEqual(
        column_A="mrc_files", column_B="mrc_file_name", ignore_row_if="both_values_are_missing"
    )
    with reusing(_memo()) as first:
        assert run_suite("t", _files("TS_001.mrc", "TS_001.mrc"), [rule], where_column="where").passed
    assert first.passed_expectations == {expectation_digest(_files("TS_001.mrc", "TS_001.mrc"), rule)}

    # Another run's file names, equal in the same row: GX would answer the same, so it is not asked.
    with reusing(_memo(first.passed_expectations)) as second:
        assert run_suite("t", _files("TS_002.mrc", "TS_002.mrc"), [rule], where_column="where").passed
    assert second.expectations_reused == 1

    # Unequal, or missing on one side only: other flags, so GX evaluates it, and it fails.
    for frame in (_files("TS_002.mrc", "TS_001.mrc"), _files("TS_002.mrc", None)):
        assert expectation_digest(frame, rule) not in first.passed_expectations
        with reusing(_memo(first.passed_expectations)) as third:
            outcome = run_suite("t", frame, [rule], where_column="where")
        assert third.expectations_reused == 0 and not outcome.passed
        assert outcome.failures[0].where == ["t.json"]


def test_gx_imported_after_deferring_loads_scipy_stats_and_altair_only_when_they_are_used():
    code = """if True:
        import sys
        from cryoet_assets.lib.validation.gx import defer_unused_modules
        defer_unused_modules()
        import great_expectations
        assert "scipy.stats._stats_py" not in sys.modules
        assert "altair.vegalite" not in sys.modules
        from scipy import stats
        assert stats.entropy([0.5, 0.5], [0.5, 0.5]) == 0.0
        assert "scipy.stats._stats_py" in sys.modules
        import altair
        assert altair.Chart.__module__.startswith("altair.vegalite")
        assert "altair.vegalite" in sys.modules and type(sys.modules["altair"]).__name__ == "module"
        from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl
        assert kl.alt.Chart is altair.Chart and kl.stats.entropy is stats.entropy
    """
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
