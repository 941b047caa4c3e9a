"""Tomograms and their authors.

Revision ID: 0002_tomograms
Revises: 0001_portal_core
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_tomograms"
down_revision = "0001_portal_core"
branch_labels = None
depends_on = None


def _parent(table: str, column: str, parent: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete="CASCADE"
    )


def _optional(kind: type[sa.types.TypeEngine], *names: str) -> list[sa.Column]:
    return [sa.Column(name, kind(), nullable=True) for name in names]


def _required(kind: type[sa.types.TypeEngine], *names: str) -> list[sa.Column]:
    return [sa.Column(name, kind(), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "tomogram",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alignment_id", sa.Integer(), nullable=True),
        sa.Column("deposition_id", sa.Integer(), nullable=True),
        *_required(sa.Integer, "run_id", "tomogram_voxel_spacing_id"),
        *_optional(sa.String, "name"),
        *_required(sa.Integer, "size_x", "size_y", "size_z"),
        *_required(sa.Float, "voxel_spacing"),
        *_required(sa.String, "fiducial_alignment_status", "reconstruction_method", "processing"),
        *_optional(sa.Float, "tomogram_version"),
        *_optional(sa.String, "processing_software"),
        *_required(sa.String, "reconstruction_software"),
        *_optional(sa.Boolean, "is_portal_standard", "is_author_submitted", "is_visualization_default"),
        *_optional(sa.String, "s3_omezarr_dir", "https_omezarr_dir"),
        *_optional(sa.Float, "file_size_omezarr"),
        *_optional(sa.String, "s3_mrc_file", "https_mrc_file"),
        *_optional(sa.Float, "file_size_mrc"),
        *_optional(sa.String, "scale0_dimensions", "scale1_dimensions", "scale2_dimensions"),
        *_optional(sa.Boolean, "ctf_corrected"),
        *_required(sa.Integer, "offset_x", "offset_y", "offset_z"),
        *_optional(
            sa.String,
            "key_photo_url",
            "key_photo_thumbnail_url",
            "neuroglancer_config",
            "publications",
            "related_database_entries",
        ),
        *[
            sa.Column(name, sa.DateTime(timezone=True), nullable=True)
            for name in ("deposition_date", "release_date", "last_modified_date")
        ],
        _parent("tomogram", "deposition_id", "deposition"),
        _parent("tomogram", "run_id", "run"),
        _parent("tomogram", "tomogram_voxel_spacing_id", "tomogram_voxel_spacing"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tomogram")),
    )
    for column in ("alignment_id", "deposition_id", "run_id", "tomogram_voxel_spacing_id"):
        op.create_index(op.f(f"ix_tomogram_{column}"), "tomogram", [column])
    op.create_table(
        "tomogram_author",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tomogram_id", sa.Integer(), nullable=False),
        sa.Column("author_list_order", sa.Integer(), nullable=False),
        *_optional(sa.String, "orcid", "kaggle_id"),
        sa.Column("name", sa.String(), nullable=False),
        *_optional(sa.String, "email", "affiliation_name", "affiliation_address", "affiliation_identifier"),
        *_optional(sa.Boolean, "corresponding_author_status", "primary_author_status"),
        _parent("tomogram_author", "tomogram_id", "tomogram"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tomogram_author")),
        sa.UniqueConstraint("tomogram_id", "name", name=op.f("uq_tomogram_author_tomogram_id_name")),
    )
    op.create_index(op.f("ix_tomogram_author_tomogram_id"), "tomogram_author", ["tomogram_id"])


def downgrade() -> None:
    op.drop_table("tomogram_author")
    op.drop_table("tomogram")
