"""The 1024-byte MRC header: parsed once, the same way for every reader in the project."""

from __future__ import annotations

import numpy as np

from cryoet_assets.lib.storage import Bucket

HEADER_BYTES = 1024


def parse_header(raw: bytes, *, name: str) -> np.void:
    """The header record of `raw` in the file's own byte order; ValueError naming `name` if it is not MRC."""
    import mrcfile.dtypes
    import mrcfile.utils

    if len(raw) < HEADER_BYTES:
        raise ValueError(f"{name}: {len(raw)} bytes is too short for an MRC file (the header alone is 1024)")
    header = np.frombuffer(raw, dtype=mrcfile.dtypes.HEADER_DTYPE, count=1)[0]
    if header["map"] != b"MAP ":
        raise ValueError(f"{name}: not an MRC file (bytes 208-211 are {bytes(header['map'])!r}, not 'MAP ')")
    try:
        byte_order = mrcfile.utils.byte_order_from_machine_stamp(header["machst"])
    except ValueError:
        byte_order = "<"  # an unreadable stamp: little-endian, as mrcfile assumes in permissive mode
    return np.frombuffer(raw, dtype=mrcfile.dtypes.HEADER_DTYPE.newbyteorder(byte_order), count=1)[0]


def voxel_size(header: np.void) -> float:
    """Voxel size along y (Å), as the portal reads it: cella.y / my; 0.0 when the header gives none."""
    my, cell_y = int(header["my"]), float(header["cella"]["y"])
    return cell_y / my if my > 0 and np.isfinite(cell_y) and cell_y > 0 else 0.0


def header_voxel_size(bucket: Bucket, key: str) -> float:
    """Voxel size of an MRC object from its header alone; ValueError names the object."""
    with bucket.open_read(key) as stream:
        header = parse_header(stream.read(HEADER_BYTES), name=bucket.uri(key))
    value = voxel_size(header)
    if value <= 0:
        raise ValueError(
            f"{bucket.uri(key)}: the header gives no voxel size (my={int(header['my'])}, "
            f"cella.y={float(header['cella']['y'])})"
        )
    return value
