"""Formatted strings of a config (`{run_name}` globs, `float {col}` metadata) and the run maps they read."""

from __future__ import annotations

import csv
import io
import re
import string
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from cryoet_assets.lib.config.models import (
    FLOAT_TEMPLATE,
    INT_TEMPLATE,
    STRING_TEMPLATE,
    ConfigModel,
    Number,
    field_spec,
    template_form,
)

RUN_NAME_COLUMN = "run_name"
_VARIABLE = re.compile(r"^[A-Za-z0-9_-]+$")
_COLUMN = re.compile(r"\{([a-zA-Z0-9_-]+)\}")


class TemplateError(ValueError):
    """A template or map file that cannot be expanded or parsed; the message names the field or file."""


def template_variables(template: str, *, field: str) -> list[str]:
    """Names of the `{variables}` a template uses, in order; raise TemplateError if it is malformed."""
    names = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"{field}: {template!r} is not a valid template: {exc}") from None
    for _literal, name, spec, _conversion in parsed:
        if name is None:
            continue
        if not _VARIABLE.match(name) or name.isdigit():
            raise TemplateError(
                f"{field}: {template!r} uses {{{name}}}: "
                "a template variable is a plain name such as {run_name}"
            )
        if spec and "{" in spec:
            raise TemplateError(f"{field}: {template!r} nests a variable inside a format spec")
        names.append(name)
    return names


def format_template(template: str, variables: Mapping[str, object], *, field: str) -> str:
    """Fill `{name}` fields of `template` from `variables` (str.format semantics; only plain names)."""
    names = template_variables(template, field=field)
    missing = [name for name in names if name not in variables]
    if missing:
        available = ", ".join(sorted(variables)) or "none"
        raise TemplateError(
            f"{field}: template {template!r} uses unknown variable {missing[0]!r}; "
            f"available variables: {available}"
        )
    try:
        return template.format_map({name: variables[name] for name in names})
    except (ValueError, TypeError) as exc:
        raise TemplateError(f"{field}: cannot format template {template!r}: {exc}") from None


def expand_metadata(
    metadata: Any, row: Mapping[str, str], *, field: str, model: type[BaseModel] | None = None
) -> Any:
    """Copy of `metadata` with run-map templates filled from `row`, recursively through mappings and lists.

    `"{col}"` becomes the row's text, `"float {col}"` / `"int {col}"` its value cast to float / int; any
    other string with `{...}` fields is formatted from the row. A config model is expanded as its
    `yaml_data()`, typed by its own class.

    With `model` (the config model class of `metadata`, e.g. `Tomogram`), a template in a number field
    gives the field's type whatever its form: a float for a `number` (so `int {col}` in `tilt_range.min`
    gives -60.0), an int for an `integer` (so `float {col}` holding "4.0" gives 4), and the value must
    be within the field's schema bounds. Raises TemplateError naming the field and column when a
    column is missing or its text is not such a number.
    """
    if isinstance(metadata, ConfigModel):
        model = model or type(metadata)
        metadata = metadata.yaml_data()
    return _expand(metadata, row, field, model)


def _expand(value: Any, row: Mapping[str, str], where: str, spec: Any) -> Any:
    if isinstance(value, Mapping):
        model = spec if isinstance(spec, type) and issubclass(spec, BaseModel) else None
        return {
            key: _expand(item, row, f"{where}.{key}", field_spec(model, key) if model else None)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_expand(item, row, f"{where}[{index}]", spec) for index, item in enumerate(value)]
    if not isinstance(value, str) or "{" not in value:
        return value
    if isinstance(spec, Number) and template_form(value) is not None:
        return _number(value, row, where, spec)
    if FLOAT_TEMPLATE.match(value):
        return _cast(value, row, where, kind="float")
    if INT_TEMPLATE.match(value):
        return _cast(value, row, where, kind="int")
    if STRING_TEMPLATE.match(value):
        return _column(_COLUMN.search(value).group(1), value, row, where)
    return format_template(value, row, field=where)


def _number(template: str, row: Mapping[str, str], where: str, spec: Number) -> int | float:
    column = _COLUMN.search(template).group(1)
    text = str(_column(column, template, row, where))
    try:
        if template_form(template) == "int":
            # `int {col}` asks for a whole number even in a float field, which then gets it as a float.
            text = str(Number("integer").resolve(text))
        return spec.resolve(text)
    except ValueError as exc:
        raise TemplateError(f"{where}: column {column!r} of template {template!r}: {exc}") from None


def _column(column: str, template: str, row: Mapping[str, str], where: str) -> str:
    if column not in row:
        available = ", ".join(sorted(row)) or "none"
        raise TemplateError(
            f"{where}: template {template!r} needs column {column!r}, which the run map row does not have; "
            f"available columns: {available}"
        )
    return row[column]


def _cast(template: str, row: Mapping[str, str], where: str, *, kind: str) -> int | float:
    column = _COLUMN.search(template).group(1)
    text = str(_column(column, template, row, where)).strip()
    try:
        number = float(text)
        if kind == "float":
            return number
        if text.lstrip("+-").isdigit():
            return int(text)
        if number.is_integer():
            return int(number)
    except ValueError:
        pass
    article = "a float" if kind == "float" else "an integer"
    raise TemplateError(
        f"{where}: column {column!r} holds {text!r}, which is not {article} (template {template!r})"
    )


def parse_run_map(text: str, *, filename: str) -> dict[str, dict[str, str]]:
    """Parse a run data map (`.tsv` tab-separated, else comma) into {run_name: {column: value}}."""
    delimiter = "\t" if filename.lower().endswith(".tsv") else ","
    rows = _rows(text, filename=filename, delimiter=delimiter)
    if not rows:
        raise TemplateError(
            f"{filename}: the run map is empty: it needs a header row with a {RUN_NAME_COLUMN!r} column"
        )
    header_line, header = rows[0]
    header = [name.strip() for name in header]
    if RUN_NAME_COLUMN not in header:
        separator = "tab" if delimiter == "\t" else "comma"
        raise TemplateError(
            f"{filename}:{header_line}: the header has no {RUN_NAME_COLUMN!r} column "
            f"(columns: {', '.join(header) or 'none'}; {separator}-separated)"
        )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise TemplateError(
            f"{filename}:{header_line}: duplicate column(s) in the header: {', '.join(duplicated)}"
        )
    runs: dict[str, dict[str, str]] = {}
    first_line: dict[str, int] = {}
    for line, values in rows[1:]:
        if len(values) != len(header):
            raise TemplateError(
                f"{filename}:{line}: the row has {len(values)} values, the header {len(header)} columns"
            )
        record = dict(zip(header, values, strict=True))
        run = record[RUN_NAME_COLUMN].strip()
        if not run:
            raise TemplateError(f"{filename}:{line}: empty {RUN_NAME_COLUMN!r}")
        if run in runs:
            raise TemplateError(f"{filename}:{line}: run {run!r} is already listed on line {first_line[run]}")
        runs[run] = record
        first_line[run] = line
    return runs


def parse_two_column_map(text: str, *, filename: str) -> dict[str, str]:
    """Parse a headerless two-column CSV (run_to_tomo/frame/ts map) into {run_name: mapped_name}."""
    mapping: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, values in _rows(text, filename=filename, delimiter=","):
        if len(values) < 2 or any(value.strip() for value in values[2:]):
            raise TemplateError(
                f"{filename}:{line}: expected two columns (run name, mapped name), got {len(values)}"
            )
        run, mapped = values[0].strip(), values[1].strip()
        if not run:
            raise TemplateError(f"{filename}:{line}: empty run name")
        if run in mapping:
            raise TemplateError(f"{filename}:{line}: run {run!r} is already mapped on line {first_line[run]}")
        mapping[run] = mapped
        first_line[run] = line
    return mapping


def _rows(text: str, *, filename: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """Non-blank CSV rows with the 1-based line each starts on."""
    reader = csv.reader(
        io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter, strict=True
    )
    rows = []
    line = 1
    try:
        for values in reader:
            if any(value.strip() for value in values):
                rows.append((line, values))
            line = reader.line_num + 1
    except csv.Error as exc:
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise TemplateError(f"{filename}:{reader.line_num}: malformed {kind}: {exc}") from None
    return rows
