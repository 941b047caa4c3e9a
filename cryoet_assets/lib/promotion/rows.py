"""The database half of production promotion: one partition's rows copied from staging to production.

The portal promotes by importing the production bucket into the production database a second time (facts §6);
here the staging rows themselves are copied, matched by primary key, so that a row keeps in production the id
it has in staging (users train models on ids). The tables are the families' models on the shared declarative
base: load them first (`cryoet_assets.families.table_metadata()`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import Column, DateTime, Engine, ForeignKey, Table, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection

from cryoet_assets.lib.db.models import Base
from cryoet_assets.lib.db.sync import (
    DELETE_BATCH,
    SyncError,
    SyncReport,
    TableCounts,
    check_columns,
    enforce_sqlite_foreign_keys,
    error_reason,
    natural_key,
    null_safe_match,
    primary_key_column,
    same_value,
    synced_table,
)

# table name -> primary key -> column name -> value
Rows = dict[str, dict[Any, dict[str, Any]]]


@dataclass(frozen=True)
class RowScope:
    """The rows one partition owns: the `root_table` rows matching `root` (column -> value), and the rows of
    each other table in `tables` that reach them through a foreign key to a table of the scope (e.g. run ->
    tomogram_voxel_spacing -> tomogram -> tomogram_author).

    `tables` includes `root_table`, in any order. A table with foreign keys to several tables of the scope
    (tomogram -> run and tomogram_voxel_spacing) belongs to it through any of them; foreign keys to tables
    outside the scope (tomogram.deposition_id, run.dataset_id) do not make a row part of it.
    Raises ValueError if `root` is empty (it would match every row) or `root_table` is not in `tables`.
    """

    root_table: str
    root: Mapping[str, Any]
    tables: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.root:
            raise ValueError(f"the scope of {self.root_table} needs a root column to match: {self.root!r}")
        object.__setattr__(self, "root", MappingProxyType(dict(self.root)))
        object.__setattr__(self, "tables", tuple(self.tables))
        if self.root_table not in self.tables:
            raise ValueError(f"root table {self.root_table} is not among the scope's tables {self.tables}")
        if len(set(self.tables)) != len(self.tables):
            raise ValueError(f"the scope names a table twice: {self.tables}")

    def __hash__(self) -> int:  # `root` is a read-only mapping, which the generated hash cannot take
        return hash((self.root_table, tuple(sorted(self.root.items())), self.tables))

    def __str__(self) -> str:
        where = ", ".join(f"{name}={value!r}" for name, value in self.root.items())
        return f"{self.root_table} where {where}"


@dataclass(frozen=True)
class RowConflict:
    """A staging row of natural key `key` that production holds under another id, or whose id production
    gives to a row outside the scope (then `production_key` is that row's natural key)."""

    table: str
    key: Mapping[str, Any]
    staging_id: Any
    production_id: Any
    production_key: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        if self.production_key is not None:
            return (
                f"{self.table} {dict(self.key)!r} has id {self.staging_id} in staging but production holds "
                f"id {self.production_id} for {dict(self.production_key)!r}, outside the scope"
            )
        return (
            f"{self.table} {dict(self.key)!r} has id {self.staging_id} in staging but production holds it "
            f"under id {self.production_id}"
        )


class MissingParentError(SyncError):
    """A promoted row refers to a row outside its scope (its dataset, a deposition) that production lacks yet."""


class RowConflictError(SyncError):
    """Production holds a row with the same natural key under another id (or a staging row's id for another
    row); nothing was changed.

    `conflicts` lists every such row of the scope. Promoting would give the production row a new id, which
    users who trained models on the old one would not find: a curator resolves it by hand.
    """

    def __init__(self, scope: RowScope, conflicts: Sequence[RowConflict]) -> None:
        self.scope = scope
        self.conflicts = tuple(conflicts)
        listed = "; ".join(str(conflict) for conflict in self.conflicts)
        super().__init__(f"cannot promote {scope}: {listed}; nothing was changed in production")


def promote_rows(
    staging: Engine,
    production: Engine,
    scope: RowScope,
    *,
    prefixes: Mapping[str, str] = MappingProxyType({}),
    s3_prefixes: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> SyncReport:
    """Make production's rows of `scope` equal staging's, ids included, in one production transaction.

    Staging's rows are read in one transaction (a consistent snapshot) and written parents first, each matched
    by primary key: inserted when production lacks it, updated in the columns that differ (NULL-safe, floats
    to 1e-12, timestamps as instants; see `lib.db.sync.same_value`), counted unchanged otherwise. Then the
    production rows of the scope (found the same way in production) that staging lacks are deleted, children
    first; when staging has no root row, that is the whole production scope. Rows of other tables that go
    with them by ON DELETE CASCADE (the runs of a deleted dataset) are counted as deleted in their tables.

    `prefixes` maps staging roots to production roots (`{"s3://staging": "s3://production"}`): every string
    value that starts with a key has it replaced by its value, the longest matching key winning, so production
    rows point at production files. When `s3_prefixes` is given, it replaces `prefixes` for the columns named
    `s3_*` (the portal's bucket URIs, facts §5; the other columns hold public https URLs), so the two kinds of
    column can be told apart even when staging's s3 and https roots are the same. With `dry_run`, the same report is computed and everything rolled back.

    Returns the counts of every table of the scope (and of tables deleted from by cascade).
    Raises ValueError for a scope naming unknown tables or a table without a foreign key into the scope;
    RowConflictError if production holds a row of the scope's natural key under another id; SyncError if a
    row refers to a row outside the scope that production does not hold ("dataset 10001 is not in the
    production database; promote it first": MissingParentError), or for any database error, which rolls everything back.
    """
    layout = _ScopeLayout.of(scope)
    rewrites = _prefix_rewrites(prefixes)
    s3_rewrites = rewrites if s3_prefixes is None else _prefix_rewrites(s3_prefixes)
    staged = _read_staging(staging, layout, rewrites, s3_rewrites)
    report = SyncReport({name: TableCounts() for name in (table.name for table in layout.order)})
    with production.connect() as connection:
        if connection.dialect.name == "sqlite":
            enforce_sqlite_foreign_keys(connection)
        transaction = connection.begin()
        try:
            _apply(connection, layout, staged, report)
            if dry_run:
                transaction.rollback()
            else:
                if connection.dialect.name == "postgresql":
                    _advance_sequences(connection, [name for name, c in report.tables.items() if c.inserted])
                transaction.commit()
        except SyncError:
            transaction.rollback()
            raise
        except Exception as exc:
            transaction.rollback()
            raise SyncError(f"promotion of {scope} failed: {error_reason(exc)}; nothing was changed") from exc
    return report


@dataclass(frozen=True)
class _ScopeLayout:
    """A scope's tables parents first, and the foreign keys by which each other table reaches the scope."""

    scope: RowScope
    order: tuple[Table, ...]
    links: Mapping[str, tuple[ForeignKey, ...]]

    @classmethod
    def of(cls, scope: RowScope) -> _ScopeLayout:
        tables = {name: synced_table(name) for name in scope.tables}
        check_columns(tables[scope.root_table], scope.root, what=f"the root of scope {scope}")
        order = tuple(table for table in Base.metadata.sorted_tables if table.name in tables)
        links = {}
        for table in order:
            inward = tuple(
                sorted(
                    (fk for fk in table.foreign_keys if fk.column.table.name in tables),
                    key=lambda fk: fk.parent.name,
                )
            )
            if any(fk.column.table is table for fk in inward):
                raise ValueError(f"table {table.name} refers to itself; promotion does not support that")
            if table.name == scope.root_table:
                if inward:
                    raise ValueError(
                        f"root table {table.name} of scope {scope} refers to {inward[0].column.table.name}, "
                        "another table of the scope: the root must be the scope's topmost table"
                    )
            elif not inward:
                raise ValueError(
                    f"table {table.name} of scope {scope} has no foreign key to another table of the scope"
                )
            links[table.name] = inward
        return cls(scope, order, links)


def _read_staging(
    staging: Engine, layout: _ScopeLayout, rewrites: Sequence[tuple[str, str]],
    s3_rewrites: Sequence[tuple[str, str]],
) -> Rows:
    """The scope's staging rows as production should hold them (prefixes rewritten, timestamps in UTC)."""
    with staging.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        try:
            with connection.begin():
                rows = _read_scope(connection, layout)
        except Exception as exc:
            raise SyncError(f"reading {layout.scope} from staging failed: {error_reason(exc)}") from exc
    for table in layout.order:
        for row in rows[table.name].values():
            for column in table.columns:
                column_rewrites = s3_rewrites if column.name.startswith("s3_") else rewrites
                row[column.name] = _production_value(column, row[column.name], column_rewrites)
    return rows


def _read_scope(connection: Connection, layout: _ScopeLayout) -> Rows:
    """Rows of every table of the scope, parents first, keyed by primary key."""
    root_table = layout.order[0]
    rows: Rows = {}
    found = connection.execute(select(root_table).where(null_safe_match(root_table, layout.scope.root)))
    rows[root_table.name] = _by_key(root_table, found.mappings())
    for table in layout.order[1:]:
        rows[table.name] = {}
        for fk in layout.links[table.name]:
            parents = rows[fk.column.table.name].values()
            values = sorted({row[fk.column.name] for row in parents} - {None})
            for chunk in _chunks(values):
                found = connection.execute(select(table).where(fk.parent.in_(chunk)))
                rows[table.name].update(_by_key(table, found.mappings()))
    return rows


def _by_key(table: Table, rows: Iterable[Mapping[str, Any]]) -> dict[Any, dict[str, Any]]:
    pk = primary_key_column(table).name
    return {row[pk]: dict(row) for row in rows}


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), DELETE_BATCH):
        yield values[start : start + DELETE_BATCH]


def _prefix_rewrites(prefixes: Mapping[str, str]) -> list[tuple[str, str]]:
    for source, target in prefixes.items():
        if not isinstance(source, str) or not source or not isinstance(target, str):
            raise ValueError(f"prefix rewrite {source!r} -> {target!r}: two strings, the first non-empty")
    return sorted(prefixes.items(), key=lambda item: len(item[0]), reverse=True)


def _production_value(column: Column[Any], value: Any, rewrites: Sequence[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for source, target in rewrites:
            if value.startswith(source):
                return target + value[len(source) :]
        return value
    if isinstance(value, datetime.datetime) and isinstance(column.type, DateTime) and column.type.timezone:
        # SQLite returns these naive, in UTC; PostgreSQL would read a naive value in its session's time zone.
        return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value.astimezone(datetime.UTC)
    return value


def _apply(connection: Connection, layout: _ScopeLayout, staged: Rows, report: SyncReport) -> None:
    _check_outside_parents(connection, layout, staged)
    current = _read_scope(connection, layout)
    _check_conflicts(connection, layout, staged, current)
    in_production = {name: set(rows) for name, rows in current.items()}
    for table in layout.order:
        _upsert(connection, table, staged[table.name], current[table.name], report.tables[table.name])
    for table in reversed(layout.order):
        stale = sorted(in_production[table.name] - set(staged[table.name]))
        if not stale:
            continue
        for name, count in _cascade_counts(connection, table, stale).items():
            report.tables.setdefault(name, TableCounts()).deleted += count
        pk = primary_key_column(table)
        for chunk in _chunks(stale):
            deleted = connection.execute(delete(table).where(pk.in_(chunk)))
            report.tables[table.name].deleted += deleted.rowcount


def _check_outside_parents(connection: Connection, layout: _ScopeLayout, staged: Rows) -> None:
    """SyncError naming every row outside the staged rows that a staged row refers to and production lacks."""
    # (table, column) -> referenced value -> "table.column" of the referring rows
    needed: dict[tuple[str, str], dict[Any, set[str]]] = {}
    for table in layout.order:
        for fk in table.foreign_keys:
            target = fk.column
            staged_targets = {row[target.name] for row in staged.get(target.table.name, {}).values()}
            for row in staged[table.name].values():
                value = row[fk.parent.name]
                if value is None or value in staged_targets:
                    continue
                referrers = needed.setdefault((target.table.name, target.name), {}).setdefault(value, set())
                referrers.add(f"{table.name}.{fk.parent.name}")
    problems = []
    for (table_name, column_name), wanted in sorted(needed.items()):
        column = Base.metadata.tables[table_name].c[column_name]
        present: set[Any] = set()
        for chunk in _chunks(sorted(wanted)):
            present.update(connection.execute(select(column).where(column.in_(chunk))).scalars())
        missing = sorted(set(wanted) - present)
        if not missing:
            continue
        referrers = sorted(set().union(*(wanted[value] for value in missing)))
        listed = ", ".join(str(value) for value in missing)
        one = len(missing) == 1
        problems.append(
            f"{table_name} {listed} {'is' if one else 'are'} not in the production database; promote "
            f"{'it' if one else 'them'} first ({', '.join(referrers)} of {layout.scope} refers to "
            f"{'it' if one else 'them'})"
        )
    if problems:
        raise MissingParentError("; ".join(problems))


def _check_conflicts(connection: Connection, layout: _ScopeLayout, staged: Rows, current: Rows) -> None:
    """RowConflictError if production holds a staged row's natural key (NULL-safe) under another id, or holds
    a staged row's id for a row outside the scope (`current`: production's rows of the scope)."""
    conflicts = []
    for table in layout.order:
        pk = primary_key_column(table)
        key_names = natural_key(table.name)
        for staging_id, row in sorted(staged[table.name].items()):
            key = {name: row[name] for name in key_names}
            if key_names != (pk.name,):
                query = select(pk).where(null_safe_match(table, key), pk != staging_id).order_by(pk).limit(1)
                production_id = connection.execute(query).scalar()
                if production_id is not None:
                    conflicts.append(RowConflict(table.name, key, staging_id, production_id))
                    continue
            if staging_id not in current[table.name]:
                query = select(*(table.c[name] for name in key_names)).where(pk == staging_id)
                other = connection.execute(query).mappings().first()
                if other is not None:
                    conflicts.append(RowConflict(table.name, key, staging_id, staging_id, dict(other)))
    if conflicts:
        raise RowConflictError(layout.scope, conflicts)


def _upsert(
    connection: Connection,
    table: Table,
    staged: Mapping[Any, Mapping[str, Any]],
    current: Mapping[Any, Mapping[str, Any]],
    counts: TableCounts,
) -> None:
    pk = primary_key_column(table)
    inserts = []
    for key, row in sorted(staged.items()):
        existing = current.get(key)
        if existing is None:
            inserts.append(row)
            continue
        changes = {name: value for name, value in row.items() if not same_value(existing[name], value)}
        if changes:
            connection.execute(update(table).where(pk == key).values(changes))
            counts.updated += 1
        else:
            counts.unchanged += 1
    if inserts:
        connection.execute(insert(table), inserts)
        counts.inserted += len(inserts)


def _cascade_counts(connection: Connection, table: Table, ids: Sequence[Any]) -> dict[str, int]:
    """Rows of other tables that deleting these rows of `table` deletes by ON DELETE CASCADE, per table."""
    counts: dict[str, int] = {}
    seen: dict[str, set[Any]] = {}
    todo: list[tuple[Table, Sequence[Any]]] = [(table, ids)]
    while todo:
        parent, keys = todo.pop()
        for child in Base.metadata.sorted_tables:
            for fk in child.foreign_keys:
                if fk.column.table is not parent or (fk.ondelete or "").upper() != "CASCADE":
                    continue
                child_pk = primary_key_column(child)
                found: set[Any] = set()
                for chunk in _chunks(_column_values(connection, parent, fk.column, keys)):
                    found.update(connection.execute(select(child_pk).where(fk.parent.in_(chunk))).scalars())
                new = sorted(found - seen.setdefault(child.name, set()))
                if new:
                    seen[child.name].update(new)
                    counts[child.name] = counts.get(child.name, 0) + len(new)
                    todo.append((child, new))
    return counts


def _column_values(
    connection: Connection, table: Table, column: Column[Any], ids: Sequence[Any]
) -> list[Any]:
    """Values of `column` in the rows of `table` with these primary keys."""
    pk = primary_key_column(table)
    if column is pk:
        return sorted(ids)
    values: set[Any] = set()
    for chunk in _chunks(sorted(ids)):
        values.update(connection.execute(select(column).where(pk.in_(chunk))).scalars())
    return sorted(values - {None})


def _advance_sequences(connection: Connection, table_names: Iterable[str]) -> None:
    """Move each table's id sequence past the ids promotion inserted, so that a later insert without an id
    does not collide with them; a sequence is never moved back."""
    # Called just before COMMIT: setval is not undone by a rollback, which would only leave ids unused.
    for name in table_names:
        table = Base.metadata.tables[name]
        pk = primary_key_column(table)
        sequence = connection.execute(
            text("select pg_get_serial_sequence(:table, :column)"), {"table": name, "column": pk.name}
        ).scalar()
        highest = connection.execute(select(func.max(pk))).scalar()
        if sequence is None or highest is None:
            continue
        connection.execute(
            text(
                "select setval(:sequence, greatest(:highest, "
                "coalesce(pg_sequence_last_value(cast(:sequence as regclass)), 1)))"
            ),
            {"sequence": sequence, "highest": highest},
        )
