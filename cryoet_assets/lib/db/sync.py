"""Transactional upsert of portal rows by natural key, with pruning of rows that are gone (facts §5.1)."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Engine, Table, and_, delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ColumnElement

from cryoet_assets.lib.db.models import Base

DELETE_BATCH = 500


@dataclass(frozen=True)
class Ref:
    """Primary key of the row of `table` whose columns equal `key` (NULL-safe), looked up at apply time."""

    table: str
    key: Mapping[str, Any]

    def __repr__(self) -> str:
        return f"Ref({self.table!r}, {dict(self.key)!r})"

    def __hash__(self) -> int:
        return hash((self.table, tuple(sorted(self.key.items()))))


@dataclass(frozen=True)
class Row:
    """One row to upsert into `table`; values may hold `Ref`s for foreign keys."""

    table: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Prune:
    """After the upserts, delete rows of `table` matching `scope` that were neither upserted nor in `keep`."""

    table: str
    scope: Mapping[str, Any]
    # Natural keys (column -> value or Ref) of rows to retain although this RowSet does not upsert them.
    keep: tuple[Mapping[str, Any], ...] = ()


@dataclass
class RowSet:
    """Rows upserted in order, then prunes applied in order, all in one transaction."""

    rows: list[Row] = field(default_factory=list)
    prunes: list[Prune] = field(default_factory=list)

    def __add__(self, other: RowSet) -> RowSet:
        return RowSet(rows=[*self.rows, *other.rows], prunes=[*self.prunes, *other.prunes])


@dataclass
class TableCounts:
    """What happened to one table's rows."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


@dataclass
class SyncReport:
    """Per-table counts of one `apply_rowset`."""

    tables: dict[str, TableCounts] = field(default_factory=dict)

    def counts(self, table: str) -> TableCounts:
        """Counts of `table` (all zero if the RowSet did not touch it)."""
        return self.tables.get(table, TableCounts())

    @property
    def changed(self) -> bool:
        """Whether any row was inserted, updated or deleted."""
        return any(c.inserted or c.updated or c.deleted for c in self.tables.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Plain counts, e.g. for asset metadata."""
        return {name: vars(counts).copy() for name, counts in sorted(self.tables.items())}

    def _table(self, table: str) -> TableCounts:
        return self.tables.setdefault(table, TableCounts())


class SyncError(RuntimeError):
    """A row or prune could not be applied; the whole RowSet was rolled back."""


def apply_rowset(engine: Engine, rowset: RowSet) -> SyncReport:
    """Upsert every row by natural key, then apply the prunes, in ONE transaction; roll back on any error."""
    report = SyncReport()
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            enforce_sqlite_foreign_keys(connection)
        with connection.begin():
            upserted: dict[str, set[Any]] = {}
            for row in rowset.rows:
                try:
                    pk = _upsert(connection, row, report)
                except Exception as exc:
                    where = f"{row.table} {_describe_key(row)}"
                    raise SyncError(f"upsert into {where} failed: {error_reason(exc)}") from exc
                upserted.setdefault(row.table, set()).add(pk)
            for prune in rowset.prunes:
                try:
                    deleted = _prune(connection, prune, upserted.get(prune.table, set()))
                except Exception as exc:
                    raise SyncError(
                        f"prune of {prune.table} where {dict(prune.scope)!r} failed: {error_reason(exc)}"
                    ) from exc
                report._table(prune.table).deleted += deleted
    return report


def error_reason(exc: Exception) -> str:
    """One line saying why `exc` happened, without the SQL statement and parameters."""
    # A driver error's own message is short; SQLAlchemy's wrapper appends the whole statement and parameters.
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {str(exc.orig).strip()}"
    return str(exc)


def enforce_sqlite_foreign_keys(connection: Connection) -> None:
    """Enforce SQLite foreign keys on `connection` (outside a transaction); SyncError if they stay off."""
    # Without this, ON DELETE CASCADE and foreign key checks silently do nothing on SQLite.
    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    enabled = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    connection.commit()
    if enabled != 1:
        raise SyncError(
            "SQLite foreign keys could not be enabled on this connection; "
            "create the engine with cryoet_assets.lib.db.make_engine"
        )


def synced_table(name: str) -> Table:
    """The table model `name` on the shared declarative base.

    Raises ValueError for a table not loaded onto `Base.metadata` or one without a single-column primary key.
    """
    try:
        table = Base.metadata.tables[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; known tables: {sorted(Base.metadata.tables)}") from None
    if len(table.primary_key.columns) != 1:
        raise ValueError(f"table {name} must have a single-column primary key to be synced")
    return table


def primary_key_column(table: Table) -> Column[Any]:
    """The single primary key column of a table that `synced_table` accepted."""
    return next(iter(table.primary_key.columns))


def natural_key(table_name: str) -> tuple[str, ...]:
    """The columns that identify a row of `table_name`, as its table model declares them (`natural_key`).

    Raises ValueError for an unknown table or a table model that declares none.
    """
    key = synced_table(table_name).info.get("natural_key")
    if not key:
        raise ValueError(f"table {table_name!r} declares no natural key in its table model")
    return tuple(key)


def _describe_key(row: Row) -> str:
    names = synced_table(row.table).info.get("natural_key", ()) if row.table in Base.metadata.tables else ()
    return repr({name: row.values.get(name) for name in names})


def check_columns(table: Table, names: Iterable[str], *, what: str) -> None:
    """ValueError naming `what` and the columns among `names` that `table` does not have."""
    unknown = sorted(set(names) - set(table.c.keys()))
    if unknown:
        raise ValueError(f"{what} names columns {unknown} that table {table.name} does not have")


def _resolve(connection: Connection, values: Mapping[str, Any]) -> dict[str, Any] | None:
    """`values` with every `Ref` replaced by the referenced primary key; None if some `Ref` matches no row."""
    resolved: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Ref):
            value = _lookup(connection, value)
            if value is None:
                return None
        elif isinstance(value, datetime.datetime) and value.tzinfo is not None:
            # SQLite drops the offset when storing, so store every aware timestamp as UTC.
            value = value.astimezone(datetime.UTC)
        resolved[name] = value
    return resolved


def _lookup(connection: Connection, ref: Ref) -> Any | None:
    """Primary key of the row `ref` designates, or None if there is no such row."""
    table = synced_table(ref.table)
    check_columns(table, ref.key, what=repr(ref))
    key = _resolve(connection, ref.key)
    if key is None:
        return None
    query = select(primary_key_column(table)).where(null_safe_match(table, key)).limit(2)
    matches = connection.execute(query).scalars().all()
    if len(matches) > 1:
        raise LookupError(f"{ref!r} matches more than one row")
    return matches[0] if matches else None


def null_safe_match(table: Table, values: Mapping[str, Any]) -> ColumnElement[bool]:
    """NULL-safe equality of every given column."""
    return and_(*(table.c[name].is_(None) if v is None else table.c[name] == v for name, v in values.items()))


def _upsert(connection: Connection, row: Row, report: SyncReport) -> Any:
    table = synced_table(row.table)
    check_columns(table, row.values, what=f"row of {row.table}")
    key_names = natural_key(row.table)
    missing = [name for name in key_names if name not in row.values]
    if missing:
        raise ValueError(f"row of {row.table} lacks natural key columns {missing}")
    values = _resolve(connection, row.values)
    if values is None:
        refs = [v for v in row.values.values() if isinstance(v, Ref) and _lookup(connection, v) is None]
        raise LookupError(f"{refs[0]!r} matches no row")
    key = {name: values[name] for name in key_names}
    existing = connection.execute(select(table).where(null_safe_match(table, key)).limit(2)).mappings().all()
    counts = report._table(row.table)
    if len(existing) > 1:
        raise LookupError(f"natural key {key!r} matches more than one existing row")
    pk_column = primary_key_column(table)
    if not existing:
        result = connection.execute(insert(table).values(values))
        counts.inserted += 1
        return result.inserted_primary_key[0]
    current = existing[0]
    changes = {name: v for name, v in values.items() if not same_value(current[name], v)}
    if changes:
        connection.execute(update(table).where(pk_column == current[pk_column.name]).values(changes))
        counts.updated += 1
    else:
        counts.unchanged += 1
    return current[pk_column.name]


def same_value(stored: Any, new: Any) -> bool:
    """Whether a stored column value equals a new one.

    NULL equals only NULL, floats are compared to 1e-12 relative, timestamps as UTC instants (SQLite returns
    aware timestamps naive, in UTC).
    """
    if stored is None or new is None:
        return stored is None and new is None
    if isinstance(stored, datetime.datetime) and isinstance(new, datetime.datetime):
        return _utc_naive(stored) == _utc_naive(new)
    if (isinstance(stored, float) or isinstance(new, float)) and not isinstance(stored, bool | str):
        try:
            return math.isclose(float(stored), float(new), rel_tol=1e-12, abs_tol=0.0)
        except (TypeError, ValueError):
            return False
    return stored == new


def _utc_naive(value: datetime.datetime) -> datetime.datetime:
    # SQLite returns naive datetimes for timezone-aware columns; they were stored as UTC.
    if value.tzinfo is None:
        return value
    return value.astimezone(datetime.UTC).replace(tzinfo=None)


def _prune(connection: Connection, prune: Prune, upserted: set[Any]) -> int:
    table = synced_table(prune.table)
    pk_column = primary_key_column(table)
    check_columns(table, prune.scope, what=f"prune scope of {prune.table}")
    scope = _resolve(connection, prune.scope)
    if scope is None:
        return 0  # the scope's parent does not exist, so nothing lies in it
    retained = set(upserted)
    for kept in prune.keep:
        check_columns(table, kept, what=f"prune keep of {prune.table}")
        kept_key = _resolve(connection, kept)
        if kept_key is not None:
            kept_rows = select(pk_column).where(null_safe_match(table, kept_key))
            retained.update(connection.execute(kept_rows).scalars())
    in_scope = connection.execute(select(pk_column).where(null_safe_match(table, scope))).scalars().all()
    stale = [pk for pk in in_scope if pk not in retained]
    for start in range(0, len(stale), DELETE_BATCH):
        connection.execute(delete(table).where(pk_column.in_(stale[start : start + DELETE_BATCH])))
    return len(stale)


def row_exists(engine: Engine, table: str, key: Mapping[str, Any]) -> bool:
    """Whether a row with this natural key (values may be `Ref`s) is in the database."""
    with engine.connect() as connection:
        return _lookup(connection, Ref(table, dict(key))) is not None
