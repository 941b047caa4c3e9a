"""Table models of runs and their voxel spacings (facts §5)."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cryoet_assets.lib.db.models import Base, natural_key, parent_key


class Run(Base):
    """An acquisition run of a dataset."""

    __tablename__ = "run"
    __table_args__ = (UniqueConstraint("dataset_id", "name"), natural_key("dataset_id", "name"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(Integer, parent_key("dataset.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String, nullable=False)
    s3_prefix: Mapped[str] = mapped_column(String, nullable=False)
    https_prefix: Mapped[str] = mapped_column(String, nullable=False)


class TomogramVoxelSpacing(Base):
    """A `Reconstructions/VoxelSpacing{vs:.3f}` directory of a run."""

    __tablename__ = "tomogram_voxel_spacing"
    __table_args__ = (UniqueConstraint("run_id", "voxel_spacing"), natural_key("run_id", "voxel_spacing"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, parent_key("run.id"), nullable=False, index=True)
    voxel_spacing: Mapped[float] = mapped_column(Float, nullable=False)
    s3_prefix: Mapped[str] = mapped_column(String, nullable=False)
    https_prefix: Mapped[str] = mapped_column(String, nullable=False)
