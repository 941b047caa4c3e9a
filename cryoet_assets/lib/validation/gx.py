"""Running a list of Great Expectations 1.x expectations over a small DataFrame."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import threading
import types
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryoet_assets.lib.validation.outcome import Failure, Severity, Statistics, ValidationOutcome

if TYPE_CHECKING:
    import pandas

SEVERITIES: dict[str, Severity] = {"critical": "error", "warning": "warn"}
COLUMN_ARGUMENTS = ("column", "column_A", "column_B")
PAIR_EQUALITY = "expect_column_pair_values_to_be_equal"
NOT_CRITERIA = (
    "batch_id", "result_format", "catch_exceptions", "meta", "description", "notes", "rendered_content",
)

_validate_lock = threading.Lock()


@dataclass
class PassedSuites:
    """What passed before, so that GX does not evaluate the same rules over the same values again.

    Two memories, both of outcomes GX would give again because everything it reads is the same:

    - whole suites: a suite's digest covers the GX version, the suite's name, its expectations'
      configurations and every cell of the frame. `known` maps the digests of an earlier evaluation's
      passed suites to their number of expectations; `passed` collects this evaluation's (reused or
      evaluated), and `reused` counts the suites taken from `known`.
    - single expectations: a column expectation's digest covers the GX version, its configuration and the
      values (by row) of the columns it names, nothing else of the frame (of a pair-equality rule's two
      columns, only which rows are missing and which are equal). `lookup`, when given, answers which
      of a set of digests passed before (anywhere: another partition's frame with the same values in
      those columns counts); `passed_expectations` collects the digests of expectations GX evaluated here
      and passed, and `expectations_reused` counts those taken from `lookup`.

    Failed suites and failed expectations are always evaluated again.
    """

    known: Mapping[str, int] = field(default_factory=dict)
    passed: dict[str, int] = field(default_factory=dict)
    reused: int = 0
    lookup: Callable[[set[str]], Collection[str]] | None = None
    passed_expectations: set[str] = field(default_factory=set)
    expectations_reused: int = 0


_passed_suites: ContextVar[PassedSuites | None] = ContextVar("passed_suites", default=None)


@contextlib.contextmanager
def reusing(suites: PassedSuites) -> Iterator[PassedSuites]:
    """Within this block, `run_suite` takes what `suites` knows passed instead of evaluating it again."""
    token = _passed_suites.set(suites)
    try:
        yield suites
    finally:
        _passed_suites.reset(token)


def suite_digest(name: str, frame: pandas.DataFrame, expectations: list, *, where_column: str) -> str:
    """SHA-256 (hex) of what a suite run depends on: GX's version, the suite, its expectations and the frame."""
    return _Digests(frame, expectations).suite(name, where_column)


def expectation_digest(frame: pandas.DataFrame, expectation: Any) -> str | None:
    """SHA-256 (hex) of what a column expectation's outcome depends on: GX's version, its configuration and
    the values of the columns it names, row by row (for a pair-equality rule, only which rows are missing
    on either side and which are equal); None for an expectation that may read more (a table or multicolumn
    expectation, or one with a `row_condition`)."""
    return _Digests(frame, [expectation]).expectation(0)


class _Digests:
    """Digests of one suite run, serializing each configuration and each column once."""

    def __init__(self, frame: pandas.DataFrame, expectations: list):
        self.frame = frame
        self.expectations = expectations
        self.version = _gx_version()
        # Every field, defaults included, and the class (the expectation type).
        self.configs = [type(e).__name__ + e.json(sort_keys=True) for e in expectations]
        self._columns: dict[str, str] = {}

    def column(self, name: str) -> str:
        if name not in self._columns:
            values = self.frame[name].tolist()
            self._columns[name] = json.dumps(values, default=repr, allow_nan=True)
        return self._columns[name]

    def suite(self, name: str, where_column: str) -> str:
        content = [self.version, name, where_column, self.configs, self.frame.index.tolist(),
                   [[c, self.column(c)] for c in self.frame.columns]]
        return _sha256(content)

    def expectation(self, position: int) -> str | None:
        expectation = self.expectations[position]
        if not _reads_only_its_columns(expectation):
            return None
        if type(expectation).expectation_type == PAIR_EQUALITY:
            read: Any = self.pair_relation(expectation.column_A, expectation.column_B)
            if read is None:
                return None
        else:
            read = [[c, self.column(c)] for c in _columns_named(expectation)]
        return _sha256([self.version, self.configs[position], self.frame.index.tolist(), read])

    def pair_relation(self, a: str, b: str) -> list | None:
        """Per row: is A missing, is B missing, A == B. GX's pandas engine drops rows by missingness
        (`ignore_row_if`, pandas `isnull`) and then compares `column_A == column_B`, so a pair-equality
        rule's outcome is a function of these three flags, whatever the values are (e.g. two file names
        that both hold the run's name). None when the comparison itself fails: GX then reports why."""
        left, right = self.frame[a], self.frame[b]
        try:
            equal = [bool(x) for x in (left == right).tolist()]
        except (TypeError, ValueError):
            return None
        return ["pair", a, b, left.isnull().tolist(), right.isnull().tolist(), equal]


@functools.lru_cache(maxsize=1)
def _gx_version() -> str:
    from importlib.metadata import version

    return version("great_expectations")


def _sha256(content: Any) -> str:
    text = json.dumps(content, separators=(",", ":"), default=repr, allow_nan=True)
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


# GX imports these when it is imported, for expectations no suite here uses (KL divergence, Kolmogorov-Smirnov
# tests) and the charts of their rendered reports: scipy.stats alone is about 1 s of CPU, altair 0.4 s.
DEFERRED_MODULES = ("scipy.stats", "altair")


def defer_unused_modules() -> None:
    """Make `DEFERRED_MODULES` load on first use instead of when GX imports them; call it before
    great_expectations is first imported. A module already imported is left as it is.

    Each is replaced in `sys.modules` (and on its package) by a `_DeferredModule` until an attribute of it is
    read. importlib's `LazyLoader` does not do here: an `import altair` statement reads the module's `__spec__`
    when it finds the module in `sys.modules`, which loads it.
    """
    import importlib.util
    import sys

    for name in DEFERRED_MODULES:
        if name in sys.modules or importlib.util.find_spec(name) is None:
            continue
        placeholder = _DeferredModule(name)
        sys.modules[name] = placeholder
        package, _, attribute = name.rpartition(".")
        if package:
            setattr(sys.modules[package], attribute, placeholder)


class _DeferredModule(types.ModuleType):
    """Stands for a module not imported yet; reading any attribute it lacks imports the module and replaces it."""

    _lock = threading.RLock()  # importing one deferred module may read an attribute of another

    def __getattr__(self, attribute: str) -> Any:
        import importlib
        import sys

        name = self.__name__
        with self._lock:
            package, _, short = name.rpartition(".")
            if sys.modules.get(name) is self:
                del sys.modules[name]
                if package and getattr(sys.modules[package], short, None) is self:
                    delattr(sys.modules[package], short)
            module = importlib.import_module(name)
        return getattr(module, attribute)


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
    (default, maps to "error") or "warning" (maps to "warn"). Inside `reusing(suites)`, a suite or an
    expectation that `suites` knows passed on the same values passes without being evaluated again, and
    counts as evaluated and successful in the statistics (raises ValueError for a bad frame or suite
    either way).
    """
    if where_column not in frame.columns:
        raise ValueError(f"suite {name!r}: frame has no where column {where_column!r}")
    for expectation in expectations:
        _check_expectation(name, expectation, frame)
    remembered = _passed_suites.get()
    suite_key = ""
    to_run = list(expectations)
    digests: list[str | None] = [None] * len(expectations)
    if remembered is not None:
        memo = _Digests(frame, expectations)
        suite_key = memo.suite(name, where_column)
        count = remembered.known.get(suite_key)
        if count is not None:
            remembered.reused += 1
            remembered.passed[suite_key] = count
            return _passed(name, count)
        if remembered.lookup is not None:
            digests = [memo.expectation(i) for i in range(len(expectations))]
            found = set(remembered.lookup({d for d in digests if d is not None}))
            kept = [(e, d) for e, d in zip(expectations, digests) if d not in found]
            to_run, digests = [e for e, _ in kept], [d for _, d in kept]  # digests stay aligned with to_run
            remembered.expectations_reused += len(expectations) - len(to_run)
    if not to_run:
        if remembered is not None:
            remembered.passed[suite_key] = len(expectations)
        return _passed(name, len(expectations))

    evaluated_frame = _columns_read(frame, to_run, where_column)
    results, failures = _evaluate(name, evaluated_frame, to_run, where_column=where_column)
    if remembered is not None:
        remembered.passed_expectations.update(_passed_digests(to_run, digests, results))
        if not failures:
            remembered.passed[suite_key] = len(expectations)
    failures.sort(key=lambda f: f.severity != "error")
    worst: Severity | None = None
    if failures:
        worst = "error" if any(f.severity == "error" for f in failures) else "warn"
    unsuccessful = sum(1 for r in results if not r.success)
    return ValidationOutcome(
        suite=name,
        passed=not failures,
        severity=worst,
        statistics=Statistics(
            evaluated=len(expectations), successful=len(expectations) - unsuccessful, unsuccessful=unsuccessful
        ),
        failures=failures,
    )


def _columns_read(frame: pandas.DataFrame, expectations: list, where_column: str) -> pandas.DataFrame:
    """`frame` with only the where column and the columns `expectations` read, when each is a column
    expectation: GX hashes every cell of the frame it is given, and a suite often needs a few columns."""
    columns = {where_column: None}
    for expectation in expectations:
        if not _reads_only_its_columns(expectation):
            return frame
        columns.update(dict.fromkeys(_columns_named(expectation)))
    return frame[list(columns)] if len(columns) < len(frame.columns) else frame


def _columns_named(expectation: Any) -> list[str]:
    return [c for c in (getattr(expectation, a, None) for a in COLUMN_ARGUMENTS) if c]


def _reads_only_its_columns(expectation: Any) -> bool:
    return (type(expectation).expectation_type.startswith("expect_column_")
            and not getattr(expectation, "row_condition", None)
            and bool(_columns_named(expectation)))


def _passed(name: str, count: int) -> ValidationOutcome:
    return ValidationOutcome(
        suite=name, passed=True, severity=None,
        statistics=Statistics(evaluated=count, successful=count, unsuccessful=0), failures=[],
    )


def _evaluate(name: str, frame: pandas.DataFrame, expectations: list, *, where_column: str) -> tuple[list, list]:
    """GX's results of `expectations` over `frame`, and a Failure for each that did not pass."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name, expectations=expectations)
    details = {"result_format": "COMPLETE", "unexpected_index_column_names": [where_column]}
    with _validate_lock:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        # Collecting unexpected rows doubles GX's cost per expectation, so it is only paid, in a second
        # pass, for the expectations that failed.
        results = batch.validate(suite, result_format="BOOLEAN_ONLY").results
        failed = [r.expectation_config.to_domain_obj() for r in results if not r.success]
        detailed = []
        if failed:
            rerun = gx.ExpectationSuite(name=name, expectations=failed)
            detailed = batch.validate(rerun, result_format=details).results
    failures = [
        _failure(r.expectation_config, r.result or {}, r.exception_info or {}, where_column=where_column)
        for r in detailed
    ]
    return results, failures


def _passed_digests(expectations: list, digests: list[str | None], results: list) -> set[str]:
    """Digests of the expectations that passed. GX returns results in an order of its own, so each result
    is matched to its expectation by type, arguments, description and severity."""
    by_rule: dict[str, list[str]] = {}
    for expectation, digest in zip(expectations, digests):
        if digest is not None:
            by_rule.setdefault(_rule_key(expectation.configuration), []).append(digest)
    passed = set()
    for result in results:
        if result.success and not _raised(result):
            passed.update(by_rule.get(_rule_key(result.expectation_config), ()))
    return passed


def _rule_key(config: Any) -> str:
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    severity = _severity_name(config.severity)
    return json.dumps([config.type, kwargs, config.description, severity], sort_keys=True, default=repr)


def _raised(result: Any) -> bool:
    return bool(_exception_messages(result.exception_info or {}))


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
