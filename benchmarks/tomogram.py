"""Tomogram standardization benchmark: MRC + OME-Zarr pyramid + key images, to a local folder.

    python benchmarks/tomogram.py --shape 500 1000 1000
    python benchmarks/tomogram.py --shape 500 1000 1000 --axes 3 2 1
    python benchmarks/tomogram.py --input some.mrc

Without --input a synthetic float32 MRC (10 Å) is generated first, in a separate process, so its
memory does not count; with --axes it is then stored with its columns, rows and sections along those
physical axes (mapc, mapr, maps), as EMDB and CCP4 maps may be. The conversion then runs exactly as
the tomogram asset runs it (`cryoet_assets.lib.tomograms.standardize`, local deposit and staging
folders), and the last line printed is one JSON object: shape, input_mb, seconds, mb_per_s and peak_rss_mb (this process's
high-water resident set size, interpreter included).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(path: Path, shape: list[int], axes: list[int]) -> None:
    code = (
        "import sys; from pathlib import Path; "
        "from cryoet_assets.lib.volume.synthetic import write_synthetic_mrc; "
        "write_synthetic_mrc(Path(sys.argv[1]), shape=tuple(int(n) for n in sys.argv[2:5]), voxel_size=10.0)"
    )
    subprocess.run([sys.executable, "-c", code, str(path), *map(str, shape)], check=True)
    if axes != [1, 2, 3]:
        subprocess.run([sys.executable, "-c", REORDER, str(path), *map(str, axes)], check=True)


# Holds the volume twice in memory, in a process of its own.
REORDER = """
import sys
import mrcfile
import numpy as np

path, axes = sys.argv[1], tuple(int(a) for a in sys.argv[2:5])
mapc, mapr, maps = axes
with mrcfile.open(path) as mrc:
    volume, voxel = np.array(mrc.data), float(mrc.voxel_size.y)
nz, ny, nx = volume.shape
stored = np.ascontiguousarray(volume.transpose(3 - maps, 3 - mapr, 3 - mapc))
del volume
with mrcfile.new_mmap(path, shape=stored.shape, mrc_mode=2, overwrite=True) as mrc:
    mrc.data[:] = stored
    header = mrc.header
    header.mapc, header.mapr, header.maps = axes
    header.mx, header.my, header.mz = nx, ny, nz  # per physical axis (MRC2014)
    mrc.voxel_size = voxel
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", nargs=3, type=int, metavar=("Z", "Y", "X"), default=[256, 512, 512])
    parser.add_argument("--axes", nargs=3, type=int, metavar=("MAPC", "MAPR", "MAPS"), default=[1, 2, 3])
    parser.add_argument("--input", type=Path, help="an existing MRC to convert instead of a synthetic one")
    parser.add_argument("--workdir", type=Path, help="where to put the deposit and output folders (default: a temp dir)")
    parser.add_argument("--voxel-spacing", type=float, default=None, help="default: the input header's voxel size")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cryoet-bench-", dir=args.workdir))
    try:
        deposit_root, output_root = work / "deposit", work / "staging"
        deposit_root.mkdir()
        source = deposit_root / "tomogram.mrc"
        if args.input:
            source.symlink_to(args.input.resolve())
        else:
            generate(source, args.shape, args.axes)
        print(json.dumps(run(deposit_root, output_root, voxel_spacing=args.voxel_spacing)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(deposit_root: Path, output_root: Path, *, voxel_spacing: float | None) -> dict:
    import numpy as np

    from cryoet_assets.lib.mrc_header import HEADER_BYTES, parse_header
    from cryoet_assets.lib.storage import open_bucket
    from cryoet_assets.lib.tomograms import standardize
    from cryoet_assets.lib.volume.sources import SUPPORTED_MODES

    deposit, output = open_bucket(str(deposit_root)), open_bucket(str(output_root))
    with open(deposit_root / "tomogram.mrc", "rb") as handle:
        header = parse_header(handle.read(HEADER_BYTES), name="tomogram.mrc")
    shape, spacing = header.shape, voxel_spacing or header.voxel_size
    nbytes = math.prod(shape) * np.dtype(SUPPORTED_MODES[int(header.fields["mode"])]).itemsize
    started = time.perf_counter()
    result = standardize(
        deposit,
        output,
        source_key="tomogram.mrc",
        dataset_id="10000",
        run_name="TS_001",
        voxel_spacing=spacing,
        tomogram_id=100,
    )
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"mrc {result.mrc_bytes / 1e6:.0f} MB, zarr {result.zarr_bytes / 1e6:.0f} MB, "
        f"key images {len(result.key_images)}, levels {[list(s.values()) for s in result.scales]}",
        file=sys.stderr,
    )
    return {
        "shape": list(shape),
        "input_mb": round(nbytes / 1e6, 1),
        "seconds": round(seconds, 2),
        "mb_per_s": round(nbytes / 1e6 / seconds, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


if __name__ == "__main__":
    main()
