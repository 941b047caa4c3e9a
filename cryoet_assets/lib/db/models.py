"""What the portal's v2 table models share (facts §5): the declarative base, author columns, natural keys.

The table models themselves live in their families (`cryoet_assets.families.<family>.models`).
"""

from __future__ import annotations

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base whose constraints get deterministic names (migrations can refer to them)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def natural_key(*columns: str) -> dict:
    """`__table_args__` entry naming the columns that identify a row across ingestions (facts §5.1)."""
    return {"info": {"natural_key": columns}}


def parent_key(column: str) -> ForeignKey:
    """Foreign key to a parent table's `column`; the child rows go with their parent."""
    return ForeignKey(column, ondelete="CASCADE")


class AuthorColumns:
    """The columns every portal author table shares (deposition_author, dataset_author, tomogram_author)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_list_order: Mapped[int] = mapped_column(Integer, nullable=False)
    orcid: Mapped[str | None] = mapped_column(String)
    kaggle_id: Mapped[str | None] = mapped_column(String)
    name: Mapped[str] = mapped_column(String, nullable=False)
    email: Mapped[str | None] = mapped_column(String)
    affiliation_name: Mapped[str | None] = mapped_column(String)
    affiliation_address: Mapped[str | None] = mapped_column(String)
    affiliation_identifier: Mapped[str | None] = mapped_column(String)
    corresponding_author_status: Mapped[bool | None] = mapped_column(Boolean)
    primary_author_status: Mapped[bool | None] = mapped_column(Boolean)
