"""What the families' row builders share: prefixes, author rows, typed document fields (facts §5.1)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from cryoet_assets.lib.db.sync import Ref, Row

AUTHOR_FIELDS = {
    "orcid": "ORCID",
    "kaggle_id": "kaggle_id",
    "email": "email",
    "affiliation_name": "affiliation_name",
    "affiliation_address": "affiliation_address",
    "affiliation_identifier": "affiliation_identifier",
    "corresponding_author_status": "corresponding_author_status",
    "primary_author_status": "primary_author_status",
}
DATE_FIELDS = ("deposition_date", "release_date", "last_modified_date")


class MetadataError(ValueError):
    """A metadata document lacks a field the database needs, or holds a value of the wrong kind."""


def s3_prefix_of(s3_prefix: str, path: str) -> str:
    """`s3://{bucket}/{path}/` from the bucket's s3 prefix and a bucket-relative directory."""
    return join_url(checked_prefix(s3_prefix, ("s3://", "file://")), path) + "/"


def https_prefix_of(https_prefix: str, path: str) -> str:
    """`{https_base}/{path}/` from the bucket's https base and a bucket-relative directory."""
    return join_url(checked_prefix(https_prefix, ("https://", "http://", "file://")), path) + "/"


def checked_prefix(prefix: str, schemes: tuple[str, ...]) -> str:
    if not isinstance(prefix, str) or not prefix.startswith(schemes):
        raise ValueError(f"prefix {prefix!r} must start with {' or '.join(schemes)}")
    return prefix


def join_url(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path.strip('/')}"


def photo_url(https_prefix: str, path: Any) -> str | None:
    """URL of a key photo whose path in the metadata is bucket-relative."""
    if not path:
        return None
    return join_url(checked_prefix(https_prefix, ("https://", "http://", "file://")), str(path))


def author_table_rows(table: str, parent_column: str, parent_id: int | Ref, fields: Fields) -> list[Row]:
    rows = []
    for index, author in enumerate(fields.sequence("authors")):
        where = f"authors[{index}]"
        if not isinstance(author, Mapping):
            raise MetadataError(f"{fields.source}: field '{where}' must be an object, got {author!r}")
        name = author.get("name")
        if not isinstance(name, str) or not name.strip():
            raise MetadataError(f"{fields.source}: field '{where}.name' is missing or empty")
        values = {parent_column: parent_id, "name": name}
        values.update({column: author.get(key) for column, key in AUTHOR_FIELDS.items()})
        # The portal keeps an explicit order and otherwise numbers authors by position, from 1.
        values["author_list_order"] = author.get("author_list_order") or index + 1
        rows.append(Row(table, values))
    return rows


class Fields:
    """Typed access to a metadata document's fields with errors that name the document and the field."""

    def __init__(self, doc: Mapping[str, Any], source: str) -> None:
        if not isinstance(doc, Mapping):
            raise MetadataError(f"{source}: expected a JSON object, got {type(doc).__name__}")
        self.doc = doc
        self.source = source

    def _error(self, path: tuple[str, ...], problem: str) -> MetadataError:
        return MetadataError(f"{self.source}: field '{'.'.join(path)}' {problem}")

    def optional(self, *path: str) -> Any:
        value: Any = self.doc
        for part in path:
            if value is None:
                return None
            if not isinstance(value, Mapping):
                raise self._error(path, f"cannot be read: {part!r}'s parent is not an object")
            value = value.get(part)
        return value

    def required(self, *path: str) -> Any:
        value = self.optional(*path)
        if value is None:
            raise self._error(path, "is missing")
        return value

    def text(self, *path: str) -> str:
        value = self.required(*path)
        if not isinstance(value, str):
            raise self._error(path, f"must be a string, got {value!r}")
        return value

    def integer(self, *path: str) -> int:
        value = self.required(*path)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        raise self._error(path, f"must be an integer, got {value!r}")

    def date(self, *path: str) -> datetime.datetime:
        value = self.required(*path)
        if isinstance(value, datetime.datetime):
            return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
        if isinstance(value, datetime.date):
            return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)
        try:
            day = datetime.datetime.strptime(str(value), "%Y-%m-%d")
        except ValueError:
            raise self._error(path, f"must be a date YYYY-MM-DD, got {value!r}") from None
        return day.replace(tzinfo=datetime.UTC)

    def number(self, *path: str, required: bool = True) -> float | None:
        value = self.required(*path) if required else self.optional(*path)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise self._error(path, f"must be a number, got {value!r}")

    def boolean(self, *path: str, required: bool = True) -> bool | None:
        value = self.required(*path) if required else self.optional(*path)
        if value is None or isinstance(value, bool):
            return value
        raise self._error(path, f"must be true or false, got {value!r}")

    def mapping(self, *path: str, required: bool = True) -> Mapping[str, Any]:
        value = self.required(*path) if required else self.optional(*path)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._error(path, f"must be an object, got {value!r}")
        return value

    def sequence(self, *path: str, required: bool = True) -> list[Any]:
        value = self.required(*path) if required else self.optional(*path)
        if value is None:
            return []
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise self._error(path, f"must be a list, got {value!r}")
        return list(value)
