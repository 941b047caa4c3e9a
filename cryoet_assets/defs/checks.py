"""Turning validation outcomes into Dagster asset check results."""

import json

import dagster as dg

from cryoet_assets.lib.validation.outcome import ValidationOutcome, jsonable


def check_result(
    outcome: ValidationOutcome, *, asset_key: dg.AssetKey | None = None, check_name: str | None = None
) -> dg.AssetCheckResult:
    """ERROR blocks what depends on the asset; WARN stays visible without blocking.

    `asset_key` and `check_name` say which check the result is for in a step that runs several.

    The description is the outcome's one-line summary (each failure's reason, where, and rule with its
    counts); the metadata has the whole outcome as JSON and, when something failed, a table of failures.
    """
    severity = dg.AssetCheckSeverity.WARN if outcome.severity == "warn" else dg.AssetCheckSeverity.ERROR
    metadata = {"validation": dg.MetadataValue.json(outcome.to_metadata())}
    if outcome.failures:
        metadata["failed_expectations"] = dg.MetadataValue.json([f.rule() for f in outcome.failures])
        metadata["failures"] = dg.MetadataValue.md(_failure_table(outcome))
    return dg.AssetCheckResult(passed=outcome.passed, severity=severity, description=outcome.summary(),
                               metadata=metadata, asset_key=asset_key, check_name=check_name)


def _failure_table(outcome: ValidationOutcome) -> str:
    """One Markdown row per failure: rule, how many rows failed, where, what was seen, what was expected."""
    lines = [
        "| severity | expectation | column | failed | where | observed | expected | reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for failure in outcome.failures:
        counted = failure.failed_count is not None and failure.checked_count is not None
        cells = [
            failure.severity,
            failure.expectation,
            failure.column or "",
            f"{failure.failed_count} of {failure.checked_count}" if counted else "",
            ", ".join(failure.where),
            _compact(failure.observed),
            _compact(failure.expected) if failure.expected else "",
            failure.reason,
        ]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines)


def _compact(value: object) -> str:
    return "" if value is None else json.dumps(jsonable(value), separators=(", ", ": "))


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def skipped_result(reason: str) -> dg.AssetCheckResult:
    """A passing result for a partition that has nothing to validate, saying why."""
    return dg.AssetCheckResult(passed=True, description=reason, metadata={"skipped": reason})
