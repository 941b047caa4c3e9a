"""The portal's basic metadata check (facts §4.2 "Any metadata ... basic") as frame columns and expectations.

Applies to deposition, dataset, tomogram and annotation documents: `deposition_id` truthy; `authors` a list
of at least one object, each with a non-empty `name`; at least one corresponding and one primary author.
"""

from __future__ import annotations

from typing import Any

from cryoet_assets.lib.documents import type_name
from cryoet_assets.lib.validation.gx import rows_frame, run_suite
from cryoet_assets.lib.validation.outcome import ValidationOutcome
from cryoet_assets.lib.validation.photos import PHOTO_COLUMNS, photo_expectations, photo_rows

MISSING = "missing"
BASIC_DOCUMENT_COLUMNS = (
    "deposition_id",
    "authors_type",
    "author_count",
    "corresponding_author_count",
    "primary_author_count",
)
AUTHOR_COLUMNS = ("author_type", "author_name")


def json_type(doc: dict[str, Any], key: str) -> str:
    """JSON type name of `doc[key]` ("object", "array", "string", "integer", ...), or "missing"."""
    if key not in doc:
        return MISSING
    return type_name(doc[key])


def text(value: object) -> str:
    """The portal asserts these are truthy: falsy (missing, None, "", 0) becomes "", others their str."""
    return str(value) if value else ""


def non_empty(column: str, *, reason: str, whitespace_reason: str | None = None) -> list:
    """Critical: `column` (filled by `text()`) is non-empty; with `whitespace_reason`, warn on whitespace.

    Whitespace-only passes the portal's truthiness test, so it is only a warning here.
    """
    import great_expectations.expectations as gxe

    expectations = [gxe.ExpectColumnValueLengthsToBeBetween(column=column, min_value=1, description=reason)]
    if whitespace_reason:
        expectations.append(
            gxe.ExpectColumnValuesToNotMatchRegex(
                column=column,
                regex=r"^\s+$",
                severity="warning",
                description=whitespace_reason,
            )
        )
    return expectations


def basic_document_columns(doc: dict[str, Any]) -> dict[str, Any]:
    """Document-row values for the basic check; author counts are null when `authors` is not a list."""
    authors = doc.get("authors")
    is_list = isinstance(authors, list)
    objects = [a for a in authors if isinstance(a, dict)] if is_list else []

    def count(flag: str) -> int | None:
        return sum(1 for a in objects if a.get(flag)) if is_list else None

    return {
        "deposition_id": text(doc.get("deposition_id")),
        "authors_type": json_type(doc, "authors"),
        "author_count": len(authors) if is_list else None,
        "corresponding_author_count": count("corresponding_author_status"),
        "primary_author_count": count("primary_author_status"),
    }


def author_rows(doc: dict[str, Any], *, path: str) -> list[dict[str, Any]]:
    """One frame row per entry of `authors`, named `<path>: authors[i]`."""
    authors = doc.get("authors")
    if not isinstance(authors, list):
        return []
    rows = []
    for index, author in enumerate(authors):
        is_object = isinstance(author, dict)
        rows.append(
            {
                "where": f"{path}: authors[{index}]",
                "author_type": type_name(author),
                "author_name": text(author.get("name")) if is_object else None,
            }
        )
    return rows


def basic_expectations() -> list:
    """Expectations over `basic_document_columns` and `author_rows`; all are failures in the portal."""
    import great_expectations.expectations as gxe

    return [
        *non_empty("deposition_id", reason="deposition_id must be set"),
        gxe.ExpectColumnValuesToBeInSet(
            column="authors_type", value_set=["array"], description="authors must be a list of authors"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="author_count", min_value=1, description="authors must name at least one author"
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="corresponding_author_count",
            min_value=1,
            description="at least one author must have corresponding_author_status true",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="primary_author_count",
            min_value=1,
            description="at least one author must have primary_author_status true",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="author_type", value_set=["object"], description="each author must be an object"
        ),
        *non_empty(
            "author_name",
            reason="each author must have a non-empty name",
            whitespace_reason="author name is only whitespace",
        ),
    ]


def expect_document_object() -> Any:
    """The metadata file holds a JSON object (over the `document_type` column, see `type_name`)."""
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeInSet(
        column="document_type", value_set=["object"], description="the metadata file must hold a JSON object"
    )


def expect_deposition_exists() -> Any:
    """The deposition a document names is published (over a boolean `deposition_exists` column)."""
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeInSet(
        column="deposition_exists",
        value_set=[True],
        description=(
            "the deposition named by deposition_id must have "
            "depositions_metadata/{id}/deposition_metadata.json"
        ),
    )


def validate_authored_document(
    suite: str,
    prefix: str,
    doc: Any,
    *,
    path: str,
    photos: dict[str, bytes | None],
    extra: dict[str, Any],
    extra_expectations: list,
) -> ValidationOutcome:
    """Deposition and dataset metadata: `{prefix}_description/title/identifier`, basic check, photos (facts §4.2).

    `photos` maps each key photo path the document sets to its bytes (None when missing); `extra` adds
    columns to the document's row and `extra_expectations` checks them.
    """
    import great_expectations.expectations as gxe

    body = doc if isinstance(doc, dict) else {}
    description, title, identifier = (f"{prefix}_description", f"{prefix}_title", f"{prefix}_identifier")
    document_row = {
        "where": path,
        "document_type": type_name(doc),
        description: text(body.get(description)),
        title: text(body.get(title)),
        identifier: text(body.get(identifier)),
        "key_photos_type": json_type(body, "key_photos"),
        **basic_document_columns(body),
        **extra,
    }
    rows = [document_row, *author_rows(body, path=path), *photo_rows(body, path=path, photos=photos)]
    columns = [*document_row, *AUTHOR_COLUMNS, *PHOTO_COLUMNS]
    expectations = [
        expect_document_object(),
        *non_empty(
            description,
            reason=f"{description} must be non-empty",
            whitespace_reason=f"{description} is only whitespace",
        ),
        *non_empty(
            title, reason=f"{title} must be non-empty", whitespace_reason=f"{title} is only whitespace"
        ),
        *non_empty(identifier, reason=f"{identifier} must be set"),
        # The portal reads key_photos["thumbnail"] and key_photos["snapshot"]; a missing or non-object
        # key_photos fails there. A missing entry inside it is read here as "not set".
        gxe.ExpectColumnValuesToBeInSet(
            column="key_photos_type",
            value_set=["object"],
            description="key_photos must be an object with snapshot and thumbnail entries",
        ),
        *basic_expectations(),
        *photo_expectations(),
        *extra_expectations,
    ]
    return run_suite(suite, rows_frame(rows, columns=columns), expectations, where_column="where")
