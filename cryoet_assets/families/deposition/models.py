"""Table models of depositions (facts §5)."""

from __future__ import annotations

import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cryoet_assets.lib.db.models import AuthorColumns, Base, Timestamp, natural_key, parent_key


class Deposition(Base):
    """A deposition; `id` is the deposition identifier from its metadata (no surrogate key)."""

    __tablename__ = "deposition"
    __table_args__ = natural_key("id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String, nullable=False)
    description: Mapped[str] = mapped_column(String, nullable=False)
    tag: Mapped[str | None] = mapped_column(String)
    deposition_publications: Mapped[str | None] = mapped_column(String)
    related_database_entries: Mapped[str | None] = mapped_column(String)
    deposition_date: Mapped[datetime.datetime] = mapped_column(Timestamp, nullable=False)
    release_date: Mapped[datetime.datetime] = mapped_column(Timestamp, nullable=False)
    last_modified_date: Mapped[datetime.datetime] = mapped_column(Timestamp, nullable=False)
    key_photo_url: Mapped[str | None] = mapped_column(String)
    key_photo_thumbnail_url: Mapped[str | None] = mapped_column(String)


class DepositionAuthor(AuthorColumns, Base):
    """An author of a deposition, in `author_list_order`."""

    __tablename__ = "deposition_author"
    __table_args__ = (UniqueConstraint("deposition_id", "name"), natural_key("deposition_id", "name"))

    deposition_id: Mapped[int] = mapped_column(Integer, parent_key("deposition.id"), nullable=False, index=True)


class DepositionType(Base):
    """One type of data (annotation, dataset, tomogram) a deposition holds."""

    __tablename__ = "deposition_type"
    __table_args__ = (UniqueConstraint("deposition_id", "type"), natural_key("deposition_id", "type"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deposition_id: Mapped[int] = mapped_column(Integer, parent_key("deposition.id"), nullable=False, index=True)
    type: Mapped[str | None] = mapped_column(String)
