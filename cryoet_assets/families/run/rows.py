"""RowSets of a run and its voxel spacings, as the portal's DB import maps them (facts §5.1)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from cryoet_assets.lib import paths
from cryoet_assets.lib.db.rows import MetadataError, https_prefix_of, s3_prefix_of
from cryoet_assets.lib.db.sync import Prune, Ref, Row, RowSet


VOXEL_SPACING_FOLDER = "VoxelSpacing"


def run_rowset(*, dataset_id: int, run_name: str, s3_prefix: str, https_prefix: str) -> RowSet:
    """The run row; its voxel spacing rows come from `voxel_spacing_rowset` once its outputs are published."""
    directory = paths.run_dir(dataset_id, run_name)
    run = {
        "dataset_id": int(dataset_id),
        "name": run_name,
        "s3_prefix": s3_prefix_of(s3_prefix, directory),
        "https_prefix": https_prefix_of(https_prefix, directory),
    }
    return RowSet(rows=[Row("run", run)])


def published_voxel_spacings(folders: Iterable[str], *, where: str) -> list[float]:
    """Voxel spacings (Å, ascending) named by the `VoxelSpacing{vs}` folders among `folders`.

    `folders` are the folder names found under a run's `Reconstructions/` (`where`, named in errors). The
    portal's DB import makes one tomogram_voxel_spacing row per such folder, parsing the spacing from its
    name (facts §5.1); folders with other names are not spacings. A `VoxelSpacing` folder whose name is not
    the normalized `VoxelSpacing{vs:.3f}` (facts §1.4) raises MetadataError naming it.
    """
    spacings = set()
    for name in folders:
        if not name.startswith(VOXEL_SPACING_FOLDER):
            continue
        value = name[len(VOXEL_SPACING_FOLDER) :]
        if not re.fullmatch(r"\d+\.\d{3}", value):
            raise MetadataError(
                f"{where}/{name}: not a voxel spacing folder: the name must be VoxelSpacing followed by the "
                "spacing in Å with 3 decimals, e.g. VoxelSpacing13.480"
            )
        spacings.add(float(value))
    return sorted(spacings)


def voxel_spacing_rowset(
    *, dataset_id: int, run_name: str, voxel_spacings: Iterable[float], s3_prefix: str, https_prefix: str
) -> RowSet:
    """tomogram_voxel_spacing rows of a run, one per spacing (Å, rounded to 3 dp like their folders).

    The run's other spacings are pruned, and their tomograms with them: pass the spacings whose folders
    hold published outputs (`published_voxel_spacings`), as the portal's DB import finds them (facts §5.1).
    """
    run_ref = Ref("run", {"dataset_id": int(dataset_id), "name": run_name})
    rows = []
    for spacing in sorted({round(float(v), 3) for v in voxel_spacings}):
        vs_directory = paths.voxel_spacing_dir(dataset_id, run_name, spacing)
        rows.append(
            Row(
                "tomogram_voxel_spacing",
                {
                    "run_id": run_ref,
                    "voxel_spacing": spacing,
                    "s3_prefix": s3_prefix_of(s3_prefix, vs_directory),
                    "https_prefix": https_prefix_of(https_prefix, vs_directory),
                },
            )
        )
    return RowSet(rows=rows, prunes=[Prune("tomogram_voxel_spacing", {"run_id": run_ref})])
