"""Turning validation outcomes into Dagster asset check results."""

import contextlib
import json
from collections.abc import Iterator

import dagster as dg

from cryoet_assets.lib.validation.gx import PassedSuites, reusing
from cryoet_assets.lib.validation.outcome import ValidationOutcome, jsonable

PASSED_SUITES = "passed_suites"


@contextlib.contextmanager
def reusing_passed_suites(context: dg.AssetCheckExecutionContext) -> Iterator[PassedSuites]:
    """Suites this step's checks passed in their last evaluation of this partition are not evaluated again.

    A suite is reused only when GX would see exactly what it saw then (see `gx.suite_digest`): a
    re-ingestion that leaves a run's documents and files as they were costs no suite runs. The digests come
    from the `passed_suites` metadata of each check's latest successful evaluation of the partition (one
    indexed query per check); `check_result(..., suites=)` records this evaluation's.
    """
    from dagster._core.event_api import PartitionKeyFilter
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    partition = PartitionKeyFilter(key=context.partition_key) if context.has_partition_key else None
    known: dict[str, int] = {}
    for key in context.selected_asset_check_keys:
        records = context.instance.event_log_storage.get_asset_check_execution_history(
            key, limit=1, status={AssetCheckExecutionRecordStatus.SUCCEEDED}, partition_filter=partition
        )
        evaluation = records[0].event.dagster_event.event_specific_data if records and records[0].event else None
        entry = evaluation.metadata.get(PASSED_SUITES) if evaluation is not None else None
        if entry is not None and isinstance(entry.value, dict):
            known.update({str(k): int(v) for k, v in entry.value.items()})
    with reusing(PassedSuites(known=known)) as suites:
        yield suites


def check_result(
    outcome: ValidationOutcome,
    *,
    asset_key: dg.AssetKey | None = None,
    check_name: str | None = None,
    suites: PassedSuites | None = None,
) -> dg.AssetCheckResult:
    """ERROR blocks what depends on the asset; WARN stays visible without blocking.

    `asset_key` and `check_name` say which check the result is for in a step that runs several.

    The description is the outcome's one-line summary (each failure's reason, where, and rule with its
    counts); the metadata has the whole outcome as JSON and, when something failed, a table of failures.
    With `suites` (from `reusing_passed_suites`), it also records the digests of the suites that passed,
    for the next evaluation, and how many were reused rather than evaluated.
    """
    severity = dg.AssetCheckSeverity.WARN if outcome.severity == "warn" else dg.AssetCheckSeverity.ERROR
    metadata = {"validation": dg.MetadataValue.json(outcome.to_metadata())}
    if suites is not None:
        metadata[PASSED_SUITES] = dg.MetadataValue.json(dict(suites.passed))
        metadata["suites_reused"] = dg.MetadataValue.int(suites.reused)
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
