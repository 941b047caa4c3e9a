"""SQLAlchemy models of the portal's v2 tables, with the portal's column names and types (facts §5)."""

from __future__ import annotations

import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, MetaData, String, UniqueConstraint
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


def _parent(column: str) -> ForeignKey:
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

    deposition_id: Mapped[int] = mapped_column(Integer, _parent("deposition.id"), nullable=False, index=True)


class DepositionType(Base):
    """One type of data (annotation, dataset, tomogram) a deposition holds."""

    __tablename__ = "deposition_type"
    __table_args__ = (UniqueConstraint("deposition_id", "type"), natural_key("deposition_id", "type"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deposition_id: Mapped[int] = mapped_column(Integer, _parent("deposition.id"), nullable=False, index=True)
    type: Mapped[str | None] = mapped_column(String)


class Dataset(Base):
    """A dataset; `id` is the dataset identifier, ontology terms are flattened into name/id columns."""

    __tablename__ = "dataset"
    __table_args__ = natural_key("id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    deposition_id: Mapped[int] = mapped_column(Integer, _parent("deposition.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(String, nullable=False)
    description: Mapped[str] = mapped_column(String, nullable=False)
    organism_name: Mapped[str | None] = mapped_column(String)
    organism_taxid: Mapped[int | None] = mapped_column(Integer)
    tissue_name: Mapped[str | None] = mapped_column(String)
    tissue_id: Mapped[str | None] = mapped_column(String)
    cell_name: Mapped[str | None] = mapped_column(String)
    cell_type_id: Mapped[str | None] = mapped_column(String)
    cell_strain_name: Mapped[str | None] = mapped_column(String)
    cell_strain_id: Mapped[str | None] = mapped_column(String)
    sample_type: Mapped[str | None] = mapped_column(String)
    sample_preparation: Mapped[str | None] = mapped_column(String)
    grid_preparation: Mapped[str | None] = mapped_column(String)
    other_setup: Mapped[str | None] = mapped_column(String)
    key_photo_url: Mapped[str | None] = mapped_column(String)
    key_photo_thumbnail_url: Mapped[str | None] = mapped_column(String)
    cell_component_name: Mapped[str | None] = mapped_column(String)
    cell_component_id: Mapped[str | None] = mapped_column(String)
    assay_label: Mapped[str | None] = mapped_column(String)
    assay_ontology_id: Mapped[str | None] = mapped_column(String)
    development_stage_name: Mapped[str | None] = mapped_column(String)
    development_stage_ontology_id: Mapped[str | None] = mapped_column(String)
    disease_name: Mapped[str | None] = mapped_column(String)
    disease_ontology_id: Mapped[str | None] = mapped_column(String)
    deposition_date: Mapped[datetime.datetime] = mapped_column(Timestamp, nullable=False)
    release_date: Mapped[datetime.datetime] = mapped_column(Timestamp, nullable=False)
    last_modified_date: Mapped[datetime.datetime] = mapped_column(Timestamp, nullable=False)
    dataset_publications: Mapped[str | None] = mapped_column(String)
    related_database_entries: Mapped[str | None] = mapped_column(String)
    s3_prefix: Mapped[str] = mapped_column(String, nullable=False)
    https_prefix: Mapped[str] = mapped_column(String, nullable=False)
    # The portal stores the byte count as a float.
    file_size: Mapped[float | None] = mapped_column(Float)


class DatasetAuthor(AuthorColumns, Base):
    """An author of a dataset, in `author_list_order`."""

    __tablename__ = "dataset_author"
    __table_args__ = (UniqueConstraint("dataset_id", "name"), natural_key("dataset_id", "name"))

    dataset_id: Mapped[int] = mapped_column(Integer, _parent("dataset.id"), nullable=False, index=True)


class DatasetFunding(Base):
    """A funding source of a dataset; both fields may be null, so there is no unique constraint."""

    __tablename__ = "dataset_funding"
    __table_args__ = natural_key("dataset_id", "funding_agency_name", "grant_id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(Integer, _parent("dataset.id"), nullable=False, index=True)
    funding_agency_name: Mapped[str | None] = mapped_column(String)
    grant_id: Mapped[str | None] = mapped_column(String)


class Run(Base):
    """An acquisition run of a dataset."""

    __tablename__ = "run"
    __table_args__ = (UniqueConstraint("dataset_id", "name"), natural_key("dataset_id", "name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(Integer, _parent("dataset.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String, nullable=False)
    s3_prefix: Mapped[str] = mapped_column(String, nullable=False)
    https_prefix: Mapped[str] = mapped_column(String, nullable=False)


class TomogramVoxelSpacing(Base):
    """A `Reconstructions/VoxelSpacing{vs:.3f}` directory of a run."""

    __tablename__ = "tomogram_voxel_spacing"
    __table_args__ = (UniqueConstraint("run_id", "voxel_spacing"), natural_key("run_id", "voxel_spacing"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, _parent("run.id"), nullable=False, index=True)
    voxel_spacing: Mapped[float] = mapped_column(Float, nullable=False)
    s3_prefix: Mapped[str] = mapped_column(String, nullable=False)
    https_prefix: Mapped[str] = mapped_column(String, nullable=False)


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
    deposition_id: Mapped[int | None] = mapped_column(Integer, _parent("deposition.id"), index=True)
    run_id: Mapped[int] = mapped_column(Integer, _parent("run.id"), nullable=False, index=True)
    tomogram_voxel_spacing_id: Mapped[int] = mapped_column(
        Integer, _parent("tomogram_voxel_spacing.id"), nullable=False, index=True
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

    tomogram_id: Mapped[int] = mapped_column(Integer, _parent("tomogram.id"), nullable=False, index=True)
