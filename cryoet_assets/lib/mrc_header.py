"""Reading just the 1024-byte MRC header of an object in a bucket."""

from __future__ import annotations

import numpy as np

from cryoet_assets.lib.storage import Bucket

HEADER_BYTES = 1024


def header_voxel_size(bucket: Bucket, key: str) -> float:
    """Voxel size along y (Å) from an MRC header, as the portal reads it; ValueError names the object."""
    import mrcfile.dtypes
    import mrcfile.utils

    with bucket.open_read(key) as stream:
        data = stream.read(HEADER_BYTES)
    if len(data) < HEADER_BYTES:
        raise ValueError(f"{bucket.uri(key)}: {len(data)} bytes is too short for an MRC header")
    header = np.frombuffer(data, dtype=mrcfile.dtypes.HEADER_DTYPE, count=1)[0]
    if header["map"] != b"MAP ":
        raise ValueError(f"{bucket.uri(key)}: not an MRC file (no 'MAP ' in the header)")
    byte_order = mrcfile.utils.byte_order_from_machine_stamp(header["machst"])
    header = np.frombuffer(data, dtype=mrcfile.dtypes.HEADER_DTYPE.newbyteorder(byte_order), count=1)[0]
    my, cell_y = int(header["my"]), float(header["cella"]["y"])
    if my <= 0 or cell_y <= 0:
        raise ValueError(f"{bucket.uri(key)}: the header gives no voxel size (my={my}, cella.y={cell_y})")
    return cell_y / my
