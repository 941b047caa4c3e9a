"""Table models of tomograms (facts §5)."""

from __future__ import annotations

import datetime

from sqlalchemy import Boolean, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cryoet_assets.lib.db.models import AuthorColumns, Base, Timestamp, natural_key, parent_key


class Tomogram(Base):
    """A tomogram of a voxel spacing; enum columns of the portal are plain strings here."""

    __tablename__ = "tomogram"
    __table_args__ = natural_key(
        "deposition_id", "processing", "processing_software", "reconstruction_method", "run_id",
        "tomogram_voxel_spacing_id",
    )
    # No unique constraint on the natural key (facts §5.1): processing_software and deposition_id may be NULL,
    # which a plain UNIQUE does not compare; the sync matches the key NULL-safely instead.

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The alignment table does not exist yet; the column is kept so the shape matches the portal's.
    alignment_id: Mapped[int | None] = mapped_column(Integer, index=True)
    deposition_id: Mapped[int | None] = mapped_column(Integer, parent_key("deposition.id"), index=True)
    run_id: Mapped[int] = mapped_column(Integer, parent_key("run.id"), nullable=False, index=True)
    tomogram_voxel_spacing_id: Mapped[int] = mapped_column(
        Integer, parent_key("tomogram_voxel_spacing.id"), nullable=False, index=True
    )
    name: Mapped[str | None] = mapped_column(String)
    size_x: Mapped[int] = mapped_column(Integer, nullable=False)
    size_y: Mapped[int] = mapped_column(Integer, nullable=False)
    size_z: Mapped[int] = mapped_column(Integer, nullable=False)
    voxel_spacing: Mapped[float] = mapped_column(Float, nullable=False)
    fiducial_alignment_status: Mapped[str] = mapped_column(String, nullable=False)
    reconstruction_method: Mapped[str] = mapped_column(String, nullable=False)
    processing: Mapped[str] = mapped_column(String, nullable=False)
    tomogram_version: Mapped[float | None] = mapped_column(Float)
    processing_software: Mapped[str | None] = mapped_column(String)
    reconstruction_software: Mapped[str] = mapped_column(String, nullable=False)
    is_portal_standard: Mapped[bool | None] = mapped_column(Boolean)
    is_author_submitted: Mapped[bool | None] = mapped_column(Boolean)
    is_visualization_default: Mapped[bool | None] = mapped_column(Boolean)
    s3_omezarr_dir: Mapped[str | None] = mapped_column(String)
    https_omezarr_dir: Mapped[str | None] = mapped_column(String)
    file_size_omezarr: Mapped[float | None] = mapped_column(Float)
    s3_mrc_file: Mapped[str | None] = mapped_column(String)
    https_mrc_file: Mapped[str | None] = mapped_column(String)
    file_size_mrc: Mapped[float | None] = mapped_column(Float)
    scale0_dimensions: Mapped[str | None] = mapped_column(String)
    scale1_dimensions: Mapped[str | None] = mapped_column(String)
    scale2_dimensions: Mapped[str | None] = mapped_column(String)
    ctf_corrected: Mapped[bool | None] = mapped_column(Boolean)
    offset_x: Mapped[int] = mapped_column(Integer, nullable=False)
    offset_y: Mapped[int] = mapped_column(Integer, nullable=False)
    offset_z: Mapped[int] = mapped_column(Integer, nullable=False)
    key_photo_url: Mapped[str | None] = mapped_column(String)
    key_photo_thumbnail_url: Mapped[str | None] = mapped_column(String)
    neuroglancer_config: Mapped[str | None] = mapped_column(String)
    publications: Mapped[str | None] = mapped_column(String)
    related_database_entries: Mapped[str | None] = mapped_column(String)
    deposition_date: Mapped[datetime.datetime | None] = mapped_column(Timestamp)
    release_date: Mapped[datetime.datetime | None] = mapped_column(Timestamp)
    last_modified_date: Mapped[datetime.datetime | None] = mapped_column(Timestamp)


class TomogramAuthor(AuthorColumns, Base):
    """An author of a tomogram, in `author_list_order`."""

    __tablename__ = "tomogram_author"
    __table_args__ = (UniqueConstraint("tomogram_id", "name"), natural_key("tomogram_id", "name"))

    tomogram_id: Mapped[int] = mapped_column(Integer, parent_key("tomogram.id"), nullable=False, index=True)
