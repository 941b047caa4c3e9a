"""Turning validation outcomes into Dagster asset check results."""


import dagster as dg

from cryoet_assets.lib.validation.outcome import ValidationOutcome


def check_result(outcome: ValidationOutcome) -> dg.AssetCheckResult:
    """ERROR blocks what depends on the asset; WARN stays visible without blocking."""
    severity = dg.AssetCheckSeverity.WARN if outcome.severity == "warn" else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        passed=outcome.passed,
        severity=severity,
        description=outcome.summary(),
        metadata={"validation": dg.MetadataValue.json(outcome.to_metadata())},
    )


def skipped_result(reason: str) -> dg.AssetCheckResult:
    """A passing result for a partition that has nothing to validate, saying why."""
    return dg.AssetCheckResult(passed=True, description=reason, metadata={"skipped": reason})
