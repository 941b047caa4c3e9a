"""The result of one validation suite run, in plain Python (no GX objects leak out)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warn"]
SUMMARY_FAILURES = 3


@dataclass(frozen=True)
class Failure:
    """One failed expectation: which rule, on which column, for which items, why, and what was seen.

    `expected` holds the expectation's own criteria (bounds, value set, regex...) so that `observed` can be
    read against it; `failed_count` of `checked_count` rows broke it (None when the rule has no rows).
    """

    expectation: str
    column: str | None
    where: list[str]
    reason: str
    observed: object = None
    severity: Severity = "error"
    expected: dict[str, Any] = field(default_factory=dict)
    failed_count: int | None = None
    checked_count: int | None = None

    def rule(self) -> str:
        """`expect_column_values_to_be_between on voxel_spacing: 1 of 1 failed` (counts when known)."""
        text = f"{self.expectation} on {self.column}" if self.column else self.expectation
        if self.failed_count is not None and self.checked_count is not None:
            text += f": {self.failed_count} of {self.checked_count} failed"
        return text

    def describe(self) -> str:
        """`reason at item, item (rule)` as one line."""
        text = f"{self.reason} at {', '.join(self.where)}" if self.where else self.reason
        return f"{text} ({self.rule()})"

    def to_metadata(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            "expectation": self.expectation,
            "column": self.column,
            "where": list(self.where),
            "reason": self.reason,
            "observed": jsonable(self.observed),
            "expected": jsonable(self.expected),
            "failed_count": self.failed_count,
            "checked_count": self.checked_count,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class Statistics:
    """How many expectations were evaluated and how many of them held."""

    evaluated: int
    successful: int
    unsuccessful: int


@dataclass(frozen=True)
class ValidationOutcome:
    """Outcome of one suite: passed only when no expectation failed; severity is the worst failure's."""

    suite: str
    passed: bool
    severity: Severity | None
    statistics: Statistics
    failures: list[Failure] = field(default_factory=list)

    def failures_of(self, expectation: str, *, column: str | None = None) -> list[Failure]:
        """Failures of one expectation type, optionally only those on `column`."""
        return [
            f
            for f in self.failures
            if f.expectation == expectation and (column is None or f.column == column)
        ]

    def summary(self) -> str:
        """One line for humans, e.g. `deposition_metadata: failed (error), 2 of 14 expectations: ...`."""
        stats = self.statistics
        if self.passed:
            return f"{self.suite}: passed, {stats.evaluated} expectations"
        shown = "; ".join(f.describe() for f in self.failures[:SUMMARY_FAILURES])
        more = len(self.failures) - SUMMARY_FAILURES
        tail = f"; and {more} more" if more > 0 else ""
        return (
            f"{self.suite}: failed ({self.severity}), {stats.unsuccessful} of {stats.evaluated} "
            f"expectations: {shown}{tail}"
        )

    def to_metadata(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            "suite": self.suite,
            "passed": self.passed,
            "severity": self.severity,
            "statistics": {
                "evaluated": self.statistics.evaluated,
                "successful": self.statistics.successful,
                "unsuccessful": self.statistics.unsuccessful,
            },
            "failures": [f.to_metadata() for f in self.failures],
        }


def jsonable(value: object) -> Any:
    """`value` with numpy scalars unwrapped, NaN as None and anything unknown as its string."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return jsonable(item())
        except (TypeError, ValueError):
            pass
    return str(value)
