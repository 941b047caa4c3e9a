"""Running a list of Great Expectations 1.x expectations over a small DataFrame."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryoet_assets.lib.validation.outcome import Failure, Severity, Statistics, ValidationOutcome

if TYPE_CHECKING:
    import pandas

SEVERITIES: dict[str, Severity] = {"critical": "error", "warning": "warn"}
COLUMN_ARGUMENTS = ("column", "column_A", "column_B")
NOT_CRITERIA = (
    "batch_id", "result_format", "catch_exceptions", "meta", "description", "notes", "rendered_content",
)

_validate_lock = threading.Lock()


@dataclass
class PassedSuites:
    """Suites known to pass, so that the same suite over the same frame is not evaluated again.

    A suite's digest covers the GX version, the suite's name, its expectations' configurations and every cell
    of the frame, so GX would evaluate it to the same result. `known` maps the digests of an earlier
    evaluation's passed suites to their number of expectations; `passed` collects this evaluation's (reused or
    evaluated), and `reused` counts the suites taken from `known`. Suites that failed are always evaluated.
    """

    known: Mapping[str, int] = field(default_factory=dict)
    passed: dict[str, int] = field(default_factory=dict)
    reused: int = 0


_passed_suites: ContextVar[PassedSuites | None] = ContextVar("passed_suites", default=None)


@contextlib.contextmanager
def reusing(suites: PassedSuites) -> Iterator[PassedSuites]:
    """Within this block, `run_suite` takes a suite's result from `suites.known` when its digest is there."""
    token = _passed_suites.set(suites)
    try:
        yield suites
    finally:
        _passed_suites.reset(token)


def suite_digest(name: str, frame: pandas.DataFrame, expectations: list, *, where_column: str) -> str:
    """SHA-256 (hex) of what a suite run depends on: GX's version, the suite, its expectations and the frame."""
    import great_expectations as gx

    content = {
        "gx": gx.__version__,
        "suite": name,
        "where": where_column,
        "expectations": [e.configuration.to_json_dict() for e in expectations],
        "frame": frame.to_dict(orient="split"),
    }
    text = json.dumps(content, sort_keys=True, default=repr, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def rows_frame(rows: Iterable[Mapping[str, Any]], *, columns: Sequence[str]) -> pandas.DataFrame:
    """A DataFrame of `rows` with exactly `columns`, kept as Python objects.

    A column a row does not fill is null there; GX column-map expectations skip nulls, so one frame can
    hold rows of different kinds (document, author, photo) and each expectation only sees its own rows.
    Object dtype keeps ints as ints and strings as strings, so observed values read like the document.
    """
    import pandas

    rows = list(rows)
    allowed = set(columns)
    for row in rows:
        unknown = set(row) - allowed
        if unknown:
            raise ValueError(f"row {row.get('where')!r} has columns {sorted(unknown)} not in {list(columns)}")
    return pandas.DataFrame(rows, columns=list(columns), dtype=object)


def prepare() -> None:
    """Import GX and make this process's context now (about 2 s of CPU), e.g. in a thread ahead of the checks."""
    _batch_definition()


_context_lock = threading.Lock()


def _batch_definition() -> Any:
    with _context_lock:
        return _new_batch_definition()


@functools.lru_cache(maxsize=1)
def _new_batch_definition() -> Any:
    """One ephemeral in-memory GX context per process, with a whole-DataFrame batch definition."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("in_memory").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole_frame")


def run_suite(
    name: str, frame: pandas.DataFrame, expectations: list, *, where_column: str
) -> ValidationOutcome:
    """Validate `frame` against GX `expectations`; failures name the failing rows by `where_column`.

    Each expectation's `description` is the curator-facing reason; its `severity` must be "critical"
    (default, maps to "error") or "warning" (maps to "warn"). Inside `reusing(suites)`, a suite whose digest
    `suites.known` holds passes without being evaluated again (raises ValueError for a bad frame or suite
    either way).
    """
    import great_expectations as gx

    if where_column not in frame.columns:
        raise ValueError(f"suite {name!r}: frame has no where column {where_column!r}")
    for expectation in expectations:
        _check_expectation(name, expectation, frame)
    remembered = _passed_suites.get()
    digest = ""
    if remembered is not None:
        digest = suite_digest(name, frame, expectations, where_column=where_column)
        count = remembered.known.get(digest)
        if count is not None:
            remembered.reused += 1
            remembered.passed[digest] = count
            return ValidationOutcome(
                suite=name, passed=True, severity=None,
                statistics=Statistics(evaluated=count, successful=count, unsuccessful=0), failures=[],
            )
    suite = gx.ExpectationSuite(name=name, expectations=expectations)
    details = {"result_format": "COMPLETE", "unexpected_index_column_names": [where_column]}
    with _validate_lock:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        # Collecting unexpected rows doubles GX's cost per expectation, so it is only paid, in a second
        # pass, for the expectations that failed.
        result = batch.validate(suite, result_format="BOOLEAN_ONLY")
        failed = [r.expectation_config.to_domain_obj() for r in result.results if not r.success]
        detailed = []
        if failed:
            rerun = gx.ExpectationSuite(name=name, expectations=failed)
            detailed = batch.validate(rerun, result_format=details).results

    failures = [
        _failure(r.expectation_config, r.result or {}, r.exception_info or {}, where_column=where_column)
        for r in detailed
    ]
    failures.sort(key=lambda f: f.severity != "error")
    worst: Severity | None = None
    if failures:
        worst = "error" if any(f.severity == "error" for f in failures) else "warn"
    stats = result.statistics
    if remembered is not None and not failures:
        remembered.passed[digest] = int(stats["evaluated_expectations"])
    return ValidationOutcome(
        suite=name,
        passed=not failures,
        severity=worst,
        statistics=Statistics(
            evaluated=int(stats["evaluated_expectations"]),
            successful=int(stats["successful_expectations"]),
            unsuccessful=int(stats["unsuccessful_expectations"]),
        ),
        failures=failures,
    )


def _check_expectation(suite: str, expectation: Any, frame: pandas.DataFrame) -> None:
    severity = _severity_name(expectation.severity)
    if severity not in SEVERITIES:
        raise ValueError(
            f"suite {suite!r}: {expectation.expectation_type} has severity {severity!r}; "
            f"use one of {sorted(SEVERITIES)}"
        )
    for argument in COLUMN_ARGUMENTS:
        column = getattr(expectation, argument, None)
        if column is not None and column not in frame.columns:
            raise ValueError(
                f"suite {suite!r}: {expectation.expectation_type} names column {column!r}, "
                f"which the frame does not have (columns: {list(frame.columns)})"
            )


def _severity_name(severity: Any) -> str:
    return str(getattr(severity, "value", severity))


def _failure(
    config: Any, result: Mapping[str, Any], exception: Mapping[str, Any], *, where_column: str
) -> Failure:
    kwargs = config.kwargs
    columns = [kwargs[a] for a in COLUMN_ARGUMENTS if kwargs.get(a) is not None]
    reason = config.description or f"{config.type} did not hold"
    messages = _exception_messages(exception)
    where: list[str] = []
    observed: Any = None
    if messages:
        reason = f"{reason} (could not be evaluated: {'; '.join(messages)})"
    else:
        rows = result.get("unexpected_index_list") or []
        where = [str(row.get(where_column)) for row in rows]
        observed_columns = [c for c in columns if c != where_column] or columns
        if len(observed_columns) == 1:
            observed = [row.get(observed_columns[0]) for row in rows]
        elif observed_columns:
            observed = [[row.get(c) for c in observed_columns] for row in rows]
        if not rows:
            observed = result.get("observed_value")
    failed_count = checked_count = None
    if not messages and "unexpected_count" in result and "element_count" in result:
        # Column-map rules skip null cells (rows of other kinds in the frame): they checked the rest.
        failed_count = int(result["unexpected_count"])
        checked_count = int(result["element_count"]) - int(result.get("missing_count") or 0)
    return Failure(
        expectation=config.type,
        column=", ".join(columns) or None,
        where=where,
        reason=reason,
        observed=observed,
        severity=SEVERITIES[_severity_name(config.severity)],
        expected={k: v for k, v in kwargs.items() if k not in COLUMN_ARGUMENTS and k not in NOT_CRITERIA},
        failed_count=failed_count,
        checked_count=checked_count,
    )


def _exception_messages(info: Mapping[str, Any]) -> list[str]:
    """Messages of exceptions GX caught; `info` is either one record or a dict of records per metric."""
    if "raised_exception" in info:
        records: list[Any] = [info]
    else:
        records = [v for v in info.values() if isinstance(v, Mapping)]
    messages = []
    for record in records:
        if record.get("raised_exception"):
            message = str(record.get("exception_message") or "unknown error")
            if message not in messages:
                messages.append(message)
    return messages
