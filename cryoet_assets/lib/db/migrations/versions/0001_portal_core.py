"""Portal core tables: deposition, dataset and run with their authors, types, funding and voxel spacings.

Revision ID: 0001_portal_core
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_portal_core"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), autoincrement=True, nullable=False)


def _parent(table: str, column: str, parent: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete="CASCADE"
    )


def _dates() -> list[sa.Column]:
    return [
        sa.Column(name, sa.DateTime(timezone=True), nullable=False)
        for name in ("deposition_date", "release_date", "last_modified_date")
    ]


def _author_columns() -> list[sa.Column]:
    return [
        sa.Column("author_list_order", sa.Integer(), nullable=False),
        sa.Column("orcid", sa.String(), nullable=True),
        sa.Column("kaggle_id", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("affiliation_name", sa.String(), nullable=True),
        sa.Column("affiliation_address", sa.String(), nullable=True),
        sa.Column("affiliation_identifier", sa.String(), nullable=True),
        sa.Column("corresponding_author_status", sa.Boolean(), nullable=True),
        sa.Column("primary_author_status", sa.Boolean(), nullable=True),
    ]


def _optional_strings(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.String(), nullable=True) for name in names]


def upgrade() -> None:
    op.create_table(
        "deposition",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        *_optional_strings("tag", "deposition_publications", "related_database_entries"),
        *_dates(),
        *_optional_strings("key_photo_url", "key_photo_thumbnail_url"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposition")),
    )
    op.create_table(
        "deposition_author",
        _id(),
        sa.Column("deposition_id", sa.Integer(), nullable=False),
        *_author_columns(),
        _parent("deposition_author", "deposition_id", "deposition"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposition_author")),
        sa.UniqueConstraint("deposition_id", "name", name=op.f("uq_deposition_author_deposition_id_name")),
    )
    op.create_index(op.f("ix_deposition_author_deposition_id"), "deposition_author", ["deposition_id"])
    op.create_table(
        "deposition_type",
        _id(),
        sa.Column("deposition_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(), nullable=True),
        _parent("deposition_type", "deposition_id", "deposition"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposition_type")),
        sa.UniqueConstraint("deposition_id", "type", name=op.f("uq_deposition_type_deposition_id_type")),
    )
    op.create_index(op.f("ix_deposition_type_deposition_id"), "deposition_type", ["deposition_id"])
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("deposition_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("organism_name", sa.String(), nullable=True),
        sa.Column("organism_taxid", sa.Integer(), nullable=True),
        *_optional_strings(
            "tissue_name",
            "tissue_id",
            "cell_name",
            "cell_type_id",
            "cell_strain_name",
            "cell_strain_id",
            "sample_type",
            "sample_preparation",
            "grid_preparation",
            "other_setup",
            "key_photo_url",
            "key_photo_thumbnail_url",
            "cell_component_name",
            "cell_component_id",
            "assay_label",
            "assay_ontology_id",
            "development_stage_name",
            "development_stage_ontology_id",
            "disease_name",
            "disease_ontology_id",
        ),
        *_dates(),
        *_optional_strings("dataset_publications", "related_database_entries"),
        sa.Column("s3_prefix", sa.String(), nullable=False),
        sa.Column("https_prefix", sa.String(), nullable=False),
        sa.Column("file_size", sa.Float(), nullable=True),
        _parent("dataset", "deposition_id", "deposition"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset")),
    )
    op.create_index(op.f("ix_dataset_deposition_id"), "dataset", ["deposition_id"])
    op.create_table(
        "dataset_author",
        _id(),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        *_author_columns(),
        _parent("dataset_author", "dataset_id", "dataset"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_author")),
        sa.UniqueConstraint("dataset_id", "name", name=op.f("uq_dataset_author_dataset_id_name")),
    )
    op.create_index(op.f("ix_dataset_author_dataset_id"), "dataset_author", ["dataset_id"])
    op.create_table(
        "dataset_funding",
        _id(),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        *_optional_strings("funding_agency_name", "grant_id"),
        _parent("dataset_funding", "dataset_id", "dataset"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_funding")),
    )
    op.create_index(op.f("ix_dataset_funding_dataset_id"), "dataset_funding", ["dataset_id"])
    op.create_table(
        "run",
        _id(),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("s3_prefix", sa.String(), nullable=False),
        sa.Column("https_prefix", sa.String(), nullable=False),
        _parent("run", "dataset_id", "dataset"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
        sa.UniqueConstraint("dataset_id", "name", name=op.f("uq_run_dataset_id_name")),
    )
    op.create_index(op.f("ix_run_dataset_id"), "run", ["dataset_id"])
    op.create_table(
        "tomogram_voxel_spacing",
        _id(),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("voxel_spacing", sa.Float(), nullable=False),
        sa.Column("s3_prefix", sa.String(), nullable=False),
        sa.Column("https_prefix", sa.String(), nullable=False),
        _parent("tomogram_voxel_spacing", "run_id", "run"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tomogram_voxel_spacing")),
        sa.UniqueConstraint(
            "run_id", "voxel_spacing", name=op.f("uq_tomogram_voxel_spacing_run_id_voxel_spacing")
        ),
    )
    op.create_index(op.f("ix_tomogram_voxel_spacing_run_id"), "tomogram_voxel_spacing", ["run_id"])


def downgrade() -> None:
    for table in (
        "tomogram_voxel_spacing",
        "run",
        "dataset_funding",
        "dataset_author",
        "dataset",
        "deposition_type",
        "deposition_author",
        "deposition",
    ):
        op.drop_table(table)
