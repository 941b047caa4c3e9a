"""Turning validation outcomes into Dagster asset check results."""

import contextlib
import json
from collections.abc import Iterator

import dagster as dg

from cryoet_assets.lib.validation.gx import PassedSuites, reusing
from cryoet_assets.lib.validation.outcome import ValidationOutcome, jsonable

PASSED_SUITES = "passed_suites"
PASSED_EXPECTATION_KEY = "cryoet_assets/gx_passed/"


@contextlib.contextmanager
def reusing_passed_suites(context: dg.AssetCheckExecutionContext) -> Iterator[PassedSuites]:
    """Suites and expectations that passed on the same values are not evaluated again (see `gx.PassedSuites`).

    A suite is reused only when GX would see exactly what it saw in this check's last successful evaluation
    of this partition (the `passed_suites` metadata of that evaluation, one indexed query per check): a
    re-ingestion that leaves a run's documents and files as they were costs no suite runs.
    `check_result(..., suites=)` records this evaluation's.

    A column expectation is reused when any check of this instance passed it on the same values of the
    columns it reads: its digest, `PASSED_EXPECTATION_KEY` + hex, is a key of the instance's key-value
    store (one lookup of a suite's keys by primary key; the keys this step passed are added when it ends).
    Partitions of one dataset share most of them (an empty error column, the MRC's mode, the zarr's
    layout), so a backfill evaluates in GX only what differs from the partitions before it.
    """
    from dagster._core.event_api import PartitionKeyFilter
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    instance = context.instance
    partition = PartitionKeyFilter(key=context.partition_key) if context.has_partition_key else None
    known: dict[str, int] = {}
    for key in context.selected_asset_check_keys:
        records = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=1, status={AssetCheckExecutionRecordStatus.SUCCEEDED}, partition_filter=partition
        )
        evaluation = records[0].event.dagster_event.event_specific_data if records and records[0].event else None
        entry = evaluation.metadata.get(PASSED_SUITES) if evaluation is not None else None
        if entry is not None and isinstance(entry.value, dict):
            known.update({str(k): int(v) for k, v in entry.value.items()})

    found: set[str] = set()

    def lookup(digests: set[str]) -> set[str]:
        if not digests:
            return set()
        values = instance.run_storage.get_cursor_values({PASSED_EXPECTATION_KEY + d for d in digests})
        hits = {key[len(PASSED_EXPECTATION_KEY):] for key in values}
        found.update(hits)
        return hits

    with reusing(PassedSuites(known=known, lookup=lookup)) as suites:
        yield suites
    new = suites.passed_expectations - found
    if new:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            instance.run_storage.set_cursor_values({PASSED_EXPECTATION_KEY + d: "passed" for d in sorted(new)})
        except SQLAlchemyError as exc:  # another step stored one of them first: they are only a memo
            context.log.debug(f"passed expectations not recorded: {exc}")


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
    for the next evaluation, and how many suites and expectations were reused rather than evaluated.
    """
    severity = dg.AssetCheckSeverity.WARN if outcome.severity == "warn" else dg.AssetCheckSeverity.ERROR
    metadata = {"validation": dg.MetadataValue.json(outcome.to_metadata())}
    if suites is not None:
        metadata[PASSED_SUITES] = dg.MetadataValue.json(dict(suites.passed))
        metadata["suites_reused"] = dg.MetadataValue.int(suites.reused)
        metadata["expectations_reused"] = dg.MetadataValue.int(suites.expectations_reused)
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
