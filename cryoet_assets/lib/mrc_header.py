"""The 1024-byte MRC header: parsed once, the same way for every reader in the project.

Files are read as `mrcfile.open(..., permissive=True)` reads them, and the header's oddities that
mrcfile warns about become warnings here too (MRC2014, Cheng et al. 2015; mrcfile 1.5 `_read_header`):
a map ID whose first three bytes are `MAP` is accepted as it is (MotionCor2 writes `MAP\\0`); a file
without a map ID is still read when the rest of its header makes sense, with a warning; an unrecognised
machine stamp (old writers leave it zero) means little-endian, with a warning; and a mode that is only
valid in the other byte order means the stamp is wrong, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cryoet_assets.lib.storage import Bucket

HEADER_BYTES = 1024
# exttyp values of MRC2014 (and the gate's list, facts §4.1): only these extended headers are carried over.
EXTENDED_HEADER_TYPES = (b"CCP4", b"MRCO", b"SERI", b"AGAR", b"FEI1", b"FEI2", b"HDF5")
IDENTITY_AXES = (1, 2, 3)
MAP_ID_BYTES = slice(208, 212)


@dataclass(frozen=True)
class MrcHeader:
    """A parsed header: its fields in the file's own byte order and what was odd about it.

    `fields` keeps the file's order of things: nx, ny, nz count columns, rows and sections; the data
    block is an array of shape (nz, ny, nx) as stored. mapc, mapr, maps say which physical axis
    (1 = X, 2 = Y, 3 = Z) the columns, rows and sections run along. mx, my, mz and cella are per
    physical axis (X, Y, Z), whatever the axis map (MRC2014).
    """

    fields: np.void
    name: str
    warnings: tuple[str, ...] = ()

    @property
    def has_map_id(self) -> bool:
        """True when bytes 208-210 are 'MAP' (MRC2014 accepts 'MAP ' and the first three bytes alone)."""
        return bytes(self.fields["map"])[:3] == b"MAP"

    @property
    def file_shape(self) -> tuple[int, int, int]:
        """Shape of the data block as stored: (sections, rows, columns) = (nz, ny, nx)."""
        return int(self.fields["nz"]), int(self.fields["ny"]), int(self.fields["nx"])

    @property
    def axis_order(self) -> tuple[int, int, int]:
        """(mapc, mapr, maps); (1, 2, 3) when the header's values are not a permutation of 1, 2, 3."""
        axes = tuple(int(self.fields[key]) for key in ("mapc", "mapr", "maps"))
        return axes if sorted(axes) == [1, 2, 3] else IDENTITY_AXES

    @property
    def physical_from_file(self) -> tuple[int, int, int]:
        """Axes of the stored (section, row, column) array that give (Z, Y, X): for `ndarray.transpose`."""
        mapc, mapr, maps = self.axis_order
        file_axes = (maps, mapr, mapc)  # physical axis (1 = X, 2 = Y, 3 = Z) of stored axes 0, 1, 2
        return tuple(file_axes.index(axis) for axis in (3, 2, 1))  # type: ignore[return-value]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape (z, y, x) of the volume along its physical axes."""
        stored = self.file_shape
        return tuple(stored[axis] for axis in self.physical_from_file)  # type: ignore[return-value]

    @property
    def voxel_sizes(self) -> tuple[float, float, float]:
        """Voxel size along physical X, Y and Z (Å): cella / m per axis, 0.0 where the header gives none."""
        sizes = []
        for axis in ("x", "y", "z"):
            count, cell = int(self.fields[f"m{axis}"]), float(self.fields["cella"][axis])
            sizes.append(cell / count if count > 0 and np.isfinite(cell) and cell > 0 else 0.0)
        return sizes[0], sizes[1], sizes[2]

    @property
    def voxel_size(self) -> float:
        """Voxel size along physical Y (Å), the one the portal reads (mrcfile's `voxel_size.y`, facts §2.4)."""
        return self.voxel_sizes[1]


def parse_header(raw: bytes, *, name: str) -> MrcHeader:
    """The header of an MRC file whose first bytes are `raw`, read as mrcfile's permissive mode reads it.

    Raises ValueError naming `name` when `raw` is shorter than a header, or when it has no map ID and
    its mode, dimensions or extended header size make no sense either (then it is not an MRC file).
    """
    import mrcfile.dtypes
    import mrcfile.utils

    if len(raw) < HEADER_BYTES:
        raise ValueError(f"{name}: {len(raw)} bytes is too short for an MRC file (the header alone is 1024)")
    notes: list[str] = []
    header = np.frombuffer(raw, dtype=mrcfile.dtypes.HEADER_DTYPE, count=1)[0]
    map_id = bytes(raw[MAP_ID_BYTES])  # the field itself would drop trailing NULs
    if map_id[:3] != b"MAP":
        notes.append(f"{name}: no map ID (bytes 208-211 are {map_id!r}, not 'MAP '); read as MRC all the same")
    try:
        byte_order = mrcfile.utils.byte_order_from_machine_stamp(header["machst"])
    except ValueError:
        byte_order = "<"
        stamp = mrcfile.utils.pretty_machine_stamp(header["machst"])
        notes.append(f"{name}: unrecognised machine stamp {stamp}; read as little-endian")
    header = _with_byte_order(raw, byte_order)
    if not _known_mode(header["mode"]):
        other = _with_byte_order(raw, "<" if byte_order == ">" else ">")
        if _known_mode(other["mode"]):
            header, byte_order = other, other.dtype["mode"].byteorder
            stamp = mrcfile.utils.pretty_machine_stamp(header["machst"])
            notes.append(
                f"{name}: machine stamp {stamp} does not match the byte order of the mode field; read as "
                f"{'big' if byte_order == '>' else 'little'}-endian"
            )
    if map_id[:3] != b"MAP" and (problem := _not_a_volume(header)):
        raise ValueError(f"{name}: not an MRC file (bytes 208-211 are {map_id!r}, not 'MAP ', and {problem})")
    axes = tuple(int(header[key]) for key in ("mapc", "mapr", "maps"))
    if sorted(axes) != [1, 2, 3]:
        notes.append(
            f"{name}: mapc, mapr, maps = {axes[0]}, {axes[1]}, {axes[2]} is not an order of the axes 1, 2, 3; "
            "read in file order (as 1, 2, 3)"
        )
    return MrcHeader(fields=header, name=name, warnings=tuple(notes))


def _with_byte_order(raw: bytes, byte_order: str) -> np.void:
    import mrcfile.dtypes

    return np.frombuffer(raw, dtype=mrcfile.dtypes.HEADER_DTYPE.newbyteorder(byte_order), count=1)[0]


def _known_mode(mode) -> bool:
    import mrcfile.utils

    try:
        mrcfile.utils.dtype_from_mode(mode)
    except ValueError:
        return False
    return True


def _not_a_volume(header: np.void) -> str | None:
    """Why `header` cannot describe a data block, or None."""
    if not _known_mode(header["mode"]):
        return f"mode {int(header['mode'])} is not an MRC mode"
    dims = {key: int(header[key]) for key in ("nx", "ny", "nz")}
    if min(dims.values()) <= 0:
        return "the dimensions " + " ".join(f"{k}={v}" for k, v in dims.items()) + " are not all positive"
    if int(header["nsymbt"]) < 0:
        return f"nsymbt={int(header['nsymbt'])} is negative"
    return None


def header_voxel_size(bucket: Bucket, key: str) -> float:
    """Voxel size (Å) along physical Y of an MRC object, from its header alone; ValueError names the object.

    Physical Y whatever the file's axis order, as the standardized volume's y axis is physical Y.
    """
    with bucket.open_read(key) as stream:
        header = parse_header(stream.read(HEADER_BYTES), name=bucket.uri(key))
    value = header.voxel_size
    if value <= 0:
        raise ValueError(
            f"{bucket.uri(key)}: the header gives no voxel size (my={int(header.fields['my'])}, "
            f"cella.y={float(header.fields['cella']['y'])})"
        )
    return value
