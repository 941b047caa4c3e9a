"""Table models of datasets (facts §5)."""

from __future__ import annotations

import datetime

from sqlalchemy import Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cryoet_assets.lib.db.models import AuthorColumns, Base, Timestamp, natural_key, parent_key


class Dataset(Base):
    """A dataset; `id` is the dataset identifier, ontology terms are flattened into name/id columns."""

    __tablename__ = "dataset"
    __table_args__ = natural_key("id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    deposition_id: Mapped[int] = mapped_column(Integer, parent_key("deposition.id"), nullable=False, index=True)
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

    dataset_id: Mapped[int] = mapped_column(Integer, parent_key("dataset.id"), nullable=False, index=True)


class DatasetFunding(Base):
    """A funding source of a dataset; both fields may be null, so there is no unique constraint."""

    __tablename__ = "dataset_funding"
    __table_args__ = natural_key("dataset_id", "funding_agency_name", "grant_id")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(Integer, parent_key("dataset.id"), nullable=False, index=True)
    funding_agency_name: Mapped[str | None] = mapped_column(String)
    grant_id: Mapped[str | None] = mapped_column(String)
