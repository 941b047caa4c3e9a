"""The portal's bucket layout (facts §2.2): every standardized path is built here."""

from __future__ import annotations

from cryoet_assets.lib.keys import check_name

STATE_PREFIX = "_cryoet_assets"


def voxel_spacing_name(value: float) -> str:
    """Normalized voxel spacing name, e.g. 13.48 -> '13.480'."""
    return f"{round(float(value), 3):.3f}"


def deposition_dir(deposition_id: object) -> str:
    return f"depositions_metadata/{check_name(deposition_id, what='deposition id')}"


def deposition_metadata_path(deposition_id: object) -> str:
    return f"{deposition_dir(deposition_id)}/deposition_metadata.json"


def dataset_dir(dataset_id: object) -> str:
    return check_name(dataset_id, what="dataset id")


def dataset_metadata_path(dataset_id: object) -> str:
    return f"{dataset_dir(dataset_id)}/dataset_metadata.json"


def key_photo_path(parent_dir: str, name: str, extension: str) -> str:
    """`{parent}/Images/{snapshot|thumbnail}{.ext}` for deposition and dataset key photos."""
    return f"{parent_dir}/Images/{check_name(name, what='key photo name')}{extension.lower()}"


def run_dir(dataset_id: object, run_name: object) -> str:
    return f"{dataset_dir(dataset_id)}/{check_name(run_name, what='run name')}"


def run_metadata_path(dataset_id: object, run_name: object) -> str:
    return f"{run_dir(dataset_id, run_name)}/run_metadata.json"


def reconstructions_dir(dataset_id: object, run_name: object) -> str:
    return f"{run_dir(dataset_id, run_name)}/Reconstructions"


def voxel_spacing_dir(dataset_id: object, run_name: object, voxel_spacing: float) -> str:
    return f"{reconstructions_dir(dataset_id, run_name)}/VoxelSpacing{voxel_spacing_name(voxel_spacing)}"


def state_path(asset_name: str, partition_key: str | None) -> str:
    """Where the bucket IO manager keeps an asset partition's manifest (outside the portal's layout)."""
    name = check_name(asset_name, what="asset name")
    leaf = check_name(partition_key, what="partition key") if partition_key else "_unpartitioned"
    return f"{STATE_PREFIX}/{name}/{leaf}.json"


def tomogram_dir(dataset_id: object, run_name: object, voxel_spacing: float, tomogram_id: int) -> str:
    return f"{voxel_spacing_dir(dataset_id, run_name, voxel_spacing)}/Tomograms/{int(tomogram_id)}"


def tomogram_metadata_path(dataset_id: object, run_name: object, voxel_spacing: float, tomogram_id: int) -> str:
    return f"{tomogram_dir(dataset_id, run_name, voxel_spacing, tomogram_id)}/tomogram_metadata.json"


def key_image_path(dataset_id: object, run_name: object, voxel_spacing: float, tomogram_id: int, name: str) -> str:
    """`…/VoxelSpacing{vs}/Images/{tomo_id}/key-photo-{original|thumbnail|snapshot|expanded}.png`."""
    base = voxel_spacing_dir(dataset_id, run_name, voxel_spacing)
    return f"{base}/Images/{int(tomogram_id)}/key-photo-{check_name(name, what='key image name')}.png"


def neuroglancer_config_path(dataset_id: object, run_name: object, voxel_spacing: float, tomogram_id: int) -> str:
    base = voxel_spacing_dir(dataset_id, run_name, voxel_spacing)
    return f"{base}/NeuroglancerPrecompute/{int(tomogram_id)}-neuroglancer_config.json"
